-- jitbot PostgreSQL schema v5: the SQLite schema's version 7, the
-- directory synced from identity providers. Times are Unix milliseconds.

CREATE TABLE IF NOT EXISTS directory_people (
    email      text PRIMARY KEY,
    department text    NOT NULL DEFAULT '',
    manager    text    NOT NULL DEFAULT '',
    employment text    NOT NULL DEFAULT '',
    sources    text    NOT NULL DEFAULT '{}', -- attribute → source, JSON
    ids        text    NOT NULL DEFAULT '', -- source=id lines: the person's user id at each source
    suspended  boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS directory_state (
    id        integer PRIMARY KEY CHECK (id = 1),
    synced_at bigint  NOT NULL
);
