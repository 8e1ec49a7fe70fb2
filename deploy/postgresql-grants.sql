-- Run as brandflow_owner after `init-db` (and again after an upgrade's `init-db`).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO brandflow_app;
REVOKE ALL ON event FROM brandflow_app;
GRANT SELECT, INSERT ON event TO brandflow_app;
