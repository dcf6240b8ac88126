-- jitbot PostgreSQL schema v9: the SQLite schema's version 9. A
-- certification item remembers the escalate_to terms that named nobody
-- when it was escalated, with why ('' when every term named someone).
ALTER TABLE cert_items ADD COLUMN IF NOT EXISTS unescalated text NOT NULL DEFAULT '';
