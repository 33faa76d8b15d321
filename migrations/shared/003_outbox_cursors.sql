-- Each destination of a module's outbox keeps its own position (like a consumer offset), so the
-- single binary can deliver in process and, independently, to NATS: one destination being down
-- never holds up the other. Rows every destination has passed are pruned after a retention.
-- Replaces outbox.published_at, which could mark only one destination.
-- The outbox is rebuilt without the UNIQUE index on `id` (ids are 128 random bits; the index was a
-- random-key B-tree insert in every transaction that writes an event) and without AUTOINCREMENT
-- (its sqlite_sequence row was one more page written by every such transaction): each page a commit
-- touches is written to the WAL and again at the checkpoint, and the order benchmark paid for both.
-- A seq is still never reused, so no cursor skips a new event: the relay never prunes the newest
-- row, and a new rowid is always above the largest.

CREATE TABLE IF NOT EXISTS outbox_cursors (
  destination TEXT    PRIMARY KEY,  -- e.g. 'in_process', 'jetstream'
  last_seq    INTEGER NOT NULL,     -- every outbox row up to this seq was accepted there
  updated_at  TEXT    NOT NULL      -- RFC 3339 UTC
) WITHOUT ROWID;

CREATE TABLE outbox_v2 (
  seq    INTEGER PRIMARY KEY,  -- publication order (the newest row is never pruned: no seq is reused)
  id     TEXT    NOT NULL,     -- the event's id (CloudEvents), unique by construction
  source TEXT    NOT NULL,
  type   TEXT    NOT NULL,
  time   TEXT    NOT NULL,
  data   TEXT    NOT NULL
);
INSERT INTO outbox_v2 (seq, id, source, type, time, data) SELECT seq, id, source, type, time, data FROM outbox;
-- A destination created from here on starts after what the old outbox had already published.
INSERT INTO outbox_cursors (destination, last_seq, updated_at)
SELECT 'jetstream', coalesce(max(seq), 0), strftime('%Y-%m-%dT%H:%M:%SZ', 'now') FROM outbox WHERE published_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM outbox_cursors WHERE destination = 'jetstream')
  AND EXISTS (SELECT 1 FROM outbox WHERE published_at IS NOT NULL);
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
