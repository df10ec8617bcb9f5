-- The quick start's database, run as a PostgreSQL superuser:
--   psql -v admin_password="$ADMIN_PASSWORD" -f examples/quickstart/database.sql
-- jit_admin is the only credential agentgate holds: the operator logs in with
-- it to create a short-lived role per session (VALID UNTIL, granted
-- shop_reader) and drops the role after. Agents never see either.
CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD :'admin_password';
-- What a session may do, whatever the policy says on top: read customers,
-- read and delete orders.
CREATE ROLE shop_reader NOLOGIN;
CREATE DATABASE shop;
\connect shop
CREATE TABLE customers (id int PRIMARY KEY, name text, ssn text);
INSERT INTO customers VALUES (1, 'Ada', '123-45-6789'), (2, 'Grace', '987-65-4320');
CREATE TABLE orders (id int PRIMARY KEY, total int);
INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 5) g;
GRANT SELECT ON customers TO shop_reader;
GRANT SELECT, DELETE ON orders TO shop_reader;
