-- jitbot schema v9: a certification item remembers the escalate_to terms
-- that named nobody when it was escalated, with why ('' when every term
-- named someone), so the campaign's report shows it unescalated.
ALTER TABLE cert_items ADD COLUMN unescalated TEXT NOT NULL DEFAULT '';
