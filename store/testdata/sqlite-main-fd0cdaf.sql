-- A SQLite database made by jitbot at fd0cdaf (main before issue 23: the store written once),
-- seeded as cmd/jitbot seedInstallation does, dumped with sqlite3 .dump. TestOpen_DatabaseOfOlderMain
-- and cmd/jitbot TestDBCopy_FromOlderMain load it.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
INSERT INTO schema_migrations VALUES(1,1795424400000);
INSERT INTO schema_migrations VALUES(2,1795424400000);
INSERT INTO schema_migrations VALUES(3,1795424400000);
INSERT INTO schema_migrations VALUES(4,1795424400000);
INSERT INTO schema_migrations VALUES(5,1795424400000);
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
, allow_repeat INTEGER NOT NULL DEFAULT 0);
INSERT INTO requests VALUES('e3ce7ada-488d-4bdd-abce-f95ba2837b9b','alice@example.com','confluence-finance',0,7200000,'close','','short internal access is automatic','null',0,'["#access-log"]',0,1,'','a0cd0870-b582-493e-b1c1-9e85652e9cd1','revoked','left the project','system',1795424400000,1795510800000,1795467600000,0,1795424400000,1795424400000,1795431600000,1795430700000,0,1795424400000,3,0);
INSERT INTO requests VALUES('4af86617-41e3-4973-991c-34ba29ea3761','erin@partner.io','confluence-finance',0,172800000,'audit','','externals need the owner','[{"terms":["manager"],"approvers":["bob@example.com"],"quorum":1},{"terms":["owner"],"approvers":["carol@example.com"],"quorum":1}]',1,'[]',0,0,'','3cecf4e8-5908-4030-add5-2a890e271904','active','fine','carol@example.com',1795424400000,1795510800000,1795467600000,0,1795424400000,1795424400000,1795597200000,1795596300000,0,0,3,0);
CREATE TABLE decisions (
    request_id TEXT    NOT NULL REFERENCES requests(id),
    step       INTEGER NOT NULL,
    approver   TEXT    NOT NULL,
    approve    INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, step, approver)
);
INSERT INTO decisions VALUES('4af86617-41e3-4973-991c-34ba29ea3761',0,'bob@example.com',1,'ok',1795424400000);
INSERT INTO decisions VALUES('4af86617-41e3-4973-991c-34ba29ea3761',1,'carol@example.com',1,'fine',1795424400000);
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
INSERT INTO grants VALUES('7dc604bd-b479-4fff-8f85-db9b7d9e3637','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','alice@example.com','confluence-finance','jira','confluence-finance','ended',0,'removed',1795424400000,1795424400000);
INSERT INTO grants VALUES('837b284e-cdc0-48fd-bd4c-2c82b07dadb2','4af86617-41e3-4973-991c-34ba29ea3761','erin@partner.io','confluence-finance','jira','confluence-finance','active',0,'',1795424400000,1795424400000);
CREATE TABLE memberships (
    provider TEXT    NOT NULL,
    grp      TEXT    NOT NULL,
    person   TEXT    NOT NULL,
    origin   TEXT    NOT NULL CHECK (origin IN ('bot', 'standing')),
    since    INTEGER NOT NULL,
    PRIMARY KEY (provider, grp, person)
);
INSERT INTO memberships VALUES('jira','confluence-finance','erin@partner.io','bot',1795424400000);
CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    request_id TEXT    NOT NULL DEFAULT '',
    grant_id   TEXT    NOT NULL DEFAULT '',
    note    TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    run_at     INTEGER NOT NULL,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
