-- jitbot schema v4: integrity.
--
-- allow_repeat: the rule lets an approver of an earlier step approve a later
-- one too (by default one person is never two approvers).
ALTER TABLE requests ADD COLUMN allow_repeat INTEGER NOT NULL DEFAULT 0;

-- A bundle's clock starts at its first membership: an approved request whose
-- other memberships are still being added can be due.
CREATE INDEX requests_due_started ON requests(ends_at) WHERE state = 'approved' AND ends_at > 0;

-- claims: how many times a job was taken by a worker. A provisioning job
-- taken again after a crash may find a membership an earlier attempt added.
ALTER TABLE jobs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
