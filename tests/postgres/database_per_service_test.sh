#!/usr/bin/env bash
# The database-per-service rule, enforced by a real PostgreSQL 15 server (tests/support/pg_server.sh) set up by
# split/postgres/init.sql, with the passwords given each of the three ways it reads them (psql -v, a file named by
# SHOP_PG_<ROLE>_PASSWORD_FILE, SHOP_PG_<ROLE>_PASSWORD):
#   1. each service role connects to its own database, applies its migrations there and creates, writes, reads and
#      drops its own tables; it is no superuser and can create neither databases nor roles;
#   2. no service role can connect to another's database ("permission denied for database"), nor can a role that
#      is no service; a wrong password is refused;
#   3. the second wall: with CONNECT granted by mistake, `orders` still reads nothing in `products` and creates
#      nothing there (permission denied for schema public);
#   4. init.sql again changes nothing and keeps the rules; with a password missing it stops before any change.
# Exit 77 (skipped) only when PostgreSQL cannot be installed or started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pg_test_workdir

pg_test_start
step "PostgreSQL on port $PG_SERVER_PORT as $PG_SERVER_USER"
services=(users products orders)
init_sql=$pg_tests_root/split/postgres/init.sql

# psql_as ROLE DATABASE SQL [PASSWORD]: runs SQL as ROLE in DATABASE; output (and errors) on stdout.
psql_as() {
  psql "postgresql://$1:${4:-${pg_test_password[$1]:-intruder-test-password}}@127.0.0.1:$PG_SERVER_PORT/$2" \
    -X -q -At -v ON_ERROR_STOP=1 -c "$3" 2>&1
}
# refused ROLE DATABASE SQL PATTERN [PASSWORD]: SQL fails and its error matches PATTERN.
refused() {
  local out
  if out=$(psql_as "$1" "$2" "$3" "${5:-}"); then
    fail "$1 in database $2 was allowed: $3 (answer: $out)"
  fi
  grep -q -E "$4" <<<"$out" || fail "$1 in database $2: expected an error matching '$4', got: $out"
}
# acl: the privileges init.sql sets, to compare before and after a second run.
acl() {
  psql "$PG_SERVER_URL" -X -At -c "SELECT string_agg(datname || ' ' || datdba::regrole || ' ' || coalesce(datacl::text, ''),
    '; ' ORDER BY datname) FROM pg_database WHERE datname IN ('users', 'products', 'orders')"
  psql "$PG_SERVER_URL" -X -At -c "SELECT string_agg(rolname || ' ' || rolsuper || rolcreatedb || rolcreaterole ||
    rolcanlogin || rolreplication || rolbypassrls, '; ' ORDER BY rolname) FROM pg_roles
    WHERE rolname IN ('users', 'products', 'orders')"
  for db in "${services[@]}"; do
    psql "$(service_url "$db")" -X -At -c "SELECT nspowner::regrole || ' ' || coalesce(nspacl::text, '')
      FROM pg_namespace WHERE nspname = 'public'"
  done
}

step "init.sql: passwords from psql -v (users), a file (products), the environment (orders)"
printf '%s\n' "${pg_test_password[products]}" >"$work/products-password"
SHOP_PG_PRODUCTS_PASSWORD_FILE=$work/products-password SHOP_PG_ORDERS_PASSWORD=${pg_test_password[orders]} \
  psql "$PG_SERVER_URL" -X -q -v users_password="${pg_test_password[users]}" -f "$init_sql" >"$work/init.out" 2>&1 ||
  fail "init.sql failed: $(cat "$work/init.out")"

