-- Each destination of a module's outbox keeps its own position (like a consumer offset), so the
-- single binary can deliver in process and, independently, to NATS: one destination being down
-- never holds up the other. Rows every destination has passed are pruned after a retention.
-- Replaces outbox.published_at, which could mark only one destination.

CREATE TABLE IF NOT EXISTS outbox_cursors (
  destination TEXT    PRIMARY KEY,  -- e.g. 'in_process', 'jetstream'
  last_seq    INTEGER NOT NULL,     -- every outbox row up to this seq was accepted there
  updated_at  TEXT    NOT NULL      -- RFC 3339 UTC
) WITHOUT ROWID;
DROP INDEX IF EXISTS outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
