-- PostgreSQL 15 version of migrations/products/004_reservation_order_id.sql (the same statements).
-- The order a reservation is for (orders allocates the id before it reserves), so the stock_changed
-- event can name it and the order_cancelled event can find the reservation to give back.
-- Null for reservations made before this migration, or by a caller that gave no order id.
ALTER TABLE reservations ADD COLUMN order_id BIGINT;
CREATE UNIQUE INDEX reservations_by_order_id ON reservations (order_id) WHERE order_id IS NOT NULL;
