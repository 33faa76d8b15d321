-- The event tables every module's database has (PLATFORM.md "Events"; shop::events): the
-- transactional outbox, the inbox of events applied, and the events set aside after failing.
-- Listed in each module's shop_embed_migrations as shared/002_events.sql.

CREATE TABLE IF NOT EXISTS outbox (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- publication order
  id           TEXT    NOT NULL UNIQUE,
  source       TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  time         TEXT    NOT NULL,
  data         TEXT    NOT NULL,
  published_at TEXT                                -- null until the broker accepted it
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS inbox (
  consumer   TEXT NOT NULL,
  event_id   TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
  consumer     TEXT    NOT NULL,
  event_id     TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  payload      TEXT    NOT NULL,
  error        TEXT    NOT NULL,
  attempts     INTEGER NOT NULL,
  set_aside_at TEXT    NOT NULL,
  PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
