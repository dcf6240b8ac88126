-- jitbot schema v6: incidents. Times are Unix milliseconds (0 = not set).
-- Side tables keyed by request id or person: the requests table is unchanged.

-- How a request was filed, when not simply by its requester for approval:
-- on behalf of the requester (filer), or break-glass.
CREATE TABLE IF NOT EXISTS request_filings (
    request_id  TEXT PRIMARY KEY REFERENCES requests(id),
    requester   TEXT    NOT NULL,
    filer       TEXT    NOT NULL DEFAULT '',
    break_glass INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS request_filings_break_glass ON request_filings(requester, created_at) WHERE break_glass = 1;

-- An approver's delegation: while it holds, requests waiting on person wait
-- on delegate too. One per person.
CREATE TABLE IF NOT EXISTS delegations (
    person     TEXT PRIMARY KEY,
    delegate   TEXT    NOT NULL,
    until      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS delegations_delegate ON delegations(delegate);

-- The review after the fact of a break-glass grant.
CREATE TABLE IF NOT EXISTS breakglass_reviews (
    request_id  TEXT PRIMARY KEY REFERENCES requests(id),
    reviewers   TEXT    NOT NULL,             -- JSON list of emails
    state       TEXT    NOT NULL,             -- open | acknowledged | flagged
    due_at      INTEGER NOT NULL,
    escalated   INTEGER NOT NULL DEFAULT 0,
    answered_by TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    answered_at INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 0
);
