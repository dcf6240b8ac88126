-- jitbot PostgreSQL schema v2: the SQLite schema's version 4 (integrity).
--
-- allow_repeat: the rule lets an approver of an earlier step approve a later
-- one too (by default one person is never two approvers).
ALTER TABLE requests ADD COLUMN allow_repeat boolean NOT NULL DEFAULT false;

-- A bundle's clock starts at its first membership: an approved request whose
-- other memberships are still being added can be due.
CREATE INDEX requests_due_started ON requests(ends_at) WHERE state = 'approved' AND ends_at > 0;

-- claims: how many times a job was taken by a worker.
ALTER TABLE jobs ADD COLUMN claims integer NOT NULL DEFAULT 0;