, lane        TEXT    NOT NULL DEFAULT 'access', job_key     TEXT    NOT NULL DEFAULT '', ref         TEXT    NOT NULL DEFAULT '', lease_owner TEXT    NOT NULL DEFAULT '', lease_until INTEGER NOT NULL DEFAULT 0, claims INTEGER NOT NULL DEFAULT 0);
INSERT INTO jobs VALUES(1,'provision','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','7dc604bd-b479-4fff-8f85-db9b7d9e3637','','done',0,1795424400000,'',1795424400000,1795424400000,'access','membership:jira|confluence-finance|alice@example.com','','',0,1);
INSERT INTO jobs VALUES(2,'notify','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','approved','done',0,1795424400000,'',1795424400000,1795424400000,'message','request:e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','',0,1);
INSERT INTO jobs VALUES(3,'notify','4af86617-41e3-4973-991c-34ba29ea3761','','submitted','done',0,1795424400000,'',1795424400000,1795424400000,'message','request:4af86617-41e3-4973-991c-34ba29ea3761','','',0,1);
INSERT INTO jobs VALUES(4,'notify','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','activated','done',0,1795424400000,'',1795424400000,1795424400000,'message','request:e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','',0,1);
INSERT INTO jobs VALUES(5,'alert','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','post to #access-log: channel_not_found','done',0,1795424400000,'',1795424400000,1795424400000,'message','alert','','',0,1);
INSERT INTO jobs VALUES(6,'slack.inbox','','','4af86617-41e3-4973-991c-34ba29ea3761','done',0,1795424400000,'',1795424400000,1795424400000,'message','inbox:bob@example.com','bob@example.com','',0,1);
INSERT INTO jobs VALUES(7,'notify','4af86617-41e3-4973-991c-34ba29ea3761','','advanced,approved','done',0,1795424400000,'',1795424400000,1795424400000,'message','request:4af86617-41e3-4973-991c-34ba29ea3761','','',0,1);
INSERT INTO jobs VALUES(8,'provision','4af86617-41e3-4973-991c-34ba29ea3761','837b284e-cdc0-48fd-bd4c-2c82b07dadb2','','done',0,1795424400000,'',1795424400000,1795424400000,'access','membership:jira|confluence-finance|erin@partner.io','','',0,1);
INSERT INTO jobs VALUES(9,'notify','4af86617-41e3-4973-991c-34ba29ea3761','','activated','done',0,1795424400000,'',1795424400000,1795424400000,'message','request:4af86617-41e3-4973-991c-34ba29ea3761','','',0,1);
INSERT INTO jobs VALUES(10,'revoke','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','7dc604bd-b479-4fff-8f85-db9b7d9e3637','','done',0,1795424400000,'',1795424400000,1795424400000,'access','membership:jira|confluence-finance|alice@example.com','','',0,1);
INSERT INTO jobs VALUES(11,'notify','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','ended','done',0,1795424400000,'',1795424400000,1795424400000,'message','request:e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','',0,1);
INSERT INTO jobs VALUES(12,'alert','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','post to #access-log: channel_not_found','done',0,1795424400000,'',1795424400000,1795424400000,'message','alert','','',0,1);
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
INSERT INTO audit_events VALUES(1,'eadba1b2-29f8-4a4f-8372-4d36fd2bcf15',1795424400000,'system','policy.loaded','','','','','','','','{"file":"/work/wtold/examples/policy.yaml","sha256":"ec73f396e30c875e67bf755ff9486dd430c82c0bd4b9161ec2fe1625c758a51d"}','0000000000000000000000000000000000000000000000000000000000000000','6df2df7cfbe82a2a921d85fd4696b4be6c2dcb22aaebe74c2002c5de6a0b9ae1');
INSERT INTO audit_events VALUES(2,'fde84758-9e26-465c-ae26-8f5947df9fcd',1795424400000,'alice@example.com','request.submitted','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','close','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{"duration":"2h","steps":"0"}','6df2df7cfbe82a2a921d85fd4696b4be6c2dcb22aaebe74c2002c5de6a0b9ae1','d805d09e8afa2fb0de806997b83c44fb504ce76117c5877615cd8d7249cec25e');
INSERT INTO audit_events VALUES(3,'52ef4073-c7c2-4422-b0a7-aab67412a182',1795424400000,'system','request.auto_approved','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','auto-approved by rule short internal access is automatic','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{}','d805d09e8afa2fb0de806997b83c44fb504ce76117c5877615cd8d7249cec25e','bf67a2287b665f3aa374586c7b26d3ffb58f42f49cd1f52ab66f47c8f158a181');
INSERT INTO audit_events VALUES(4,'168f05ed-8b45-469b-b272-eeae4d261b52',1795424400000,'erin@partner.io','request.submitted','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','','audit','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{"duration":"2d","steps":"2"}','bf67a2287b665f3aa374586c7b26d3ffb58f42f49cd1f52ab66f47c8f158a181','3788b1913501f39d0d9727a3f1fe727286cb2762872cfed8ee8f2cfb697ac25e');
INSERT INTO audit_events VALUES(5,'f9f9e76c-17b7-4ed4-8c26-5b04db92cbbb',1795424400000,'system','grant.provisioned','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','7dc604bd-b479-4fff-8f85-db9b7d9e3637','','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{"group":"confluence-finance","provider":"jira"}','3788b1913501f39d0d9727a3f1fe727286cb2762872cfed8ee8f2cfb697ac25e','06e06ed5d8a360de1bd8dd2adab5549376ff86588f48a9fd66e69fd04df93ebb');
INSERT INTO audit_events VALUES(6,'ffc620ae-cc4d-4a8e-abde-c7308ce6957d',1795424400000,'system','request.activated','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{"ends_at":"2026-11-23T11:00:00Z"}','06e06ed5d8a360de1bd8dd2adab5549376ff86588f48a9fd66e69fd04df93ebb','9590cdb293d7597621fc8184e87393643f34554537a8f1d746a9fe6d42a7ca68');
INSERT INTO audit_events VALUES(7,'162542ca-5f56-4212-8ac1-730065407386',1795424400000,'system','alert.raised','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','post to #access-log: channel_not_found','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{}','9590cdb293d7597621fc8184e87393643f34554537a8f1d746a9fe6d42a7ca68','9b0b49d5b9a968e73a0767db9619db45b50284c21ee42d1b6050abb32917fef6');
INSERT INTO audit_events VALUES(8,'98e33767-6287-4614-82a4-e4118e31a297',1795424400000,'bob@example.com','approval.recorded','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','','ok','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{"approvals":"1","quorum":"1","step":"1"}','9b0b49d5b9a968e73a0767db9619db45b50284c21ee42d1b6050abb32917fef6','b2726144f093e22cc895e3d6a63900fa96b7358383dc04d2e6212dbeeba51ab7');
INSERT INTO audit_events VALUES(9,'9ba655a7-fa39-4de9-8de2-ab27a88945d9',1795424400000,'bob@example.com','request.advanced','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','','','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{"step":"2"}','b2726144f093e22cc895e3d6a63900fa96b7358383dc04d2e6212dbeeba51ab7','ad62062deb96659e0a5380797c9cd3ca3cbe5668e5a095da9c66297bb0aae94f');
INSERT INTO audit_events VALUES(10,'5fe17799-d92e-4c78-856e-cd991ea1db51',1795424400000,'carol@example.com','approval.recorded','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','','fine','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{"approvals":"1","quorum":"1","step":"2"}','ad62062deb96659e0a5380797c9cd3ca3cbe5668e5a095da9c66297bb0aae94f','c996abf14804a74450568773396aba9dee088c8bc0f70c364c334e79fba06629');
INSERT INTO audit_events VALUES(11,'4df192d4-d6cc-424b-b925-d732d52cf7b5',1795424400000,'carol@example.com','request.approved','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','','fine','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{}','c996abf14804a74450568773396aba9dee088c8bc0f70c364c334e79fba06629','41cc2b030548474a9082dc0dafe8515d0f554059aa480de3e5e7fddfeac1c881');
INSERT INTO audit_events VALUES(12,'beb13f7a-4323-4d3d-8526-dd9806c6c5f1',1795424400000,'system','grant.provisioned','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','837b284e-cdc0-48fd-bd4c-2c82b07dadb2','','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{"group":"confluence-finance","provider":"jira"}','41cc2b030548474a9082dc0dafe8515d0f554059aa480de3e5e7fddfeac1c881','a39d3fce00490168bbd702e5b255a9e862c8582ca21e12b32d6aced605079910');
INSERT INTO audit_events VALUES(13,'7fc88212-a462-4849-848b-4edd1e02cb89',1795424400000,'system','request.activated','erin@partner.io','confluence-finance','4af86617-41e3-4973-991c-34ba29ea3761','','','externals need the owner','3cecf4e8-5908-4030-add5-2a890e271904','{"ends_at":"2026-11-25T09:00:00Z"}','a39d3fce00490168bbd702e5b255a9e862c8582ca21e12b32d6aced605079910','16c44db773291d4f7ea6262b406dc3ca9be500ce518aa83c960dee382809ea51');
INSERT INTO audit_events VALUES(14,'cc16d1be-e55f-481d-ad02-fbc167b070ef',1795424400000,'security@example.com','request.revoked','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','left the project','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{}','16c44db773291d4f7ea6262b406dc3ca9be500ce518aa83c960dee382809ea51','92e1f2c629e74d503825bf51c6f3da7d2f657f7412fe180dec77cdb1f15c3204');
INSERT INTO audit_events VALUES(15,'d7b471f0-adfd-4edf-b1be-1cb700ac13d5',1795424400000,'system','grant.removed','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','7dc604bd-b479-4fff-8f85-db9b7d9e3637','removed','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{"group":"confluence-finance","provider":"jira"}','92e1f2c629e74d503825bf51c6f3da7d2f657f7412fe180dec77cdb1f15c3204','c9d42453792b285fedd742ad3f1a8605ea3d90972b9e27f891ad4050ab8ee855');
INSERT INTO audit_events VALUES(16,'0aa45c3c-4e8b-46ee-85ac-80979b4c3da8',1795424400000,'system','alert.raised','alice@example.com','confluence-finance','e3ce7ada-488d-4bdd-abce-f95ba2837b9b','','post to #access-log: channel_not_found','short internal access is automatic','a0cd0870-b582-493e-b1c1-9e85652e9cd1','{}','c9d42453792b285fedd742ad3f1a8605ea3d90972b9e27f891ad4050ab8ee855','ea94461ccf830772b01776b4699fc2849457abf40f1f753de54f8ce03293dbb9');
CREATE TABLE accounts (
    provider   TEXT NOT NULL,
    email      TEXT NOT NULL,
    account_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (provider, email)
);
CREATE TABLE dryrun_members (
    provider TEXT NOT NULL,
    grp      TEXT NOT NULL,
    person   TEXT NOT NULL,
    PRIMARY KEY (provider, grp, person)
);
INSERT INTO dryrun_members VALUES('jira','confluence-finance','erin@partner.io');
CREATE TABLE dryrun_ops (
    seq      INTEGER PRIMARY KEY,
    op       TEXT    NOT NULL,
    provider TEXT    NOT NULL,
    grp      TEXT    NOT NULL,
    person   TEXT    NOT NULL,
    at       INTEGER NOT NULL
);
INSERT INTO dryrun_ops VALUES(1,'add','jira','confluence-finance','alice@example.com',1795424400000);
INSERT INTO dryrun_ops VALUES(2,'add','jira','confluence-finance','erin@partner.io',1795424400000);
INSERT INTO dryrun_ops VALUES(3,'remove','jira','confluence-finance','alice@example.com',1795424400000);
CREATE TABLE slack_messages (
    request_id TEXT NOT NULL,
    role       TEXT NOT NULL,   -- requester | approver | channel
    user_id    TEXT NOT NULL DEFAULT '',
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL, person TEXT NOT NULL DEFAULT '', hash   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, role, channel)
);
INSERT INTO slack_messages VALUES('e3ce7ada-488d-4bdd-abce-f95ba2837b9b','requester','U0ALICE','D0ALICE','1796654568.000001','alice@example.com','b954e110f0b51a54');
INSERT INTO slack_messages VALUES('e3ce7ada-488d-4bdd-abce-f95ba2837b9b','notify:2','','#access-log','','','');
INSERT INTO slack_messages VALUES('4af86617-41e3-4973-991c-34ba29ea3761','requester','U0ERIN','D0ERIN','1796654568.000002','erin@partner.io','6e3f8498f3fee8f1');
INSERT INTO slack_messages VALUES('4af86617-41e3-4973-991c-34ba29ea3761','approver','U0BOB','D0BOB','1796654568.000003','bob@example.com','82f695cdc96b1e04');
INSERT INTO slack_messages VALUES('e3ce7ada-488d-4bdd-abce-f95ba2837b9b','notify:11','','#access-log','','','');
CREATE TABLE directory_users (
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
CREATE TABLE activity (
    account_id  TEXT    NOT NULL,
    product     TEXT    NOT NULL,
    day         INTEGER NOT NULL,   -- midnight UTC of the sync's day
    last_active INTEGER NOT NULL,   -- 0 = never used
    PRIMARY KEY (account_id, product, day)
) WITHOUT ROWID;
CREATE TABLE activity_syncs (
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
CREATE TABLE review_schedule (
    rule    TEXT PRIMARY KEY,
    spec    TEXT    NOT NULL,   -- the schedule next_at was computed from
    next_at INTEGER NOT NULL
);
CREATE TABLE review_runs (
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
CREATE TABLE review_items (
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
CREATE TABLE review_keeps (
    email   TEXT PRIMARY KEY,
    until   INTEGER NOT NULL,
    by      TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    rule    TEXT    NOT NULL DEFAULT '',
    run_id  TEXT    NOT NULL DEFAULT '',
    item_id TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE review_suspensions (
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
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('jobs',12);
CREATE INDEX requests_due_active  ON requests(ends_at)    WHERE state = 'active';
CREATE INDEX requests_due_warn    ON requests(warn_at)    WHERE state = 'active' AND warned = 0;
CREATE INDEX requests_due_pending ON requests(expires_at) WHERE state = 'pending';
CREATE INDEX requests_due_remind  ON requests(remind_at)  WHERE state = 'pending' AND reminded = 0;
CREATE INDEX requests_requester   ON requests(requester, created_at);
CREATE INDEX requests_state       ON requests(state, created_at);
CREATE INDEX grants_request ON grants(request_id);
CREATE INDEX grants_live    ON grants(provider, grp, person) WHERE state IN ('provisioning', 'active');
CREATE INDEX audit_request  ON audit_events(request_id) WHERE request_id <> '';
CREATE INDEX audit_subject  ON audit_events(subject, seq);
CREATE INDEX audit_resource ON audit_events(resource, seq);
CREATE INDEX audit_time     ON audit_events(time);
CREATE INDEX audit_grant    ON audit_events(grant_id) WHERE grant_id <> '';
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END;
CREATE INDEX accounts_by_id ON accounts(provider, account_id, updated_at);
CREATE INDEX jobs_due ON jobs(lane, run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_key ON jobs(job_key, id) WHERE state = 'pending' AND job_key <> '';
CREATE INDEX jobs_grant ON jobs(grant_id) WHERE state = 'pending' AND grant_id <> '';
CREATE INDEX slack_messages_at ON slack_messages(channel, ts);
CREATE INDEX requests_due_started ON requests(ends_at) WHERE state = 'approved' AND ends_at > 0;
CREATE INDEX directory_users_email      ON directory_users(email) WHERE email <> '';
CREATE INDEX directory_users_department ON directory_users(department, email);
CREATE INDEX activity_day ON activity(day);
CREATE INDEX review_runs_rule ON review_runs(rule, started_at);
CREATE INDEX review_runs_live ON review_runs(state) WHERE state IN ('running', 'open');
CREATE INDEX review_items_state   ON review_items(run_id, state);
CREATE INDEX review_items_answer  ON review_items(answer_by)  WHERE state = 'pending' AND answer_by > 0;
CREATE INDEX review_items_suspend ON review_items(suspend_at) WHERE state = 'warned';
CREATE INDEX review_items_open    ON review_items(person_key) WHERE state IN ('pending', 'warned', 'suspending');
CREATE INDEX review_items_manager ON review_items(manager, run_id);
CREATE INDEX review_items_email   ON review_items(email, created_at);
CREATE UNIQUE INDEX review_suspensions_item ON review_suspensions(item_id) WHERE item_id <> '';
CREATE INDEX review_suspensions_email ON review_suspensions(email, recorded_at);
COMMIT;
