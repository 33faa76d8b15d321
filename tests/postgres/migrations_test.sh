#!/usr/bin/env bash
# The PostgreSQL migrations (migrations/postgres/, applied by migrations/postgres/apply.sh) on a real PostgreSQL 15
# server (tests/support/pg_server.sh), checked against the SQLite migrations they translate, so that the two cannot
# drift apart unnoticed:
#   1. each module's migrations, as its own role in its own database (split/postgres/init.sql), in the order of its
#      SQLite list (modules/MODULE/CMakeLists.txt), each recorded in schema_migrations; a second run applies nothing
#      and changes nothing (same rows, same tables);
#   2. the schema they make equals the one the SQLite migrations make in a SQLite file (sqlite3 CLI): tables, columns
#      (type, NOT NULL, default, primary key, assigned by the database), indexes (unique, partial, columns with their
#      collation), index names, foreign keys, the number of CHECK constraints per table, the rows a fresh database
#      holds; the only difference allowed is the one migrations/postgres/README.md documents (users_email_nocase);
#   3. the same statements succeed or fail the same way on both (CHECKs, UNIQUE, case-insensitive emails, partial
#      unique index, foreign keys);
#   4. the migrations that copy data (shared 003, products 004, orders 004) turn the same rows into the same rows;
#   5. the runner: a failing migration names itself and leaves nothing (rolled back, not recorded); a database with a
#      version the files do not know, or files out of order, are refused; two runs at once apply each migration once.
# Exit 77 (skipped) only when PostgreSQL cannot be installed or started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pg_test_workdir

need_tool sqlite3 sqlite3 || fail "the sqlite3 command-line tool is missing and could not be installed"
pg_test_start
step "PostgreSQL $(psql "$PG_SERVER_URL" -XAtc 'SHOW server_version') on port $PG_SERVER_PORT as $PG_SERVER_USER"
pg_test_init_services
apply=$pg_tests_root/migrations/postgres/apply.sh
# Indexes only the PostgreSQL schema has, each documented in migrations/postgres/README.md.
pg_only_indexes=(users_email_nocase)

