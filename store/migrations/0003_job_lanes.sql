-- jitbot schema v3: outbox lanes. Access changes and messages are worked by
-- separate pools of workers; jobs that share a key run one at a time, in
-- order; a worker's claim on a job is a lease, so that a job whose worker
-- died is taken up again when the lease runs out.

ALTER TABLE jobs RENAME COLUMN payload TO note;
ALTER TABLE jobs ADD COLUMN lane        TEXT    NOT NULL DEFAULT 'access';
ALTER TABLE jobs ADD COLUMN job_key     TEXT    NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN ref         TEXT    NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_owner TEXT    NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;

UPDATE jobs SET lane = 'message', job_key = 'request:' || request_id WHERE kind = 'notify';
UPDATE jobs SET job_key = COALESCE((SELECT 'membership:' || g.provider || '|' || g.grp || '|' || g.person
                                    FROM grants g WHERE g.id = jobs.grant_id), '')
 WHERE kind IN ('provision', 'revoke') AND grant_id <> '';

DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs(lane, run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_key ON jobs(job_key, id) WHERE state = 'pending' AND job_key <> '';
CREATE INDEX jobs_grant ON jobs(grant_id) WHERE state = 'pending' AND grant_id <> '';

-- Slack messages: who a message is for (the directory email, so that a card
-- is brought up to date without asking Slack who its owner is), the hash of
-- what was last sent (an update that changes nothing is not sent), and a
-- lookup by message, for the pages that list several requests at once.
ALTER TABLE slack_messages ADD COLUMN person TEXT NOT NULL DEFAULT '';
ALTER TABLE slack_messages ADD COLUMN hash   TEXT NOT NULL DEFAULT '';
CREATE INDEX slack_messages_at ON slack_messages(channel, ts);
