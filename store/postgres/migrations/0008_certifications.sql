-- jitbot PostgreSQL schema v6: the SQLite schema's version 8, certifications
-- of standing access. Times are Unix milliseconds (0 = not set), flags booleans.

CREATE TABLE cert_schedule (
    rule    text PRIMARY KEY,
    spec    text   NOT NULL,   -- the schedule next_at was computed from
    next_at bigint NOT NULL
);

CREATE TABLE cert_campaigns (
    id         text PRIMARY KEY,
    rule       text   NOT NULL,
    state      text   NOT NULL,   -- building | open | closed
    trigger    text   NOT NULL DEFAULT '',
    started_at bigint NOT NULL,
    answer_by  bigint NOT NULL,
    closed_at  bigint NOT NULL DEFAULT 0,
    version    bigint NOT NULL DEFAULT 0
);
CREATE INDEX cert_campaigns_rule ON cert_campaigns(rule, started_at);

CREATE TABLE cert_items (
    id           text PRIMARY KEY,
    campaign_id  text    NOT NULL REFERENCES cert_campaigns(id),
    rule         text    NOT NULL,
    resource     text    NOT NULL,
    provider     text    NOT NULL,
    grp          text    NOT NULL,
    person       text    NOT NULL,
    reviewer     text    NOT NULL DEFAULT '',  -- an email, group:HANDLE, or '' for IT
    state        text    NOT NULL,
    answer       text    NOT NULL DEFAULT '',
    reason       text    NOT NULL DEFAULT '',
    decided_by   text    NOT NULL DEFAULT '',
    decided_at   bigint  NOT NULL DEFAULT 0,
    defaulted    boolean NOT NULL DEFAULT false,
    escalate_at  bigint  NOT NULL DEFAULT 0,
    escalated    boolean NOT NULL DEFAULT false,
    answer_by    bigint  NOT NULL DEFAULT 0,
    member_since bigint  NOT NULL DEFAULT 0,
    last_active  bigint  NOT NULL DEFAULT 0,
    ever_jit     boolean NOT NULL DEFAULT false,
    standing     boolean NOT NULL DEFAULT false,
    in_directory boolean NOT NULL DEFAULT false,
    note         text    NOT NULL DEFAULT '',
    version      bigint  NOT NULL DEFAULT 0,
    UNIQUE (campaign_id, provider, grp, person)
);
CREATE INDEX cert_items_pending ON cert_items(state, answer_by);

CREATE TABLE standing_seen (
    provider   text   NOT NULL,
    grp        text   NOT NULL,
    person     text   NOT NULL,
    first_seen bigint NOT NULL,
    PRIMARY KEY (provider, grp, person)
);
