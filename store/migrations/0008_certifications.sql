-- jitbot schema v8: certifications of standing access. Times are Unix
-- milliseconds (0 = not set). IF NOT EXISTS throughout, as in v5.

-- Each certification rule's next campaign.
CREATE TABLE IF NOT EXISTS cert_schedule (
    rule    TEXT PRIMARY KEY,
    spec    TEXT    NOT NULL,   -- the schedule next_at was computed from
    next_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS cert_campaigns (
    id         TEXT PRIMARY KEY,
    rule       TEXT    NOT NULL,
    state      TEXT    NOT NULL,   -- building | open | closed
    trigger    TEXT    NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    answer_by  INTEGER NOT NULL,
    closed_at  INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cert_campaigns_rule ON cert_campaigns(rule, started_at);

-- One standing member of one group in one campaign.
CREATE TABLE IF NOT EXISTS cert_items (
    id           TEXT PRIMARY KEY,
    campaign_id  TEXT    NOT NULL REFERENCES cert_campaigns(id),
    rule         TEXT    NOT NULL,
    resource     TEXT    NOT NULL,
    provider     TEXT    NOT NULL,
    grp          TEXT    NOT NULL,
    person       TEXT    NOT NULL,
    reviewer     TEXT    NOT NULL DEFAULT '',  -- an email, group:HANDLE, or '' for IT
    state        TEXT    NOT NULL,
    answer       TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    decided_by   TEXT    NOT NULL DEFAULT '',
    decided_at   INTEGER NOT NULL DEFAULT 0,
    defaulted    INTEGER NOT NULL DEFAULT 0,
    escalate_at  INTEGER NOT NULL DEFAULT 0,
    escalated    INTEGER NOT NULL DEFAULT 0,
    answer_by    INTEGER NOT NULL DEFAULT 0,
    member_since INTEGER NOT NULL DEFAULT 0,
    last_active  INTEGER NOT NULL DEFAULT 0,
    ever_jit     INTEGER NOT NULL DEFAULT 0,
    standing     INTEGER NOT NULL DEFAULT 0,
    in_directory INTEGER NOT NULL DEFAULT 0,
    note         TEXT    NOT NULL DEFAULT '',
    version      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (campaign_id, provider, grp, person)
);
CREATE INDEX IF NOT EXISTS cert_items_pending ON cert_items(state, answer_by);

-- When jitbot first saw each standing member of a group.
CREATE TABLE IF NOT EXISTS standing_seen (
    provider   TEXT    NOT NULL,
    grp        TEXT    NOT NULL,
    person     TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (provider, grp, person)
) WITHOUT ROWID;
