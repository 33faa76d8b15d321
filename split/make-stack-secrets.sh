#!/usr/bin/env bash
# Makes the secret files the Swarm stacks (split/stack.yml, split/stack-monolith.yml) turn into swarm
# secrets, once: existing files are kept, so running it again is safe and keeps the passwords.
#   split/make-stack-secrets.sh [DIR]        (DIR defaults to split/secrets, ignored by git)
#   orders          the orders service's client secret (split/make-secrets.sh)
#   pg_users, pg_products, pg_orders
#                   each service role's PostgreSQL password, in libpq's password file format
#                   (`*:*:*:*:PASSWORD`): the service reads it with `?passfile=`, the postgres image's
#                   entry point gives init.sql the password part
#   admin_password  the bootstrap admin's password (users, the single binary, Prometheus's admin-token.sh)
#   signing_key     the Ed25519 key tokens are signed with (PKCS#8 PEM), shared by every replica that issues
#                   tokens (users; the single binary), so a token from one replica is valid at the others
# DIR is 0700 and its files 0600 (swarm copies them into its store at deploy time and mounts them in the
# containers with the owner and mode the stack file gives). Passwords: 24 random bytes as hex.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/secrets}
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

"$here/make-secrets.sh" "$dir"
umask 077
for role in users products orders; do
  file="$dir/pg_$role"
  if [ ! -s "$file" ]; then
    printf '*:*:*:*:%s\n' "$(random_hex 24)" >"$file.tmp" && mv "$file.tmp" "$file"
  fi
done
if [ ! -s "$dir/admin_password" ]; then
  random_hex 24 >"$dir/admin_password.tmp" && echo >>"$dir/admin_password.tmp" && mv "$dir/admin_password.tmp" "$dir/admin_password"
fi
if [ ! -s "$dir/signing_key" ]; then
  command -v openssl >/dev/null || { echo "make-stack-secrets: openssl is needed for the signing key" >&2; exit 1; }
  openssl genpkey -algorithm ed25519 -out "$dir/signing_key.tmp" 2>/dev/null && mv "$dir/signing_key.tmp" "$dir/signing_key"
fi
chmod 600 "$dir"/*
echo "make-stack-secrets: $dir"
