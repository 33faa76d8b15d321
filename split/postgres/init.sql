-- One database and one role per service on one PostgreSQL 15 server: the database-per-service rule, enforced by
-- the server, not by convention.
--   * Role R (users, products, orders) logs in with a password and owns database R, so also its schema `public`
--     (PG 15: owned by pg_database_owner). It may not create databases or roles, and is no superuser.
--   * CONNECT and TEMPORARY on database R are revoked from PUBLIC: only R (and superusers) connect to it, so
--     `orders` cannot even open `products` ("permission denied for database products").
--   * On schema `public` PUBLIC loses USAGE too (PG 15 already withholds CREATE): a second wall, should CONNECT
--     ever be granted by mistake, a role still reads and creates nothing there.
-- Each service then applies its own migrations, as its own role, in its own database (migrations/postgres/).
--
-- Run as a superuser, with psql (it uses psql's meta-commands; the databases are created outside a transaction):
--   psql -X -f split/postgres/init.sql "postgresql://postgres@HOST:PORT/postgres"
-- or as the official postgres image's init script (/docker-entrypoint-initdb.d/init.sql, run once by psql on
-- an empty data directory). Text compares and sorts by bytes in these databases (LOCALE 'C', as SQLite's BINARY
-- collation does), which migrations/postgres/README.md relies on.
--
-- Passwords, none of them in the repository; for each role R, the first of:
--   psql -v R_password=...            (e.g. -v users_password=...)
--   the file named by SHOP_PG_<R>_PASSWORD_FILE (a Docker secret: /run/secrets/...), its first line
--   SHOP_PG_<R>_PASSWORD
-- It stops (exit 3) before changing anything when one is missing or empty.
-- Safe to run again: roles and databases are created when missing; passwords, attributes and rules set again.

\set ON_ERROR_STOP on

\if :{?users_password}
\else
  \getenv users_password_file SHOP_PG_USERS_PASSWORD_FILE
  \if :{?users_password_file}
    \set users_password `head -n 1 :'users_password_file'`
  \else
    \getenv users_password SHOP_PG_USERS_PASSWORD
  \endif
\endif
\if :{?products_password}
\else
  \getenv products_password_file SHOP_PG_PRODUCTS_PASSWORD_FILE
  \if :{?products_password_file}
    \set products_password `head -n 1 :'products_password_file'`
  \else
    \getenv products_password SHOP_PG_PRODUCTS_PASSWORD
  \endif
\endif
\if :{?orders_password}
\else
  \getenv orders_password_file SHOP_PG_ORDERS_PASSWORD_FILE
  \if :{?orders_password_file}
    \set orders_password `head -n 1 :'orders_password_file'`
  \else
    \getenv orders_password SHOP_PG_ORDERS_PASSWORD
  \endif
\endif
-- Unset stays unset in psql (and would reach the server as the text :'x'): make it empty, then refuse empty.
\if :{?users_password} \else \set users_password '' \endif
\if :{?products_password} \else \set products_password '' \endif
\if :{?orders_password} \else \set orders_password '' \endif

CREATE TEMPORARY TABLE shop_service (name text PRIMARY KEY, password text NOT NULL);
INSERT INTO shop_service VALUES ('users', :'users_password'), ('products', :'products_password'),
                                ('orders', :'orders_password');
SELECT count(*) > 0 AS passwords_missing,
       string_agg(format('%s (psql -v %s_password=..., SHOP_PG_%s_PASSWORD_FILE or SHOP_PG_%s_PASSWORD)',
                         name, name, upper(name), upper(name)), ', ') AS missing_passwords
FROM shop_service WHERE password = '' \gset
\if :passwords_missing
  \warn 'init.sql: no password for' :missing_passwords
  DO $$ BEGIN RAISE EXCEPTION 'init.sql: stopped before changing anything: a password is missing'; END $$;
\endif

SELECT format('CREATE ROLE %I', name) FROM shop_service
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              name, password)
FROM shop_service \gexec

-- TEMPLATE template0: the only template whose locale may differ from the cluster's.
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L LOCALE %L', name, name, 'UTF8', 'C')
FROM shop_service WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = name) \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', name, name),
       format('REVOKE ALL ON DATABASE %I FROM PUBLIC', name),
       format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', name, name)
FROM shop_service \gexec

-- The server's own databases: a service role has nothing to do there (psql's default database is
-- `postgres`; `template1` is copied by CREATE DATABASE, which no service role may run). Superusers keep
-- their access.
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;

\connect users
REVOKE ALL ON SCHEMA public FROM PUBLIC;
\connect products
REVOKE ALL ON SCHEMA public FROM PUBLIC;
\connect orders
REVOKE ALL ON SCHEMA public FROM PUBLIC;
