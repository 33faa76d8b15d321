-- Accounts. The service stores emails trimmed and lower-cased; COLLATE NOCASE keeps the UNIQUE
-- check case-insensitive even so. password_hash is an argon2id PHC string, never the password.
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name          TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
  password_hash TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
