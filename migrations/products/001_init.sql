-- The catalogue and the stock held for orders.

CREATE TABLE products (
  id          INTEGER PRIMARY KEY,
  sku         TEXT    NOT NULL UNIQUE,
  name        TEXT    NOT NULL,
  price_cents INTEGER NOT NULL CHECK (price_cents BETWEEN 0 AND 100000000),
  stock       INTEGER NOT NULL CHECK (stock >= 0),
  created_at  TEXT    NOT NULL  -- RFC 3339 UTC
);

-- One row per order reference ever reserved or released. A 'released' row is never reserved
-- again, so a reservation that arrives after its release (or instead of it) takes nothing.
CREATE TABLE reservations (
  order_ref  TEXT PRIMARY KEY,
  state      TEXT NOT NULL CHECK (state IN ('reserved', 'released')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- The stock a reservation holds, line by line in the order given, with the price it was taken at.
CREATE TABLE reservation_lines (
  order_ref        TEXT    NOT NULL REFERENCES reservations (order_ref),
  line_no          INTEGER NOT NULL,
  product_id       INTEGER NOT NULL REFERENCES products (id),
  quantity         INTEGER NOT NULL CHECK (quantity > 0),
  unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
  PRIMARY KEY (order_ref, line_no)
) WITHOUT ROWID;
