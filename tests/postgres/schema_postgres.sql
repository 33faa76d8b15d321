-- The schema of a PostgreSQL database's `public` schema in the shape schema_sqlite.sql prints SQLite's (see there):
-- bigint is int64 (integer, 32-bit, would print as `integer` and differ); an identity column is `auto`; an index
-- column's collation C or the database's default (C in the databases split/postgres/init.sql makes, which
-- migrations_test.sh checks) is SQLite's BINARY, and an index on lower(COLUMN) in collation C (ASCII case folding)
-- is SQLite's COLUMN/NOCASE. A default loses its cast ('0', not '0'::bigint), a predicate its outer parentheses.
-- Run with psql -X -At -F '|'.
SELECT 'column', c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) - 1, a.attname,
       CASE format_type(a.atttypid, a.atttypmod) WHEN 'bigint' THEN 'int64' ELSE format_type(a.atttypid, a.atttypmod) END,
       a.attnotnull::int,
       coalesce(regexp_replace(pg_get_expr(d.adbin, d.adrelid), '::[a-z ]+$', ''), ''),
       coalesce(array_position(pk.conkey, a.attnum), 0),
       CASE WHEN a.attidentity <> '' THEN 'auto' ELSE '' END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
WHERE c.relkind = 'r' AND c.relname <> 'schema_migrations'
ORDER BY 2, 3;

SELECT 'index', c.relname, i.indisunique::int, (i.indpred IS NOT NULL)::int,
       (SELECT string_agg(
                 CASE WHEN i.indkey[k - 1] <> 0
                      THEN a.attname || '/' ||
                           CASE WHEN coll.collname IS NULL OR coll.collname IN ('default', 'C') THEN 'BINARY'
                                ELSE coll.collname END
                      WHEN coll.collname = 'C' AND pg_get_indexdef(i.indexrelid, k, true) ~ '^lower\(\w+\)$'
                      THEN regexp_replace(pg_get_indexdef(i.indexrelid, k, true), '^lower\((\w+)\)$', '\1') || '/NOCASE'
                      ELSE pg_get_indexdef(i.indexrelid, k, true) || '/' || coalesce(coll.collname, '')
                 END || CASE WHEN i.indoption[k - 1] & 1 = 1 THEN ' desc' ELSE '' END,
                 ',' ORDER BY k)
        FROM generate_series(1, i.indnkeyatts) k
        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]
        LEFT JOIN pg_collation coll ON coll.oid = i.indcollation[k - 1]),
       coalesce(regexp_replace(pg_get_expr(i.indpred, i.indrelid), '^\((.*)\)$', '\1'), '')
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
WHERE NOT i.indisprimary AND c.relname <> 'schema_migrations'
ORDER BY 1, 2, 3, 4, 5, 6;

-- Indexes not made for a constraint (PRIMARY KEY, UNIQUE): those of CREATE INDEX.
SELECT 'named-index', ic.relname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
WHERE c.relname <> 'schema_migrations' AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)
ORDER BY 2;

SELECT 'fk', c.relname,
       (SELECT string_agg(a.attname, ',' ORDER BY u.k) FROM unnest(con.conkey) WITH ORDINALITY u(attnum, k)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum) || '->' || r.relname || '(' ||
       (SELECT string_agg(a.attname, ',' ORDER BY u.k) FROM unnest(con.confkey) WITH ORDINALITY u(attnum, k)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = u.attnum) || ')',
       CASE con.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END,
       CASE con.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_class r ON r.oid = con.confrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
WHERE con.contype = 'f'
ORDER BY 1, 2, 3;