# sqlite_files MODULE: the module's SQLite migrations, in order (shop_embed_migrations in its CMakeLists.txt).
sqlite_files() {
  local call file
  call=$(tr '\n' ' ' <"$pg_tests_root/modules/$1/CMakeLists.txt" | grep -o 'shop_embed_migrations([^)]*)')
  for file in ${call#*FILES}; do
    file=${file%)}
    case "$file" in
      shared/*) echo "migrations/$file" ;;
      *) echo "migrations/$1/$file" ;;
    esac
  done
}
# The PostgreSQL translation of a SQLite migration: the same path under migrations/postgres/.
pg_file() { echo "${1/#migrations\//migrations/postgres/}"; }

# sqlite_apply DB FILE...: as modules/sql/src/migrations.cpp applies them: in order, each in a transaction.
sqlite_apply() {
  local db=$1 file
  shift
  for file in "$@"; do
    sqlite3 -bail "$db" "PRAGMA foreign_keys=ON;" "BEGIN;" ".read $pg_tests_root/$file" "COMMIT;" ||
      fail "SQLite migration $file failed"
  done
}
sq() { sqlite3 -bail "$1" "PRAGMA foreign_keys=ON;" "$2" >/dev/null; }
pg() { psql "$1" -X -q -v ON_ERROR_STOP=1 "${@:2}"; }

# schema_facts SQLITE_DB URL: both schemas as lines (schema_sqlite.sql, schema_postgres.sql), the CHECK constraints
# per table and the rows per table; into $work/sqlite.facts and $work/pg.facts.
schema_facts() {
  local db=$1 url=$2 table
  sqlite3 -bail "$db" <"$here/schema_sqlite.sql" >"$work/sqlite.facts"
  pg "$url" -At -F '|' -f "$here/schema_postgres.sql" >"$work/pg.facts"
  for table in $(sqlite3 "$db" "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
                                AND name <> 'schema_migrations' ORDER BY name"); do
    # CHECK constraints as written in the table's SQL, comments stripped.
    echo "check|$table|$(sqlite3 "$db" "SELECT sql FROM sqlite_schema WHERE name = '$table'" | sed 's/--.*$//' |
      grep -o -i -E '\bCHECK *\(' | wc -l)" >>"$work/sqlite.facts"
    echo "rows|$table|$(sqlite3 "$db" "SELECT count(*) FROM \"$table\"")" >>"$work/sqlite.facts"
  done
  pg "$url" -At -F '|' -c "SELECT 'check', c.relname, count(con.oid) FROM pg_class c
      LEFT JOIN pg_constraint con ON con.conrelid = c.oid AND con.contype = 'c'
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
      GROUP BY c.relname ORDER BY c.relname" >>"$work/pg.facts"
  for table in $(pg "$url" -At -c "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
                                   AND relkind = 'r' AND relname <> 'schema_migrations' ORDER BY relname"); do
    echo "rows|$table|$(pg "$url" -At -c "SELECT count(*) FROM \"$table\"")" >>"$work/pg.facts"
  done
  LC_ALL=C sort -o "$work/sqlite.facts" "$work/sqlite.facts"
  LC_ALL=C sort -o "$work/pg.facts" "$work/pg.facts"
}

# same_rows SQLITE_DB URL QUERY: the query's rows are the same on both.
same_rows() {
  sqlite3 -bail "$1" "$3" >"$work/sqlite.rows"
  pg "$2" -At -F '|' -c "$3" >"$work/pg.rows"
  diff -u --label "SQLite: $3" --label "PostgreSQL: $3" "$work/sqlite.rows" "$work/pg.rows" ||
    fail "the query above gives other rows on PostgreSQL"
}

for module in users products orders; do
  url=$(service_url "$module")
  mapfile -t files < <(sqlite_files "$module")
  [ ${#files[@]} -gt 0 ] || fail "no migrations listed in modules/$module/CMakeLists.txt"
  expected_names=()
  for file in "${files[@]}"; do expected_names+=("$(pg_file "$file")"); done

  step "$module: apply ${#files[@]} migrations as role $module in database $module"
  "$apply" "$url" --module "$module" >"$work/first.out" || fail "$module: apply.sh failed"
  printf 'applied %s\n' "${expected_names[@]}" | diff -u - "$work/first.out" || fail "$module: first run's output"
  pg "$url" -At -F '|' -c 'SELECT version, name FROM schema_migrations ORDER BY version' >"$work/recorded"
  for i in "${!files[@]}"; do
    base=$(basename "${files[$i]}")
    echo "$((10#${base%%_*}))|${expected_names[$i]}"
  done | diff -u - "$work/recorded" || fail "$module: schema_migrations does not record each migration once"
  state_query="SELECT (SELECT string_agg(version || ' ' || name || ' ' || applied_at, ', ' ORDER BY version)
                       FROM schema_migrations),
                      (SELECT string_agg(relname || ' ' || oid, ', ' ORDER BY relname) FROM pg_class
                       WHERE relnamespace = 'public'::regnamespace)"
  before=$(pg "$url" -At -c "$state_query")

  step "$module: apply again: nothing applied, nothing changed"
  "$apply" "$url" --module "$module" >"$work/second.out" || fail "$module: the second run failed"
  printf 'already applied %s\n' "${expected_names[@]}" | diff -u - "$work/second.out" ||
    fail "$module: the second run applied something"
  after=$(pg "$url" -At -c "$state_query")
  [ "$before" = "$after" ] || fail "$module: the second run changed schema_migrations or recreated a table:
  before: $before
  after:  $after"
  [ "$(pg "$url" -At -c 'SELECT datcollate || datctype FROM pg_database WHERE datname = current_database()')" = CC ] ||
    fail "$module: database $module is not in locale C (split/postgres/init.sql)"

  step "$module: the schema equals the one the SQLite migrations make"
  sqlite_apply "$work/$module.db" "${files[@]}"
  schema_facts "$work/$module.db" "$url"
  for index in "${pg_only_indexes[@]}"; do
    if grep -q -x "named-index|$index" "$work/pg.facts"; then
      sed -i "/^named-index|$index\$/d" "$work/pg.facts"
    elif [ "$module" = users ]; then
      fail "index $index, documented in migrations/postgres/README.md, is not in the PostgreSQL schema"
    fi
  done
  diff -u --label "SQLite $module" --label "PostgreSQL $module" "$work/sqlite.facts" "$work/pg.facts" ||
    fail "$module: the PostgreSQL schema differs from SQLite's (lines above: - SQLite only, + PostgreSQL only)"
  same_rows "$work/$module.db" "$url" "SELECT destination, last_seq FROM outbox_cursors ORDER BY destination"
done

# Each line: ok|SQL or fail|SQL. Run one by one (each its own transaction) on the migrated databases of both.
step "the same statements succeed or fail alike on both"
check_outcomes() {
  local module=$1 url expected sql got_sqlite got_pg
  url=$(service_url "$module")
  while IFS='|' read -r expected sql; do
    [ -n "$sql" ] || continue
    got_sqlite=ok got_pg=ok
    sq "$work/$module.db" "$sql" 2>/dev/null || got_sqlite=fail
    pg "$url" -c "$sql" >/dev/null 2>&1 || got_pg=fail
    if [ "$got_sqlite" != "$expected" ] || [ "$got_pg" != "$expected" ]; then
      fail "$module: expected $expected, SQLite: $got_sqlite, PostgreSQL: $got_pg: $sql"
    fi
  done
}
check_outcomes users <<'EOF'
ok|INSERT INTO users (email, name, role, password_hash, created_at) VALUES ('ann@example.com', 'Ann', 'customer', 'h', '2024-05-01T10:00:00Z')
fail|INSERT INTO users (email, name, role, password_hash, created_at) VALUES ('ANN@Example.COM', 'Ann', 'customer', 'h', '2024-05-01T10:00:00Z')
ok|INSERT INTO users (email, name, role, password_hash, created_at) VALUES ('émile@example.com', 'E', 'customer', 'h', '2024-05-01T10:00:00Z')
ok|INSERT INTO users (email, name, role, password_hash, created_at) VALUES ('Émile@example.com', 'E', 'customer', 'h', '2024-05-01T10:00:00Z')
fail|INSERT INTO users (email, name, role, password_hash, created_at) VALUES ('root@example.com', 'R', 'root', 'h', '2024-05-01T10:00:00Z')
fail|INSERT INTO users (email, name, role, password_hash, created_at) VALUES ('nn@example.com', NULL, 'customer', 'h', '2024-05-01T10:00:00Z')
fail|INSERT INTO outbox (id, source, type, time) VALUES ('e1', 'users', 't', '2024-05-01T10:00:00Z')
ok|INSERT INTO inbox (consumer, event_id, applied_at) VALUES ('c', 'e1', '2024-05-01T10:00:00Z')
fail|INSERT INTO inbox (consumer, event_id, applied_at) VALUES ('c', 'e1', '2024-05-01T10:00:01Z')
EOF
check_outcomes products <<'EOF'
ok|INSERT INTO products (sku, name, price_cents, stock, created_at) VALUES ('mug-1', 'Mug', 1200, 10, '2024-05-01T10:00:00Z')
fail|INSERT INTO products (sku, name, price_cents, stock, created_at) VALUES ('mug-1', 'Mug again', 1200, 10, '2024-05-01T10:00:00Z')
fail|INSERT INTO products (sku, name, price_cents, stock, created_at) VALUES ('neg', 'N', -1, 10, '2024-05-01T10:00:00Z')
fail|INSERT INTO products (sku, name, price_cents, stock, created_at) VALUES ('big', 'B', 100000001, 10, '2024-05-01T10:00:00Z')
ok|INSERT INTO products (sku, name, price_cents, stock, created_at) VALUES ('max', 'M', 100000000, 0, '2024-05-01T10:00:00Z')
fail|UPDATE products SET stock = stock - 11 WHERE sku = 'mug-1'
ok|INSERT INTO reservations (order_ref, state, created_at, updated_at, order_id) VALUES ('r1', 'reserved', 't', 't', 1)
fail|INSERT INTO reservations (order_ref, state, created_at, updated_at, order_id) VALUES ('r2', 'reserved', 't', 't', 1)
ok|INSERT INTO reservations (order_ref, state, created_at, updated_at, order_id) VALUES ('r3', 'reserved', 't', 't', NULL)
ok|INSERT INTO reservations (order_ref, state, created_at, updated_at, order_id) VALUES ('r4', 'released', 't', 't', NULL)
fail|INSERT INTO reservations (order_ref, state, created_at, updated_at) VALUES ('r5', 'held', 't', 't')
ok|INSERT INTO reservation_lines (order_ref, line_no, product_id, quantity, unit_price_cents) VALUES ('r1', 1, 1, 2, 1200)
fail|INSERT INTO reservation_lines (order_ref, line_no, product_id, quantity, unit_price_cents) VALUES ('r1', 2, 999, 2, 1200)
fail|INSERT INTO reservation_lines (order_ref, line_no, product_id, quantity, unit_price_cents) VALUES ('nope', 1, 1, 2, 1200)
fail|INSERT INTO reservation_lines (order_ref, line_no, product_id, quantity, unit_price_cents) VALUES ('r1', 3, 1, 0, 1200)
fail|DELETE FROM products WHERE sku = 'mug-1'
EOF
check_outcomes orders <<'EOF'
ok|INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES (5, 1, 'confirmed', 2400, 'o-5', '2024-05-01T10:00:00Z')
fail|INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES (6, 1, 'shipped', 2400, 'o-6', '2024-05-01T10:00:00Z')
fail|INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES (7, 0, 'confirmed', 2400, 'o-7', '2024-05-01T10:00:00Z')
fail|INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES (8, 1, 'confirmed', 2400, 'o-5', '2024-05-01T10:00:00Z')
ok|INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) VALUES (5, 1, 3, 2, 1200)
fail|INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) VALUES (999, 1, 3, 2, 1200)
fail|INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) VALUES (5, 1, 3, 2, 1200)
ok|INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, created_at) VALUES (1, 'k1', '3x2', 'in_progress', 1714557600)
ok|INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, order_id, created_at) VALUES (1, 'k2', '3x2', 'done', 5, 1714557600)
ok|INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, error_code, error_detail, created_at) VALUES (1, 'k3', '3x2', 'done', 'insufficient_stock', 'd', 1714557600)
fail|INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, created_at) VALUES (1, 'k4', '3x2', 'done', 1714557600)
fail|INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, order_id, error_code, created_at) VALUES (1, 'k5', '3x2', 'done', 5, 'e', 1714557600)
fail|INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, order_id, created_at) VALUES (1, 'k6', '3x2', 'done', 998, 1714557600)
ok|INSERT INTO saga_log (saga_id, saga, order_id, step, state, reason, updated_at) VALUES ('o-5', 'place_order', 5, 'reserve_stock', 'running', 'started', 1714557600)
fail|INSERT INTO saga_log (saga_id, saga, order_id, step, state, reason, updated_at) VALUES ('o-9', 'place_order', 5, 'reserve_stock', 'running', 'started', 1714557600)
fail|INSERT INTO saga_log (saga_id, saga, order_id, step, state, reason, updated_at) VALUES ('o-10', 'place_order', 10, 'reserve_stock', 'paused', 'started', 1714557600)
EOF
same_rows "$work/orders.db" "$(service_url orders)" "SELECT saga_id, attempts FROM saga_log ORDER BY saga_id"

# Databases at an older version, holding rows, migrated the rest of the way on both.
step "migrations that copy data turn the same rows into the same rows"
seeded_db() {  # seeded_db NAME OWNER: a fresh database as init.sql makes them; prints its URL
  pg "$PG_SERVER_URL" -c "CREATE DATABASE $1 OWNER $2 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
  service_url "$2" "$1"
}
# migrate_both SQLITE_DB URL FROM FILE...: the SQLite files from index FROM on (the earlier ones were applied), and
# all their PostgreSQL translations, as a program applies its whole list (apply.sh skips those recorded).
migrate_both() {
  local db=$1 url=$2 from=$3 file pg_files=()
  shift 3
  local all=("$@")
  sqlite_apply "$db" "${all[@]:$from}"
  for file in "$@"; do pg_files+=("$pg_tests_root/$(pg_file "$file")"); done
  "$apply" "$url" "${pg_files[@]}" >/dev/null || fail "apply.sh ${pg_files[*]} failed"
}
seed_both() {  # seed_both SQLITE_DB URL SQL
  sq "$1" "$3" || fail "seeding SQLite: $3"
  pg "$2" -c "$3" >/dev/null || fail "seeding PostgreSQL: $3"
}

mapfile -t files < <(sqlite_files users)
url=$(seeded_db users_seeded users)
migrate_both "$work/users_seeded.db" "$url" 0 "${files[@]:0:2}"
seed_both "$work/users_seeded.db" "$url" "INSERT INTO outbox (id, source, type, time, data, published_at) VALUES
  ('e1', 'users', 'user_registered', '2024-05-01T10:00:00.000Z', '{\"id\":1}', '2024-05-01T10:00:01Z'),
  ('e2', 'users', 'user_registered', '2024-05-01T10:00:02.000Z', '{\"id\":2}', '2024-05-01T10:00:03Z'),
  ('e3', 'users', 'user_registered', '2024-05-01T10:00:04.000Z', '{\"id\":3}', NULL)"
migrate_both "$work/users_seeded.db" "$url" 2 "${files[@]}"
same_rows "$work/users_seeded.db" "$url" "SELECT seq, id, source, type, time, data FROM outbox ORDER BY seq"
same_rows "$work/users_seeded.db" "$url" "SELECT destination, last_seq FROM outbox_cursors ORDER BY destination"
# No seq is reused after the rebuild (SQLite) or the ALTER TABLE (PostgreSQL): the next event comes after e3.
seed_both "$work/users_seeded.db" "$url" "INSERT INTO outbox (id, source, type, time, data) VALUES
  ('e4', 'users', 'user_registered', '2024-05-01T10:00:05.000Z', '{}')"
same_rows "$work/users_seeded.db" "$url" "SELECT seq, id FROM outbox ORDER BY seq"

mapfile -t files < <(sqlite_files products)
url=$(seeded_db products_seeded products)
migrate_both "$work/products_seeded.db" "$url" 0 "${files[@]:0:3}"
seed_both "$work/products_seeded.db" "$url" "INSERT INTO products (sku, name, price_cents, stock, created_at) VALUES
  ('mug-1', 'Mug', 1200, 8, '2024-05-01T10:00:00Z');
INSERT INTO reservations (order_ref, state, created_at, updated_at) VALUES
  ('r1', 'reserved', '2024-05-01T10:00:00Z', '2024-05-01T10:00:00Z'),
  ('r2', 'released', '2024-05-01T10:00:00Z', '2024-05-01T10:00:09Z');
INSERT INTO reservation_lines (order_ref, line_no, product_id, quantity, unit_price_cents) VALUES ('r1', 1, 1, 2, 1200)"
migrate_both "$work/products_seeded.db" "$url" 3 "${files[@]}"
same_rows "$work/products_seeded.db" "$url" \
  "SELECT order_ref, state, created_at, updated_at, coalesce(order_id, -1) FROM reservations ORDER BY order_ref"
same_rows "$work/products_seeded.db" "$url" "SELECT * FROM reservation_lines ORDER BY order_ref, line_no"

mapfile -t files < <(sqlite_files orders)
url=$(seeded_db orders_seeded orders)
migrate_both "$work/orders_seeded.db" "$url" 0 "${files[@]:0:3}"
seed_both "$work/orders_seeded.db" "$url" "INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES
  (1, 7, 'confirmed', 2400, 'ref-a', '2024-05-01T10:00:00Z'),
  (2, 7, 'cancelled', 1200, 'ref-b', '2024-05-01T10:01:00Z');
INSERT INTO sagas (order_ref, state, reason, attempts, updated_at) VALUES
  ('ref-a', 'done', 'completed', 0, 1714557600),
  ('ref-b', 'done', 'cancelled', 1, 1714557660),
  ('ref-c', 'reserving', 'started', 0, 1714557720),
  ('ref-d', 'release_pending', 'reserve timed out', 3, 1714557780),
  ('ref-e', 'done', 'released', 2, 1714557840)"
migrate_both "$work/orders_seeded.db" "$url" 3 "${files[@]}"
same_rows "$work/orders_seeded.db" "$url" "SELECT * FROM saga_log ORDER BY saga_id"
[ "$(pg "$url" -At -c "SELECT to_regclass('sagas') IS NULL")" = t ] || fail "orders 004 left table sagas behind"

step "apply.sh: a failing migration names itself and leaves nothing behind"
pg "$PG_SERVER_URL" -c "CREATE DATABASE runner_checks" >/dev/null
runner_url="postgresql://postgres:$PG_SERVER_PASSWORD@127.0.0.1:$PG_SERVER_PORT/runner_checks"
mkdir -p "$work/set"
echo 'CREATE TABLE a (x bigint);' >"$work/set/001_a.sql"
printf 'CREATE TABLE b (x bigint);\nSELECT no_such_column FROM a;\n' >"$work/set/002_b.sql"
status=0
"$apply" "$runner_url" "$work/set/001_a.sql" "$work/set/002_b.sql" >"$work/runner.out" 2>&1 || status=$?
cat "$work/runner.out"
[ $status = 1 ] || fail "apply.sh exited $status for a failing migration (expected 1)"
grep -q "migration $work/set/002_b.sql failed; rolled back, not recorded" "$work/runner.out" ||
  fail "apply.sh did not name the failing migration"
grep -q 'no_such_column' "$work/runner.out" || fail "apply.sh did not pass on the server's error"
[ "$(pg "$runner_url" -At -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" = 1 ] ||
  fail "schema_migrations should hold version 1 only"
[ "$(pg "$runner_url" -At -c "SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NULL")" = 't|t' ] ||
  fail "the failed migration's table b should have been rolled back (and a kept)"

step "apply.sh: files out of order, or a database newer than the files, are refused"
status=0
"$apply" "$runner_url" "$work/set/002_b.sql" "$work/set/001_a.sql" 2>"$work/runner.err" || status=$?
[ $status = 1 ] && grep -q 'out of order' "$work/runner.err" || fail "files out of order were not refused: $(cat "$work/runner.err")"
pg "$runner_url" -c "INSERT INTO schema_migrations (version, name) VALUES (99, 'migrations/postgres/x/099_newer.sql')"
status=0
"$apply" "$runner_url" "$work/set/001_a.sql" 2>"$work/runner.err" || status=$?
[ $status = 1 ] && grep -q 'version 99) that these files do not know' "$work/runner.err" ||
  fail "a database newer than the files was not refused: $(cat "$work/runner.err")"

step "apply.sh: two runs at once apply each migration once"
pg "$PG_SERVER_URL" -c "CREATE DATABASE concurrent OWNER orders TEMPLATE template0 LOCALE 'C'" >/dev/null
url=$(service_url orders concurrent)
"$apply" "$url" --module orders >"$work/run1.out" 2>&1 &
run1=$!
"$apply" "$url" --module orders >"$work/run2.out" 2>&1 &
run2=$!
wait $run1 || fail "the first of two concurrent runs failed: $(cat "$work/run1.out")"
wait $run2 || fail "the second of two concurrent runs failed: $(cat "$work/run2.out")"
applied=$(cat "$work/run1.out" "$work/run2.out" | grep -c '^applied ' || true)
mapfile -t files < <(sqlite_files orders)
[ "$applied" = ${#files[@]} ] || fail "two concurrent runs applied $applied migrations (expected ${#files[@]}):
$(cat "$work/run1.out" "$work/run2.out")"
[ "$(pg "$url" -At -c 'SELECT count(*) FROM schema_migrations')" = ${#files[@]} ] || fail "concurrent runs: schema_migrations"

step "passed"