step "each role owns its database: connects, migrates, creates, writes, reads, drops"
for role in "${services[@]}"; do
  [ "$(psql_as "$role" "$role" 'SELECT current_user, current_database()')" = "$role|$role" ] ||
    fail "$role cannot connect to its own database"
  "$pg_tests_root/migrations/postgres/apply.sh" "$(service_url "$role")" --module "$role" >/dev/null ||
    fail "$role cannot apply its migrations in its own database"
  [ "$(psql_as "$role" "$role" "CREATE TABLE probe (v text); INSERT INTO probe VALUES ('$role wrote this');
       SELECT v FROM probe; DROP TABLE probe")" = "$role wrote this" ] || fail "$role cannot use its own database"
  [ "$(psql_as "$role" "$role" "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles
       WHERE rolname = current_user")" = f ] || fail "$role is a superuser or may create databases or roles"
  refused "$role" "$role" "CREATE DATABASE ${role}_more" 'permission denied to create database'
  refused "$role" "$role" "CREATE ROLE ${role}_more" 'permission denied to create role'
done

step "no role connects to another service's database"
for role in "${services[@]}"; do
  for db in "${services[@]}"; do
    [ "$role" = "$db" ] && continue
    refused "$role" "$db" 'SELECT 1' "permission denied for database \"$db\""
  done
done
step "no role connects to the server's own databases"
for role in "${services[@]}"; do
  for db in postgres template1; do
    refused "$role" "$db" 'SELECT 1' "permission denied for database \"$db\""
  done
done
psql "$PG_SERVER_URL" -X -q -c "CREATE ROLE intruder LOGIN PASSWORD 'intruder-test-password'"
for db in "${services[@]}"; do
  refused intruder "$db" 'SELECT 1' "permission denied for database \"$db\""
done
refused orders orders 'SELECT 1' 'password authentication failed for user "orders"' wrong-password

step "with CONNECT granted by mistake, orders still reads and creates nothing in products"
psql "$PG_SERVER_URL" -X -q -c 'GRANT CONNECT ON DATABASE products TO orders'
[ "$(psql_as orders products 'SELECT current_database()')" = products ] || fail "the GRANT CONNECT did not take"
# Without USAGE on schema public its tables are not even found by name (public drops out of the search path).
refused orders products 'SELECT count(*) FROM products' 'relation "products" does not exist'
refused orders products 'SELECT count(*) FROM public.products' 'permission denied for schema public'
refused orders products 'SELECT count(*) FROM public.reservations' 'permission denied for schema public'
refused orders products 'CREATE TABLE public.planted (v text)' 'permission denied for schema public'
refused orders products 'CREATE TABLE planted (v text)' 'no schema has been selected to create in'
psql "$PG_SERVER_URL" -X -q -c 'REVOKE CONNECT ON DATABASE products FROM orders'
refused orders products 'SELECT 1' 'permission denied for database "products"'

step "init.sql again: succeeds and changes nothing"
before=$(acl)
SHOP_PG_USERS_PASSWORD=${pg_test_password[users]} SHOP_PG_PRODUCTS_PASSWORD=${pg_test_password[products]} \
  SHOP_PG_ORDERS_PASSWORD=${pg_test_password[orders]} psql "$PG_SERVER_URL" -X -q -f "$init_sql" >"$work/init.out" 2>&1 ||
  fail "init.sql failed the second time: $(cat "$work/init.out")"
after=$(acl)
[ "$before" = "$after" ] || fail "a second init.sql changed the rules:
  before: $before
  after:  $after"
for role in "${services[@]}"; do
  [ "$(psql_as "$role" "$role" 'SELECT count(*) > 0 FROM schema_migrations')" = t ] ||
    fail "$role's database lost its migrations in a second init.sql"
done

step "init.sql with a password missing stops before changing anything"
status=0
SHOP_PG_USERS_PASSWORD=changed SHOP_PG_PRODUCTS_PASSWORD=changed \
  psql "$PG_SERVER_URL" -X -q -f "$init_sql" >"$work/init.out" 2>&1 || status=$?
[ $status != 0 ] || fail "init.sql succeeded without a password for orders"
grep -q 'no password for orders' "$work/init.out" || fail "init.sql did not say which password is missing: $(cat "$work/init.out")"
[ "$(psql_as users users 'SELECT 1')" = 1 ] || fail "init.sql changed the users password before stopping"

step "passed"
