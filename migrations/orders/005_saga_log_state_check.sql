-- The saga log's state check as comparisons instead of `state IN ('running', 'compensating', 'done')`:
-- SQLite checks an IN list of three or more values through an ephemeral table, built and dropped on
-- every INSERT and UPDATE of the table (a b-tree and a zeroed page each time: two per order placed,
-- ≈10% of an order's instructions under callgrind; bench/README.md "Orders: where the time goes").
-- The same rule; SQLite cannot change a CHECK in place, so the table is rebuilt with its rows.

CREATE TABLE saga_log_new (
  saga_id    TEXT    PRIMARY KEY,  -- the order reference, also the reservation's reference in products
  saga       TEXT    NOT NULL,     -- which saga, e.g. 'place_order'
  order_id   INTEGER UNIQUE,       -- allocated at the start; null only for runs logged before migration 004
  step       TEXT    NOT NULL,     -- the step running, or the last one run
  state      TEXT    NOT NULL CHECK (state = 'running' OR state = 'compensating' OR state = 'done'),
  reason     TEXT    NOT NULL,     -- why it is compensating or how it ended
  attempts   INTEGER NOT NULL DEFAULT 0,  -- compensation attempts so far
  updated_at INTEGER NOT NULL      -- Unix seconds
) WITHOUT ROWID;
INSERT INTO saga_log_new (saga_id, saga, order_id, step, state, reason, attempts, updated_at)
SELECT saga_id, saga, order_id, step, state, reason, attempts, updated_at FROM saga_log;
DROP TABLE saga_log;
ALTER TABLE saga_log_new RENAME TO saga_log;
CREATE INDEX saga_log_by_state ON saga_log (state, updated_at);
