-- jitbot schema v1. Times are Unix milliseconds (0 = not set).

CREATE TABLE requests (
    id             TEXT PRIMARY KEY,
    requester      TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    admin          INTEGER NOT NULL DEFAULT 0,
    duration_ms    INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    ticket         TEXT    NOT NULL DEFAULT '',
    rule           TEXT    NOT NULL,
    steps          TEXT    NOT NULL,          -- JSON: resolved approvers per step
    current_step   INTEGER NOT NULL DEFAULT 0,
    notify         TEXT    NOT NULL DEFAULT '[]',
    allow_self     INTEGER NOT NULL DEFAULT 0,
    auto_approved  INTEGER NOT NULL DEFAULT 0,
    extends_id     TEXT    NOT NULL DEFAULT '',
    correlation_id TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    state_reason   TEXT    NOT NULL DEFAULT '',
    decided_by     TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL DEFAULT 0,
    remind_at      INTEGER NOT NULL DEFAULT 0,
    reminded       INTEGER NOT NULL DEFAULT 0,
    decided_at     INTEGER NOT NULL DEFAULT 0,
    starts_at      INTEGER NOT NULL DEFAULT 0,
    ends_at        INTEGER NOT NULL DEFAULT 0,
    warn_at        INTEGER NOT NULL DEFAULT 0,
    warned         INTEGER NOT NULL DEFAULT 0,
    ended_at       INTEGER NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL DEFAULT 0
);
-- Deadline indexes are partial: a sweep reads only rows that can be due.
CREATE INDEX requests_due_active  ON requests(ends_at)    WHERE state = 'active';
CREATE INDEX requests_due_warn    ON requests(warn_at)    WHERE state = 'active' AND warned = 0;
CREATE INDEX requests_due_pending ON requests(expires_at) WHERE state = 'pending';
CREATE INDEX requests_due_remind  ON requests(remind_at)  WHERE state = 'pending' AND reminded = 0;
CREATE INDEX requests_requester   ON requests(requester, created_at);
CREATE INDEX requests_state       ON requests(state, created_at);

CREATE TABLE decisions (
    request_id TEXT    NOT NULL REFERENCES requests(id),
    step       INTEGER NOT NULL,
    approver   TEXT    NOT NULL,
    approve    INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, step, approver)
);

CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    request_id TEXT    NOT NULL REFERENCES requests(id),
    person     TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    provider   TEXT    NOT NULL,
    grp        TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    standing   INTEGER NOT NULL DEFAULT 0,
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX grants_request ON grants(request_id);
CREATE INDEX grants_live    ON grants(provider, grp, person) WHERE state IN ('provisioning', 'active');

-- The memberships the bot manages, and how each came to be.
CREATE TABLE memberships (
    provider TEXT    NOT NULL,
    grp      TEXT    NOT NULL,
    person   TEXT    NOT NULL,
    origin   TEXT    NOT NULL CHECK (origin IN ('bot', 'standing')),
    since    INTEGER NOT NULL,
    PRIMARY KEY (provider, grp, person)
);

-- The outbox.
CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    request_id TEXT    NOT NULL DEFAULT '',
    grant_id   TEXT    NOT NULL DEFAULT '',
    payload    TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    run_at     INTEGER NOT NULL,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(run_at, id) WHERE state = 'pending';

-- The audit trail: append-only, hash-chained.
CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    time           INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    subject        TEXT    NOT NULL DEFAULT '',
    resource       TEXT    NOT NULL DEFAULT '',
    request_id     TEXT    NOT NULL DEFAULT '',
    grant_id       TEXT    NOT NULL DEFAULT '',
    reason         TEXT    NOT NULL DEFAULT '',
    rule           TEXT    NOT NULL DEFAULT '',
    correlation_id TEXT    NOT NULL DEFAULT '',
    data           TEXT    NOT NULL DEFAULT '{}',
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);
CREATE INDEX audit_request  ON audit_events(request_id) WHERE request_id <> '';
CREATE INDEX audit_subject  ON audit_events(subject, seq);
CREATE INDEX audit_resource ON audit_events(resource, seq);
CREATE INDEX audit_time     ON audit_events(time);
CREATE INDEX audit_grant    ON audit_events(grant_id) WHERE grant_id <> '';
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END;

-- Provider account ids by email (Jira's user search is slow and rate limited).
CREATE TABLE accounts (
    provider   TEXT NOT NULL,
    email      TEXT NOT NULL,
    account_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (provider, email)
);

-- What the dry-run provider would have done, kept so it survives restarts.
CREATE TABLE dryrun_members (
    provider TEXT NOT NULL,
    grp      TEXT NOT NULL,
    person   TEXT NOT NULL,
    PRIMARY KEY (provider, grp, person)
);
CREATE TABLE dryrun_ops (
    seq      INTEGER PRIMARY KEY,
    op       TEXT    NOT NULL,
    provider TEXT    NOT NULL,
    grp      TEXT    NOT NULL,
    person   TEXT    NOT NULL,
    at       INTEGER NOT NULL
);

-- Slack messages the bot keeps editing in place (the requester's DM, each
-- approver's card), by request.
CREATE TABLE slack_messages (
    request_id TEXT NOT NULL,
    role       TEXT NOT NULL,   -- requester | approver | channel
    user_id    TEXT NOT NULL DEFAULT '',
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    PRIMARY KEY (request_id, role, channel)
);
