-- PostgreSQL 15 version of migrations/shared/003_outbox_cursors.sql. The same final schema and the same rows, by
-- another path: SQLite rebuilds the outbox (outbox_v2, copy, drop, rename) because its ALTER TABLE cannot drop a
-- UNIQUE constraint or an indexed column; PostgreSQL alters the table in place, which keeps every row and its seq,
-- and the identity's sequence, so no seq is ever reused (what SQLite gets from "a new rowid is above the largest").
-- Each destination of a module's outbox keeps its own position (like a consumer offset), so the
-- single binary can deliver in process and, independently, to NATS: one destination being down
-- never holds up the other. Rows every destination has passed are pruned after a retention.
-- Replaces outbox.published_at, which could mark only one destination.
-- The UNIQUE index on `id` goes too (ids are 128 random bits; the index was a random-key B-tree insert in every
-- transaction that writes an event).

CREATE TABLE IF NOT EXISTS outbox_cursors (
  destination TEXT   PRIMARY KEY,  -- e.g. 'in_process', 'jetstream'
  last_seq    BIGINT NOT NULL,     -- every outbox row up to this seq was accepted there
  updated_at  TEXT   NOT NULL      -- RFC 3339 UTC
);

-- A destination created from here on starts after what the old outbox had already published.
-- The same statement as on SQLite, with the same effect: an aggregate without GROUP BY yields one row even when
-- the WHERE matches none, so a database whose outbox published nothing also gets ('jetstream', 0), the row a
-- jetstream relay inserts when it starts (events::Relay); the single binary without NATS retires it.
INSERT INTO outbox_cursors (destination, last_seq, updated_at)
SELECT 'jetstream', coalesce(max(seq), 0), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
FROM outbox WHERE published_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM outbox_cursors WHERE destination = 'jetstream')
  AND EXISTS (SELECT 1 FROM outbox WHERE published_at IS NOT NULL);
ALTER TABLE outbox DROP CONSTRAINT outbox_id_key;
DROP INDEX outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
