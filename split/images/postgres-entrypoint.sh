#!/bin/bash
# Entry point of the `postgres` image: PostgreSQL 15 with its data in $PGDATA (a volume).
#   * First start (empty volume): initdb, C locale and UTF-8; the superuser `postgres` has no password, so
#     it connects only through the Unix socket inside this container (peer); every network connection needs
#     a password (scram-sha-256), which only the service roles have.
#   * Every start: split/postgres/init.sql on a server reachable only through the socket, then the server
#     itself. init.sql is safe to run again: it makes what is missing and sets each role's password from
#     its secret again, so replacing a secret and restarting rotates the password.
# Passwords: one secret per role, mounted as /run/secrets/pg_<role>, in the password file format libpq
# reads (`*:*:*:*:PASSWORD`, one line), the same file the service gives libpq with `?passfile=`.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
: "${PGDATA:=/data/postgres}"
secrets=${SHOP_PG_SECRETS_DIR:-/run/secrets}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "shop-postgres: initdb $PGDATA" >&2
  "$bin/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/run/postgresql'
password_encryption = scram-sha-256
max_connections = ${SHOP_PG_MAX_CONNECTIONS:-200}
CONF
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
fi

# The passwords for init.sql, as the plain first lines it reads (SHOP_PG_<ROLE>_PASSWORD_FILE), in a
# directory only this user can read, removed once init.sql ran.
plain=$(mktemp -d /run/postgresql/init.XXXXXX)
trap 'rm -rf "$plain"' EXIT
for role in users products orders; do
  file="$secrets/pg_$role"
  [ -r "$file" ] || { echo "shop-postgres: no secret $file for role $role" >&2; exit 1; }
  (umask 077; head -n 1 "$file" | cut -d: -f5- >"$plain/$role")
  export "SHOP_PG_${role^^}_PASSWORD_FILE=$plain/$role"
done

"$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
"$bin/psql" -X -q -h /run/postgresql -U postgres -d postgres -f /usr/local/share/shop/init.sql
"$bin/pg_ctl" -D "$PGDATA" -m fast -w -s stop
rm -rf "$plain"
trap - EXIT
unset SHOP_PG_USERS_PASSWORD_FILE SHOP_PG_PRODUCTS_PASSWORD_FILE SHOP_PG_ORDERS_PASSWORD_FILE
echo "shop-postgres: databases ready, starting the server" >&2
exec "$bin/postgres" -D "$PGDATA"
