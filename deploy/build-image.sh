#!/usr/bin/env bash
# Builds the `skein` image offline: `FROM scratch` plus the skein binary and
# the shared libraries it links, copied from this machine (no registry, no
# base image). Usage:
#   deploy/build-image.sh [--binary PATH] [--tag TAG]
# Without --binary it runs `cargo build --release -p skein-cli` first.
# TAG defaults to skein:latest. Prints the image's size when done.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
tag="skein:latest"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$binary" ]; then
  cargo build --release -p skein-cli
  binary="${CARGO_TARGET_DIR:-target}/release/skein"
fi
[ -x "$binary" ] || { echo "no executable at $binary" >&2; exit 2; }

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
rootfs="$context/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$context/data"
cp "$binary" "$rootfs/bin/skein"
# The dynamic loader and every library ldd names, at the same paths. glibc
# 2.34 and later carry the `files` and `dns` name services inside libc, so
# host names resolve through /etc/hosts and /etc/resolv.conf (which the
# container engine writes) without any libnss_*.so.
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
  cp -L --parents "$lib" "$rootfs/"
done
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf 'root:x:0:0::/:/bin/skein\nskein:x:10001:10001::/data:/bin/skein\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nskein:x:10001:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

docker build --quiet -t "$tag" -f deploy/Dockerfile "$context" >/dev/null
docker image inspect "$tag" --format "built $tag: {{.Size}} bytes"
