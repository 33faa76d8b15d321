-- PostgreSQL 15 version of migrations/orders/005_saga_log_state_check.sql: the same rule on saga_log.state,
-- written as comparisons as there. The SQLite migration exists for SQLite's sake (it checks an IN list of
-- three values through a temporary b-tree on every write); PostgreSQL checks either form in place, so the
-- table is not rebuilt: the column's CHECK is replaced, which keeps the rows and the index.

ALTER TABLE saga_log DROP CONSTRAINT saga_log_state_check;
ALTER TABLE saga_log ADD CONSTRAINT saga_log_state_check
  CHECK (state = 'running' OR state = 'compensating' OR state = 'done');
