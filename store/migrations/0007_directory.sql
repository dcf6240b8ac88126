-- jitbot schema v7: the directory synced from identity providers (issue 24).
-- Times are Unix milliseconds. The policy file is never rewritten: its own
-- people are applied over these rows when the policy is loaded.

-- One row per person the sources listed, as the last good sync merged them.
CREATE TABLE IF NOT EXISTS directory_people (
    email      TEXT PRIMARY KEY,
    department TEXT    NOT NULL DEFAULT '',
    manager    TEXT    NOT NULL DEFAULT '',
    employment TEXT    NOT NULL DEFAULT '',
    sources    TEXT    NOT NULL DEFAULT '{}', -- attribute → source, JSON
    ids        TEXT    NOT NULL DEFAULT '', -- source=id lines: the person's user id at each source
    suspended  INTEGER NOT NULL DEFAULT 0
);

-- When the last good sync stored the directory (one row).
CREATE TABLE IF NOT EXISTS directory_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    synced_at INTEGER NOT NULL
);
