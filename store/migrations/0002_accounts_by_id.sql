-- jitbot schema v2: reverse account lookup (account id → email), for
-- provider members whose email the provider hides.

CREATE INDEX accounts_by_id ON accounts(provider, account_id, updated_at);
