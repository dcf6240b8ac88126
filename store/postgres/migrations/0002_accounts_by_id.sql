-- jitbot PostgreSQL schema v2: SQLite's version 2 (the reverse account
-- lookup), which PostgreSQL's 0001 holds already. A version means the same
-- change on both engines.
SELECT 1;
