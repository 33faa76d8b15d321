-- Orders, their lines, idempotency keys and the saga log of the place/cancel flows.

CREATE TABLE orders (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL CHECK (user_id > 0),
  status       TEXT    NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
  total_cents  INTEGER NOT NULL CHECK (total_cents >= 0),
  order_ref    TEXT    NOT NULL UNIQUE,  -- the reservation held for this order in products
  created_at   TEXT    NOT NULL,         -- RFC 3339 UTC
  cancelled_at TEXT                      -- RFC 3339 UTC, set once when cancelled
);

-- A customer's orders, newest first.
CREATE INDEX orders_by_user ON orders (user_id, id);

CREATE TABLE order_items (
  order_id         INTEGER NOT NULL REFERENCES orders (id),
  line_no          INTEGER NOT NULL,
  product_id       INTEGER NOT NULL CHECK (product_id > 0),
  quantity         INTEGER NOT NULL CHECK (quantity > 0),
  unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),  -- the price when the order was placed
  PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;

-- One row per (user, Idempotency-Key). 'in_progress' while the first request runs; 'done' with
-- either the order it made or the error it got, which later requests with the key replay.
CREATE TABLE idempotency_keys (
  user_id             INTEGER NOT NULL,
  key                 TEXT    NOT NULL,
  request_fingerprint TEXT    NOT NULL,  -- the lines as "product_id x quantity", in order
  state               TEXT    NOT NULL CHECK (state IN ('in_progress', 'done')),
  order_id            INTEGER REFERENCES orders (id),
  error_code          TEXT,
  error_detail        TEXT,
  created_at          INTEGER NOT NULL,  -- Unix seconds
  PRIMARY KEY (user_id, key),
  CHECK (state = 'in_progress' OR (order_id IS NULL) <> (error_code IS NULL))
) WITHOUT ROWID;

-- The durable saga log, one row per reservation reference. 'reserving' is written before
-- products is asked to reserve; 'release_pending' means stock may be held and must be given
-- back (retried until products confirms); 'done' means nothing more is owed.
CREATE TABLE sagas (
  order_ref  TEXT    PRIMARY KEY,
  state      TEXT    NOT NULL CHECK (state IN ('reserving', 'release_pending', 'done')),
  reason     TEXT    NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,  -- release attempts so far
  updated_at INTEGER NOT NULL             -- Unix seconds
) WITHOUT ROWID;

CREATE INDEX sagas_by_state ON sagas (state, updated_at);
