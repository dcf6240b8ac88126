-- jitbot schema v5: the licence review. Times are Unix milliseconds (0 = not set).
-- Every statement is IF NOT EXISTS: a database whose migration record was
-- rolled back by hand (as a test does) migrates again cleanly.

-- The organisation directory as the last activity sync saw it, one row per
-- Atlassian account.
CREATE TABLE IF NOT EXISTS directory_users (
    account_id        TEXT PRIMARY KEY,
    email             TEXT    NOT NULL DEFAULT '',
    name              TEXT    NOT NULL DEFAULT '',
    account_type      TEXT    NOT NULL DEFAULT '',
    account_status    TEXT    NOT NULL DEFAULT '',
    membership_status TEXT    NOT NULL DEFAULT '',
    management_source TEXT    NOT NULL DEFAULT '',
    claim_status      TEXT    NOT NULL DEFAULT '',
    department        TEXT    NOT NULL DEFAULT '',
    job_title         TEXT    NOT NULL DEFAULT '',
    added_to_org      INTEGER NOT NULL DEFAULT 0,
    products          TEXT    NOT NULL DEFAULT '',  -- latest activity: key=ms;key=ms (the review reads only this table)
    groups            TEXT    NOT NULL DEFAULT '',  -- group names, one per line; '' when not reported
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,             -- start of the last sync that saw the user
    gone              INTEGER NOT NULL DEFAULT 0    -- the last complete sync did not see the user
);
CREATE INDEX IF NOT EXISTS directory_users_email      ON directory_users(email) WHERE email <> '';
CREATE INDEX IF NOT EXISTS directory_users_department ON directory_users(department, email);

-- What each day's sync saw: one row per user, product and day, pruned past
-- the retention (400 days by default). "When was Erin last active in
-- Confluence, as seen on each day" is one range read of the primary key.
CREATE TABLE IF NOT EXISTS activity (
    account_id  TEXT    NOT NULL,
    product     TEXT    NOT NULL,
    day         INTEGER NOT NULL,   -- midnight UTC of the sync's day
    last_active INTEGER NOT NULL,   -- 0 = never used
    PRIMARY KEY (account_id, product, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS activity_day ON activity(day);

CREATE TABLE IF NOT EXISTS activity_syncs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    users       INTEGER NOT NULL DEFAULT 0,
    pages       INTEGER NOT NULL DEFAULT 0,
    snapshots   INTEGER NOT NULL DEFAULT 0,
    gone        INTEGER NOT NULL DEFAULT 0,
    pruned      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT ''
);

-- Each rule's next run: every deadline lives in the database.
CREATE TABLE IF NOT EXISTS review_schedule (
    rule    TEXT PRIMARY KEY,
    spec    TEXT    NOT NULL,   -- the schedule next_at was computed from
    next_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS review_runs (
    id          TEXT PRIMARY KEY,
    rule        TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('running', 'open', 'closed', 'failed')),
    trigger     TEXT    NOT NULL,
    dry_run     INTEGER NOT NULL DEFAULT 0,
    as_of       INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    closed_at   INTEGER NOT NULL DEFAULT 0,
    settings    TEXT    NOT NULL,             -- JSON: the rule as it was at the start
    counts      TEXT    NOT NULL DEFAULT '{}', -- JSON: the first pass's figures
    error       TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS review_runs_rule ON review_runs(rule, started_at);
CREATE INDEX IF NOT EXISTS review_runs_live ON review_runs(state) WHERE state IN ('running', 'open');

CREATE TABLE IF NOT EXISTS review_items (
    id                TEXT PRIMARY KEY,
    run_id            TEXT    NOT NULL REFERENCES review_runs(id),
    rule              TEXT    NOT NULL,
    person_key        TEXT    NOT NULL,   -- account id, or 'email:' || email
    account_id        TEXT    NOT NULL DEFAULT '',
    email             TEXT    NOT NULL DEFAULT '',
    name              TEXT    NOT NULL DEFAULT '',
    department        TEXT    NOT NULL DEFAULT '',
    manager           TEXT    NOT NULL DEFAULT '',  -- who answers; '' = IT
    unassigned        INTEGER NOT NULL DEFAULT 0,
    idp_managed       INTEGER NOT NULL DEFAULT 0,
    products          TEXT    NOT NULL DEFAULT '[]', -- JSON: reviewed products with last active
    inactive_since    INTEGER NOT NULL DEFAULT 0,
    never_used        INTEGER NOT NULL DEFAULT 0,
    finding           TEXT    NOT NULL DEFAULT '',
    state             TEXT    NOT NULL,
    would             TEXT    NOT NULL DEFAULT '',
    decided_by        TEXT    NOT NULL DEFAULT '',
    reason            TEXT    NOT NULL DEFAULT '',
    decided_at        INTEGER NOT NULL DEFAULT 0,
    done_at           INTEGER NOT NULL DEFAULT 0,
    answer_by         INTEGER NOT NULL DEFAULT 0,
    suspend_at        INTEGER NOT NULL DEFAULT 0,
    keep_request      TEXT    NOT NULL DEFAULT '',
    keep_requested_at INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (run_id, person_key)
);
CREATE INDEX IF NOT EXISTS review_items_state   ON review_items(run_id, state);
CREATE INDEX IF NOT EXISTS review_items_answer  ON review_items(answer_by)  WHERE state = 'pending' AND answer_by > 0;
CREATE INDEX IF NOT EXISTS review_items_suspend ON review_items(suspend_at) WHERE state = 'warned';
CREATE INDEX IF NOT EXISTS review_items_open    ON review_items(person_key) WHERE state IN ('pending', 'warned', 'suspending');
CREATE INDEX IF NOT EXISTS review_items_manager ON review_items(manager, run_id);
CREATE INDEX IF NOT EXISTS review_items_email   ON review_items(email, created_at);

-- Standing Keep answers: the person is not asked about again until "until".
CREATE TABLE IF NOT EXISTS review_keeps (
    email   TEXT PRIMARY KEY,
    until   INTEGER NOT NULL,
    by      TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    rule    TEXT    NOT NULL DEFAULT '',
    run_id  TEXT    NOT NULL DEFAULT '',
    item_id TEXT    NOT NULL DEFAULT ''
);

-- Suspensions with the memberships recorded before them, and their restores.
CREATE TABLE IF NOT EXISTS review_suspensions (
    id           TEXT PRIMARY KEY,
    email        TEXT    NOT NULL,
    account_id   TEXT    NOT NULL,
    item_id      TEXT    NOT NULL DEFAULT '',
    run_id       TEXT    NOT NULL DEFAULT '',
    rule         TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL CHECK (state IN ('recorded', 'suspended', 'restored', 'refused')),
    groups       TEXT    NOT NULL DEFAULT '[]',  -- JSON [{id, name}]
    roles        TEXT    NOT NULL DEFAULT '[]',
    roles_read   INTEGER NOT NULL DEFAULT 0,
    decided_by   TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    recorded_at  INTEGER NOT NULL,
    suspended_at INTEGER NOT NULL DEFAULT 0,
    restored_at  INTEGER NOT NULL DEFAULT 0,
    restored_by  TEXT    NOT NULL DEFAULT '',
    restore      TEXT    NOT NULL DEFAULT ''     -- JSON: what the restore did
);
CREATE UNIQUE INDEX IF NOT EXISTS review_suspensions_item ON review_suspensions(item_id) WHERE item_id <> '';
CREATE INDEX IF NOT EXISTS review_suspensions_email ON review_suspensions(email, recorded_at);
