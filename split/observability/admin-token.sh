#!/usr/bin/env bash
# Writes an admin access token to FILE for Prometheus's discovery requests to the admin API
# (prometheus.yml: authorization.credentials_file), replacing the file atomically (mode 0600).
#   admin-token.sh --gateway URL --out FILE [--every SECONDS]
# The admin's email and password come from SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD (or
# SHOP_ADMIN_PASSWORD_FILE); they go to POST /auth/token on stdin, never on a command line.
# Tokens live auth.token_ttl_seconds (3600 s by default): with --every it stays running and writes
# a fresh token every SECONDS (e.g. 1800); Prometheus reads the file on every discovery request.
set -euo pipefail

gateway="" out="" every=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gateway) gateway=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "admin-token: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$gateway" ] && [ -n "$out" ] || { echo "admin-token: --gateway and --out are needed" >&2; exit 2; }
[ -z "$every" ] || [[ "$every" =~ ^[1-9][0-9]*$ ]] || { echo "admin-token: --every takes whole seconds" >&2; exit 2; }
if [ -n "${SHOP_ADMIN_PASSWORD_FILE:-}" ]; then
  SHOP_ADMIN_PASSWORD=$(cat "$SHOP_ADMIN_PASSWORD_FILE")
fi
[ -n "${SHOP_ADMIN_EMAIL:-}" ] && [ -n "${SHOP_ADMIN_PASSWORD:-}" ] ||
  { echo "admin-token: set SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD (or SHOP_ADMIN_PASSWORD_FILE)" >&2; exit 2; }
export SHOP_ADMIN_EMAIL SHOP_ADMIN_PASSWORD

write_token() {
  local answer token
  answer=$(python3 -c 'import json, os; print(json.dumps({"email": os.environ["SHOP_ADMIN_EMAIL"], "password": os.environ["SHOP_ADMIN_PASSWORD"]}))' |
    curl -sS --max-time 10 -X POST "$gateway/auth/token" -H 'Content-Type: application/json' --data-binary @-) || return 1
  token=$(printf '%s' "$answer" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' 2>/dev/null) ||
    { echo "admin-token: no token from $gateway/auth/token: $answer" >&2; return 1; }
  (umask 077; printf '%s\n' "$token" >"$out.tmp")
  mv -f "$out.tmp" "$out"
}

if [ -z "$every" ]; then
  write_token
  exit
fi
while true; do
  # A failed refresh keeps the old token (still valid for a while) and tries again sooner.
  if write_token; then sleep "$every"; else sleep 10; fi
done
