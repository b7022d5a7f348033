#!/bin/sh
# MESON wrapper for mediasoup-sys 0.6.0, whose Makefile runs "$(MESON) ..." in the crate dir.
#
# Before delegating to the pip-installed meson it makes every meson "wrap" resolvable offline:
#  * subprojects/<directory from the .wrap>/ gets a shim meson.build from ./shims/<wrap name>/
#    that repackages the static archive of the matching Debian -dev package;
#  * libsrtp2 is built from source: MS_LIBSRTP_TARBALL points at Debian's
#    libsrtp2_2.5.0.orig.tar.gz (byte-identical to the tarball the wrap pins), which is put in
#    subprojects/packagecache/ where meson verifies its checksum and builds it with OpenSSL.
# Prerequisites are checked first so that a missing one gives a clear message, not a failed
# download. `cargo xtask setup` installs all of them. See docs/building.md.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
shims="$here/shims"
SRTP_SHA256=8a43ef8e9ae2b665292591af62aa1a4ae41e468b6d98d8258f91478735da4e09

fail() {
  echo "" >&2
  echo "error: mediasoup offline build: $*" >&2
  echo "error: run \`cargo xtask setup\` (as root, or follow docs/building.md) and rebuild;" >&2
  echo "error: after fixing, \`cargo clean -p mediasoup-sys\` forces the worker to rebuild." >&2
  exit 1
}

missing=""
for h in uv.h usrsctp.h openssl/ssl.h absl/base/config.h nlohmann/json.hpp; do
  [ -f "/usr/include/$h" ] || missing="$missing $h"
done
[ -z "$missing" ] || fail "missing system headers:$missing (apt packages libuv1-dev libusrsctp-dev libssl-dev libabsl-dev nlohmann-json3-dev)"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"
[ -n "${MS_LIBSRTP_TARBALL:-}" ] || fail "MS_LIBSRTP_TARBALL is not set (run cargo from inside the workspace so .cargo/config.toml applies)"
[ -f "$MS_LIBSRTP_TARBALL" ] || fail "libsrtp source tarball not found at $MS_LIBSRTP_TARBALL"
echo "$SRTP_SHA256  $MS_LIBSRTP_TARBALL" | sha256sum -c --status - || fail "checksum mismatch for $MS_LIBSRTP_TARBALL"

if [ -d subprojects ]; then
  for wrap in subprojects/*.wrap; do
    name=$(basename "$wrap" .wrap)
    dir=$(sed -n 's/^directory *= *//p' "$wrap" | tr -d '[:space:]')
    [ -n "$dir" ] || fail "no directory= in $wrap"
    if [ "$name" = libsrtp2 ]; then
      src=$(sed -n 's/^source_filename *= *//p' "$wrap" | tr -d '[:space:]')
      [ -f "subprojects/$dir/.ms-shim" ] && rm -rf "subprojects/$dir"
      mkdir -p subprojects/packagecache
      cmp -s "$MS_LIBSRTP_TARBALL" "subprojects/packagecache/$src" || cp "$MS_LIBSRTP_TARBALL" "subprojects/packagecache/$src"
      continue
    fi
    [ -d "$shims/$name" ] || continue      # e.g. wingetopt (Windows only)
    # A real (extracted) source tree left from another build mode is replaced by the shim.
    [ -d "subprojects/$dir" ] && [ ! -f "subprojects/$dir/.ms-shim" ] && rm -rf "subprojects/$dir"
    mkdir -p "subprojects/$dir"
    for f in "$shims/$name"/* "$shims/extract-archives.py"; do
      cmp -s "$f" "subprojects/$dir/$(basename "$f")" || cp "$f" "subprojects/$dir/"
    done
    touch "subprojects/$dir/.ms-shim"
  done
fi
real="${MESON_REAL:-${MEDIASOUP_OUT_DIR:?}/pip/bin/meson}"
[ -x "$real" ] || fail "meson not found at $real (mediasoup-sys pip-installs it from PyPI; is python3-pip installed?)"
echo "meson-wrapper: $real $*" >&2
exec "$real" "$@"
