-- PostgreSQL 15 version of migrations/orders/004_saga_log.sql: the same statements, data copy included (a new
-- table filled from `sagas`, which is then dropped: no table rebuild, so nothing differs from SQLite here).
-- The saga log, generic over the saga's steps (declared once in modules/orders/src/service.cpp,
-- kPlaceOrderSteps): one row per run, with the step it reached. A step with a compensation is
-- logged before it runs (write-ahead), so after a crash every step that may have had an effect is
-- undone. The order id is allocated when the saga starts, so a step may hand it to another service
-- (products records it with the reservation and names it in stock_changed).
-- Replaces `sagas`, whose states named one step ('reserving', 'release_pending').

CREATE TABLE saga_log (
  saga_id    TEXT   PRIMARY KEY,  -- the order reference, also the reservation's reference in products
  saga       TEXT   NOT NULL,     -- which saga, e.g. 'place_order'
  order_id   BIGINT UNIQUE,       -- allocated at the start; null only for runs logged before this migration
  step       TEXT   NOT NULL,     -- the step running, or the last one run
  state      TEXT   NOT NULL CHECK (state IN ('running', 'compensating', 'done')),
  reason     TEXT   NOT NULL,     -- why it is compensating or how it ended
  attempts   BIGINT NOT NULL DEFAULT 0,  -- compensation attempts so far
  updated_at BIGINT NOT NULL      -- Unix seconds
);
CREATE INDEX saga_log_by_state ON saga_log (state, updated_at);

INSERT INTO saga_log (saga_id, saga, order_id, step, state, reason, attempts, updated_at)
SELECT s.order_ref, 'place_order', o.id,
       CASE WHEN o.id IS NOT NULL AND s.state = 'done' THEN 'record_order' ELSE 'reserve_stock' END,
       CASE s.state WHEN 'reserving' THEN 'running' WHEN 'release_pending' THEN 'compensating' ELSE 'done' END,
       s.reason, s.attempts, s.updated_at
FROM sagas s LEFT JOIN orders o ON o.order_ref = s.order_ref;
DROP TABLE sagas;
