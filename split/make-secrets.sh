#!/usr/bin/env bash
# Makes the service client secrets of the split layout, once: one file per calling service, named
# after it and holding 32 random bytes as hex. Existing files are kept, so running it again is safe.
#   split/make-secrets.sh [--containers] [DIR]      (DIR defaults to split/secrets)
# The users service reads the whole directory (--service-credentials-dir); each caller reads its own
# file (SHOP_SERVICE_SECRET_FILE). DIR is made 0700 and the files 0600. With --containers the files
# are 0644 instead: docker compose bind-mounts them as secrets into containers that run as the
# non-root user `shop`, which must read them; on the host the 0700 directory still keeps them private.
set -euo pipefail

mode=600 dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --containers) mode=644; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make-secrets: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || dir="$(cd "$(dirname "$0")" && pwd)/secrets"

# The services that call others' internal routes (products allows "orders").
clients=(orders)

umask 077
mkdir -p "$dir"
chmod 700 "$dir"
for client in "${clients[@]}"; do
  file="$dir/$client"
  if [ ! -s "$file" ]; then
    # od is in coreutils: no openssl needed.
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    [ ${#secret} -eq 64 ] || { echo "make-secrets: could not read 32 random bytes" >&2; exit 1; }
    printf '%s\n' "$secret" >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  chmod "$mode" "$file"
done
