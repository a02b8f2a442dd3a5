# Sourced by the interpreter installers: apt state of our own (sources, lists, cache, status)
# for another Debian suite, on the machine's own mirror, so the machine's apt setup is untouched.
# Usage: apt_private SUITE KIND   (KIND: deb or deb-src); then: apt-get "${APT[@]}" ...
# Sets APT_DIR (a temporary folder: the caller removes it) and APT (apt-get options).

apt_private() {
  local suite=$1 kind=$2 mirror
  mirror=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | grep -v security | head -n 1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '/^deb / {print $2}' /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
  fi
  [ -n "$mirror" ] || { echo "apt-private: no Debian mirror in the apt configuration" >&2; return 1; }
  APT_DIR=$(mktemp -d /tmp/gilwise-apt.XXXXXX)
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
  echo "$kind [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
    >"$APT_DIR/sources.list"
  : >"$APT_DIR/status"
  APT=(-o Dir::Etc::SourceList="$APT_DIR/sources.list" -o Dir::Etc::SourceParts=-
       -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache"
       -o Dir::State::status="$APT_DIR/status" -o Debug::NoLocking=1
       -o APT::Sandbox::User=root)
  apt-get "${APT[@]}" -qq update
}
