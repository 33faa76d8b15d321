#!/usr/bin/env bash
# Applies PostgreSQL migrations to one database by the rules modules/sql/src/migrations.cpp applies SQLite's:
# in the order given (versions strictly increasing), each in a transaction of its own together with its row in
# schema_migrations (version, name, applied_at, the same columns), skipping the versions recorded; a database that
# records a version these files do not know is refused (it is newer than they are); the first failure stops the
# run, names the migration and changes nothing (its transaction is rolled back, nothing recorded).
#   migrations/postgres/apply.sh URL --module MODULE   the module's list, in the order of its SQLite list
#                                                      (shop_embed_migrations in modules/MODULE/CMakeLists.txt)
#   migrations/postgres/apply.sh URL FILE...           these files, in this order
# e.g. migrations/postgres/apply.sh postgresql://users:PASSWORD@127.0.0.1:5432/users --module users
# (a password can also come from PGPASSWORD or ~/.pgpass instead of the URL). Run it as the service's role, in its
# own database: the role owns what it creates (split/postgres/init.sql). psql 15 must be installed.
# The name recorded is the file's path in the repository, e.g. migrations/postgres/shared/002_events.sql.
# Runs started at once against one database (instances of a service starting together) take turns on a
# transaction-level advisory lock, and each looks again inside it: the later ones find the versions recorded.
# Prints "applied NAME" or "already applied NAME" for each migration. Exit 0, or 1 with the reason on stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
psql_bin=${PSQL:-psql}
[ $# -ge 2 ] || { sed -n '6,8p' "$0" | sed 's/^# \{0,1\}/usage: /' >&2; exit 2; }
url=$1
shift

# module_files MODULE: migrations/postgres/<file> for each file of the module's SQLite list, in its order.
module_files() {
  local cmake="$root/modules/$1/CMakeLists.txt" call file
  call=$(tr '\n' ' ' <"$cmake" | grep -o 'shop_embed_migrations([^)]*)') ||
    { echo "apply.sh: no shop_embed_migrations(...) in $cmake" >&2; return 1; }
  for file in ${call#*FILES}; do
    file=${file%)}
    case "$file" in
      shared/*) echo "$root/migrations/postgres/$file" ;;
      *) echo "$root/migrations/postgres/$1/$file" ;;
    esac
  done
}

files=()
if [ "$1" = --module ]; then
  [ $# -eq 2 ] || { echo "apply.sh: --module takes one module name" >&2; exit 2; }
  mapfile -t files < <(module_files "$2")
  [ ${#files[@]} -gt 0 ] || exit 1
else
  files=("$@")
fi

versions=() names=()
previous=0
for file in "${files[@]}"; do
  [ -f "$file" ] || { echo "apply.sh: no migration file $file" >&2; exit 1; }
  base=$(basename "$file")
  [[ $base =~ ^([0-9]+)_.+\.sql$ ]] || { echo "apply.sh: migration file $file is not named NNN_description.sql" >&2; exit 1; }
  version=$((10#${BASH_REMATCH[1]}))
  if [ "$version" -le "$previous" ]; then
    echo "apply.sh: migration $file is out of order or duplicates version $version" >&2
    exit 1
  fi
  previous=$version
  name=$(realpath --relative-to="$root" "$file")
  [[ $name == ../* ]] && name=$file
  versions+=("$version")
  names+=("$name")
done

run_psql() {
  PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
    "$psql_bin" "$url" -X -q -v ON_ERROR_STOP=1 --no-psqlrc "$@"
}

# The lock key: any constant every runner uses; hashtext() of a name keeps it readable.
lock="SELECT pg_advisory_xact_lock(hashtext('shop.schema_migrations')) AS locked \gset"
run_psql <<SQL >/dev/null
BEGIN;
$lock
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    BIGINT PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);
COMMIT;
SQL

while IFS='|' read -r version name; do
  [ -n "$version" ] || continue
  known=0
  for v in "${versions[@]}"; do [ "$v" = "$version" ] && known=1; done
  if [ $known = 0 ]; then
    echo "apply.sh: database has migration $name (version $version) that these files do not know; are they older" \
      "than the database?" >&2
    exit 1
  fi
done < <(run_psql -At -c 'SELECT version, name FROM schema_migrations ORDER BY version')

for i in "${!files[@]}"; do
  if ! run_psql -v version="${versions[$i]}" -v name="${names[$i]}" -v file="${files[$i]}" <<SQL; then
BEGIN;
$lock
SELECT NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = :version) AS pending \gset
\if :pending
\i :file
INSERT INTO schema_migrations (version, name) VALUES (:version, :'name');
\echo applied :name
\else
\echo already applied :name
\endif
COMMIT;
SQL
    echo "apply.sh: migration ${names[$i]} failed; rolled back, not recorded" >&2
    exit 1
  fi
done
