-- The schema of a SQLite database, one line per fact, in the shape schema_postgres.sql prints PostgreSQL's
-- (migrations_test.sh compares the two). Not here: schema_migrations (each dialect's own), CHECK constraints
-- (counted by migrations_test.sh from the tables' SQL).
--   column|TABLE|POSITION|NAME|TYPE|NOT NULL|DEFAULT|POSITION IN PRIMARY KEY|auto (the database assigns it)
--   index|TABLE|UNIQUE|PARTIAL|COLUMN/COLLATION,...|PREDICATE      (every index but the primary key's)
--   named-index|NAME                                                (indexes made by CREATE INDEX)
--   fk|TABLE|COLUMNS->TABLE(COLUMNS)|ON UPDATE|ON DELETE
-- INTEGER is int64 (SQLite's integers are 64-bit). A primary key column is NOT NULL unless it is the rowid table's
-- non-INTEGER key (SQLite lets those hold NULL); the one INTEGER PRIMARY KEY of a rowid table is the rowid: auto.
.headers off
.mode list
.separator |
WITH tables AS (
  SELECT m.name,
         EXISTS (SELECT 1 FROM pragma_index_list(m.name) WHERE origin = 'pk') AS without_rowid,
         (SELECT count(*) FROM pragma_table_info(m.name) WHERE pk > 0) AS pk_columns
  FROM sqlite_schema m
  WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND m.name <> 'schema_migrations'
)
SELECT 'column', t.name, c.cid, c.name,
       CASE upper(c.type) WHEN 'INTEGER' THEN 'int64' ELSE lower(c.type) END,
       CASE WHEN c."notnull" OR (c.pk > 0 AND (t.without_rowid OR upper(c.type) = 'INTEGER')) THEN 1 ELSE 0 END,
       coalesce(c.dflt_value, ''), c.pk,
       CASE WHEN c.pk = 1 AND t.pk_columns = 1 AND upper(c.type) = 'INTEGER' AND NOT t.without_rowid THEN 'auto'
            ELSE '' END
FROM tables t, pragma_table_info(t.name) c
ORDER BY t.name, c.cid;

SELECT 'index', m.name, i."unique", i.partial,
       (SELECT group_concat(coalesce(x.name, '<expression>') || '/' || upper(x.coll) ||
                            CASE x.desc WHEN 1 THEN ' desc' ELSE '' END, ',')
        FROM (SELECT * FROM pragma_index_xinfo(i.name) WHERE key = 1 ORDER BY seqno) x),
       CASE WHEN i.partial THEN (SELECT trim(substr(s.sql, instr(upper(s.sql), ' WHERE ') + 7))
                                 FROM sqlite_schema s WHERE s.type = 'index' AND s.name = i.name) ELSE '' END
FROM sqlite_schema m, pragma_index_list(m.name) i
WHERE m.type = 'table' AND m.name <> 'schema_migrations' AND i.origin <> 'pk'
ORDER BY 1, 2, 3, 4, 5, 6;

SELECT 'named-index', i.name
FROM sqlite_schema m, pragma_index_list(m.name) i
WHERE m.type = 'table' AND m.name <> 'schema_migrations' AND i.origin = 'c'
ORDER BY 2;

SELECT 'fk', name, cols, on_update, on_delete FROM (
  SELECT m.name, f.id, group_concat(f."from", ',') || '->' || f."table" || '(' || group_concat(f."to", ',') || ')' AS cols,
         f.on_update, f.on_delete
  FROM sqlite_schema m, pragma_foreign_key_list(m.name) f  -- rows come in id, seq order
  WHERE m.type = 'table' AND m.name <> 'schema_migrations'
  GROUP BY m.name, f.id)
ORDER BY 1, 2, 3;
