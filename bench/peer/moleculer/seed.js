"use strict";
// Seeds the peer's SQLite file as bench/lib/seed.py seeds shop through its API: products 1..N, sku
// bench-NNNNNN, name "Bench product NNNNNN", price_cents 100 + (i * 37) % 9900, stock 1,000,000,000,
// created_at now (RFC 3339 UTC). The table is shop's (migrations/products/001_init.sql). Seeding is not
// measured.   node seed.js DB_FILE N
const Database = require("better-sqlite3");

const [file, count] = [process.argv[2], Number(process.argv[3])];
if (!file || !Number.isInteger(count) || count < 1) {
  console.error("usage: node seed.js DB_FILE N");
  process.exit(2);
}
const db = new Database(file);
db.pragma("journal_mode = WAL");
db.exec(`CREATE TABLE products (
  id          INTEGER PRIMARY KEY,
  sku         TEXT    NOT NULL UNIQUE,
  name        TEXT    NOT NULL,
  price_cents INTEGER NOT NULL CHECK (price_cents BETWEEN 0 AND 100000000),
  stock       INTEGER NOT NULL CHECK (stock >= 0),
  created_at  TEXT    NOT NULL
)`);
const insert = db.prepare("INSERT INTO products (id, sku, name, price_cents, stock, created_at) VALUES (?, ?, ?, ?, ?, ?)");
const createdAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
db.transaction(() => {
  for (let i = 1; i <= count; i++) {
    const n = String(i).padStart(6, "0");
    insert.run(i, `bench-${n}`, `Bench product ${n}`, 100 + (i * 37) % 9900, 1000000000, createdAt);
  }
})();
db.close();
console.log(JSON.stringify({ products: count }));
