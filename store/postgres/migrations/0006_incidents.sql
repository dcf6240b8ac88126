-- jitbot PostgreSQL schema v4: the SQLite schema's version 6, incidents.
-- Times are Unix milliseconds (0 = not set), flags booleans. Side tables
-- keyed by request id or person: the requests table is unchanged.

-- How a request was filed, when not simply by its requester for approval:
-- on behalf of the requester (filer), or break-glass.
CREATE TABLE request_filings (
    request_id  text PRIMARY KEY REFERENCES requests(id),
    requester   text    NOT NULL,
    filer       text    NOT NULL DEFAULT '',
    break_glass boolean NOT NULL DEFAULT false,
    created_at  bigint  NOT NULL
);
CREATE INDEX request_filings_break_glass ON request_filings(requester, created_at) WHERE break_glass;

-- An approver's delegation: while it holds, requests waiting on person wait
-- on delegate too. One per person.
CREATE TABLE delegations (
    person     text PRIMARY KEY,
    delegate   text   NOT NULL,
    until      bigint NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX delegations_delegate ON delegations(delegate);

-- The review after the fact of a break-glass grant.
CREATE TABLE breakglass_reviews (
    request_id  text PRIMARY KEY REFERENCES requests(id),
    reviewers   text    NOT NULL,             -- JSON list of emails
    state       text    NOT NULL,             -- open | acknowledged | flagged
    due_at      bigint  NOT NULL,
    escalated   boolean NOT NULL DEFAULT false,
    answered_by text    NOT NULL DEFAULT '',
    reason      text    NOT NULL DEFAULT '',
    answered_at bigint  NOT NULL DEFAULT 0,
    version     integer NOT NULL DEFAULT 0
);
