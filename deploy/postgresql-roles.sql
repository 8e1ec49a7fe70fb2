-- BrandFlow on PostgreSQL with least privilege: the web app may read everything and append to
-- the event log, never rewrite it. Two roles:
--   brandflow_owner  owns the schema; runs `init-db` (DDL, triggers), `rebuild-projections`,
--                    `backup` / `restore`. Used by the operator only, never by the web app.
--   brandflow_app    the web app (gunicorn): SELECT and INSERT on `event` only; reads and
--                    writes the projection and side tables (rebuilt from the log if need be).
-- The triggers refuse UPDATE, DELETE and TRUNCATE on `event` for every role; the grants below
-- make that a permission error for the app role before any trigger runs.
--
-- 1. As a superuser (psql -U postgres -f deploy/postgresql-roles.sql -v app_password=… -v owner_password=…):
CREATE ROLE brandflow_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE brandflow_app LOGIN PASSWORD :'app_password';
CREATE DATABASE brandflow OWNER brandflow_owner ENCODING 'UTF8' TEMPLATE template0;
\connect brandflow
ALTER SCHEMA public OWNER TO brandflow_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO brandflow_app;
-- Tables the owner creates later (a new projection in an upgrade) are open to the app too.
ALTER DEFAULT PRIVILEGES FOR ROLE brandflow_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO brandflow_app;
--
-- 2. Create the tables as the owner:
--      DATABASE_URL=postgresql://brandflow_owner:…@127.0.0.1/brandflow .venv/bin/flask --app app init-db
--
-- 3. Then, as the owner (psql -U brandflow_owner -d brandflow -f deploy/postgresql-grants.sql),
--    take back from the app everything on `event` but reading and appending.
