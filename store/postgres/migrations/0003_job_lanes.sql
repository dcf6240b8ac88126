-- jitbot PostgreSQL schema v3: SQLite's version 3 (outbox lanes, the
-- Slack refs' person and hash), which PostgreSQL's 0001 holds already. A version means the same
-- change on both engines.
SELECT 1;
