#!/usr/bin/env bash
# Makes a local debian:bookworm-slim image when the Docker engine has none, for machines that
# cannot reach an image registry: debootstrap --variant=minbase from the Debian mirror this
# machine's apt uses, then `docker import`. With a registry (or an image already there) it does
# nothing. Needs root and debootstrap.
set -euo pipefail
image=${1:-debian:bookworm-slim}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "make-base-image: $image is present" >&2
  exit 0
fi

# The mirror apt is configured with: deb822 sources first, then the one-line format.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
           awk '$1 == "deb" && $2 !~ /security/ && $3 ~ /^bookworm$/ {print $2; exit}')
fi
[ -n "$mirror" ] || { echo "make-base-image: no Debian mirror found in apt's sources" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "make-base-image: debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "make-base-image: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
# Keep images small, as the official slim image does.
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
       "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "make-base-image: made $image" >&2
