#!/bin/bash
# Entry point of the `app` image: secrets reach a process as files (/run/secrets/...), never through the
# stack file or `docker inspect`. For the one setting the shop executables read only from the environment,
# SHOP_ADMIN_PASSWORD, SHOP_ADMIN_PASSWORD_FILE names the file (its first line) instead. Everything else
# that is secret is already read from a file by the executables themselves: the database password
# (`?passfile=` in the database URL), the service client secret (SHOP_SERVICE_SECRET_FILE,
# SHOP_SERVICE_CREDENTIALS_DIR) and the token signing key (SHOP_SIGNING_KEY).
set -euo pipefail
if [ -n "${SHOP_ADMIN_PASSWORD_FILE:-}" ]; then
  [ -z "${SHOP_ADMIN_PASSWORD:-}" ] ||
    { echo "shop-entrypoint: set SHOP_ADMIN_PASSWORD or SHOP_ADMIN_PASSWORD_FILE, not both" >&2; exit 2; }
  IFS= read -r SHOP_ADMIN_PASSWORD <"$SHOP_ADMIN_PASSWORD_FILE" || [ -n "${SHOP_ADMIN_PASSWORD:-}" ] ||
    { echo "shop-entrypoint: cannot read SHOP_ADMIN_PASSWORD_FILE $SHOP_ADMIN_PASSWORD_FILE" >&2; exit 2; }
  export SHOP_ADMIN_PASSWORD
  unset SHOP_ADMIN_PASSWORD_FILE
fi
exec "$@"
