#!/usr/bin/env bash
# Free-threaded CPython 3.13 ("3.13t": the GIL off) built from Debian trixie's upstream source
# tarball, as no binary of it exists for this Debian. Build dependencies come from apt.
# Usage: tools/install-python3.13t.sh [PREFIX]   (default /opt/python3.13t; 2-4 minutes on 2 cores)
# The interpreter is PREFIX/bin/python3.13t. Idempotent: quick when it is already there.
set -euo pipefail
PREFIX=${1:-/opt/python3.13t}
SUITE=${GILWISE_DEBIAN_SOURCE_SUITE:-trixie}
PY=$PREFIX/bin/python3.13t
HERE=$(cd "$(dirname "$0")" && pwd)
case $(basename "$PREFIX") in  # it is emptied before a fresh install
  *python*) ;;
  *) echo "PREFIX must be a folder of its own, named like python3.x: $PREFIX" >&2; exit 2 ;;
esac
BUILD_DEPS=(build-essential pkg-config libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
            libsqlite3-dev libreadline-dev libncurses-dev uuid-dev libgdbm-dev)

works() {
  "$PY" -c 'import sys, sysconfig, ssl, sqlite3, ctypes, zlib, lzma, ensurepip, venv
assert sys.version_info[:2] == (3, 13) and sysconfig.get_config_var("Py_GIL_DISABLED")
assert not sys._is_gil_enabled()' 2>/dev/null
}

mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.lock"
flock 9  # one build at a time; a second waits, then finds it done
if works; then echo "ready: $PY ($("$PY" -VV))"; exit 0; fi

missing=()
for pkg in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing build dependencies: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

source "$HERE/apt-private.sh"
apt_private "$SUITE" deb-src
trap 'rm -rf "$APT_DIR"' EXIT
mkdir -p "$APT_DIR/src"
cd "$APT_DIR/src"
apt-get "${APT[@]}" -qq source --download-only python3.13
tar xf python3.13_*.orig.tar.xz
cd Python-3.13.*/
log() { tail -n 40 "$APT_DIR/$1.log" >&2; exit 1; }
# No test modules (not needed here, less to build); pip comes later, into each venv.
./configure -q --disable-gil --prefix="$PREFIX" --disable-test-modules --with-ensurepip=no \
  >"$APT_DIR/configure.log" 2>&1 || log configure
make -j"$(nproc)" >"$APT_DIR/make.log" 2>&1 || log make
rm -rf "$PREFIX"  # a broken or partial copy: start clean (PREFIX checked above)
make install >"$APT_DIR/install.log" 2>&1 || log install
rm -f "$PREFIX"/lib/python3.13t/config-3.13t-*/libpython3.13t.a  # 60 MB nobody links here
works || { echo "python3.13t does not work after the build" >&2; exit 1; }
echo "ready: $PY ($("$PY" -VV))"
