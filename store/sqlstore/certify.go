package sqlstore

import (
	"context"
	"slices"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
)

// The certifications' persistence (schema: migrations 0008 and 0009 on both engines),
// on the approvals engine's transactions like the licence review's.

var _ certify.Store = (*Store)(nil)

// UpdateCert runs fn in one write transaction of the engine.
func (s *Store) UpdateCert(ctx context.Context, fn func(tx certify.Tx) error) error {
	return s.Engine.Update(ctx, func(tx approvals.Tx) error { return fn(tx.(certify.Tx)) })
}

// ViewCert runs fn in a read transaction on a consistent snapshot.
func (s *Store) ViewCert(ctx context.Context, fn func(tx certify.Tx) error) error {
	return s.Engine.View(ctx, func(tx approvals.Tx) error { return fn(tx.(certify.Tx)) })
}

// NextCampaign returns a rule's next campaign.
func (t *Tx) NextCampaign(rule string) (string, time.Time, bool, error) {
	return t.nextAt("cert_schedule", rule)
}

// SetNextCampaign stores a rule's next campaign.
func (t *Tx) SetNextCampaign(rule, spec string, at time.Time) error {
	return t.setNextAt("cert_schedule", rule, spec, at)
}

const campaignCols = `id, rule, state, trigger, started_at, answer_by, closed_at, version`

func scanCampaign(s Scanner) (*certify.Campaign, error) {
	var (
		c                 certify.Campaign
		state             string
		start, by, closed int64
	)
	if err := s.Scan(&c.ID, &c.Rule, &state, &c.Trigger, &start, &by, &closed, &c.Version); err != nil {
		return nil, err
	}
	c.State = certify.CampaignState(state)
	c.StartedAt, c.AnswerBy, c.ClosedAt = fromMS(start), fromMS(by), fromMS(closed)
	return &c, nil
}

// InsertCampaign stores a new campaign.
func (t *Tx) InsertCampaign(c *certify.Campaign) error {
	_, err := t.exec(`INSERT INTO cert_campaigns (`+campaignCols+`) VALUES (?,?,?,?,?,?,?,?)`,
		c.ID, c.Rule, string(c.State), c.Trigger, ms(c.StartedAt), ms(c.AnswerBy), ms(c.ClosedAt), c.Version)
	return err
}

// GetCampaign returns a campaign by id or unambiguous prefix.
func (t *Tx) GetCampaign(id string) (*certify.Campaign, error) {
	return byID(t, "cert_campaigns", campaignCols, scanCampaign, id)
}

// UpdateCampaign writes c when it is still in state from at c.Version.
func (t *Tx) UpdateCampaign(c *certify.Campaign, from certify.CampaignState) error {
	return bumped(&c.Version, t.casExec(`UPDATE cert_campaigns SET state=?, closed_at=?, version=version+1 WHERE id=? AND state=? AND version=?`,
		string(c.State), ms(c.ClosedAt), c.ID, string(from), c.Version))
}

// Campaigns lists campaigns, newest first.
func (t *Tx) Campaigns(cf certify.CampaignFilter) ([]*certify.Campaign, error) {
	var f filter
	f.eq("rule", cf.Rule)
	in(&f, "state", cf.States)
	return queryAll(t, scanCampaign, f.sql(`SELECT `+campaignCols+` FROM cert_campaigns`, `started_at DESC, id COLLATE "C"`, cf.Limit), f.args...)
}

const certItemCols = `id, campaign_id, rule, resource, provider, grp, person, reviewer, state, answer, reason, decided_by,
	decided_at, defaulted, escalate_at, escalated, answer_by, member_since, last_active, ever_jit, standing, in_directory, note, version,
	unescalated`

func scanCertItem(s Scanner) (*certify.Item, error) {
	var (
		it                                          certify.Item
		state                                       string
		decided, escAt, answerBy, since, lastActive int64
	)
	if err := s.Scan(&it.ID, &it.CampaignID, &it.Rule, &it.Resource, &it.Provider, &it.Group, &it.Person, &it.Reviewer,
		&state, &it.Answer, &it.Reason, &it.DecidedBy, &decided, &it.Defaulted, &escAt, &it.Escalated, &answerBy,
		&since, &lastActive, &it.EverJIT, &it.Standing, &it.InDirectory, &it.Note, &it.Version, &it.Unescalated); err != nil {
		return nil, err
	}
	it.State = certify.ItemState(state)
	it.DecidedAt, it.EscalateAt, it.AnswerBy = fromMS(decided), fromMS(escAt), fromMS(answerBy)
	it.MemberSince, it.LastActive = fromMS(since), fromMS(lastActive)
	return &it, nil
}

// InsertCertItems adds items, skipping any whose campaign already has one
// for the same membership.
func (t *Tx) InsertCertItems(items []*certify.Item) ([]bool, error) {
	out := make([]bool, len(items))
	for i, it := range items {
		n, err := t.exec(`INSERT INTO cert_items (`+certItemCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (campaign_id, provider, grp, person) DO NOTHING`,
			it.ID, it.CampaignID, it.Rule, it.Resource, it.Provider, it.Group, it.Person, it.Reviewer, string(it.State),
			it.Answer, it.Reason, it.DecidedBy, ms(it.DecidedAt), it.Defaulted, ms(it.EscalateAt), it.Escalated, ms(it.AnswerBy),
			ms(it.MemberSince), ms(it.LastActive), it.EverJIT, it.Standing, it.InDirectory, it.Note, it.Version, it.Unescalated)
		if err != nil {
			return nil, err
		}
		out[i] = n == 1
	}
	return out, nil
}

// GetCertItem returns an item by id or unambiguous prefix.
func (t *Tx) GetCertItem(id string) (*certify.Item, error) {
	return byID(t, "cert_items", certItemCols, scanCertItem, id)
}

// UpdateCertItem writes it when it is still in state from at it.Version.
func (t *Tx) UpdateCertItem(it *certify.Item, from certify.ItemState) error {
	return bumped(&it.Version, t.casExec(`UPDATE cert_items SET state=?, answer=?, reason=?, decided_by=?, decided_at=?, defaulted=?, escalated=?,
		unescalated=?, note=?, version=version+1 WHERE id=? AND state=? AND version=?`,
		string(it.State), it.Answer, it.Reason, it.DecidedBy, ms(it.DecidedAt), it.Defaulted, it.Escalated, it.Unescalated, it.Note,
		it.ID, string(from), it.Version))
}

// CertItems lists items matching f, by group then person.
func (t *Tx) CertItems(itf certify.ItemFilter) ([]*certify.Item, error) {
	var f filter
	f.eq("campaign_id", itf.CampaignID)
	if itf.Reviewer != nil {
		f.add("reviewer = ?", *itf.Reviewer)
	}
	in(&f, "state", itf.States)
	return queryAll(t, scanCertItem, f.sql(`SELECT `+certItemCols+` FROM cert_items`,
		`provider COLLATE "C", grp COLLATE "C", person COLLATE "C", campaign_id COLLATE "C"`, itf.Limit), f.args...)
}

// DueCertItems returns pending items to escalate or default at now.
func (t *Tx) DueCertItems(now time.Time, limit int) ([]*certify.Item, error) {
	return queryAll(t, scanCertItem, `SELECT `+certItemCols+` FROM cert_items WHERE state = 'pending'
		AND (answer_by <= ? OR (escalated = false AND escalate_at > 0 AND escalate_at <= ?)) ORDER BY answer_by, id COLLATE "C" LIMIT ?`,
		ms(now), ms(now), limit)
}

// NextCertDeadline returns the earliest escalation or deadline of a pending item.
func (t *Tx) NextCertDeadline() (time.Time, bool, error) {
	var at *int64
	err := t.queryRow(`SELECT min(CASE WHEN escalated = false AND escalate_at > 0 AND escalate_at < answer_by THEN escalate_at ELSE answer_by END)
		FROM cert_items WHERE state = 'pending'`).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, false, err
	}
	return fromMS(*at), true, nil
}

// StandingSeen returns when each standing member of a group was first seen.
func (t *Tx) StandingSeen(provider, group string) (map[string]time.Time, error) {
	return t.timesByKey(`SELECT person, first_seen FROM standing_seen WHERE provider = ? AND grp = ?`, provider, group)
}

// MarkStandingSeen records people as seen at at, unless seen before.
func (t *Tx) MarkStandingSeen(provider, group string, people []string, at time.Time) error {
	for _, p := range people {
		if _, err := t.exec(`INSERT INTO standing_seen (provider, grp, person, first_seen) VALUES (?,?,?,?)
			ON CONFLICT (provider, grp, person) DO NOTHING`, provider, group, p, ms(at)); err != nil {
			return err
		}
	}
	return nil
}

// EverGranted returns the people who have had a grant of the group.
func (t *Tx) EverGranted(provider, group string) (map[string]bool, error) {
	out := map[string]bool{}
	err := t.eachRow(func(s Scanner) error {
		var p string
		if err := s.Scan(&p); err != nil {
			return err
		}
		out[p] = true
		return nil
	}, `SELECT DISTINCT person FROM grants WHERE provider = ? AND grp = ?`, provider, group)
	return out, err
}

// LastActive returns the latest product activity the directory sync saw
// for each email it knows, reading 500 emails a query.
func (t *Tx) LastActive(emails []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for batch := range slices.Chunk(emails, 500) {
		args := make([]any, len(batch))
		for i, e := range batch {
			args[i] = e
		}
		err := t.eachRow(func(s Scanner) error {
			var email, products string
			if err := s.Scan(&email, &products); err != nil {
				return err
			}
			for _, p := range decodeProducts(products, nil) {
				if p.LastActive.After(out[email]) {
					out[email] = p.LastActive
				}
			}
			return nil
		}, `SELECT email, products FROM directory_users WHERE email IN (`+placeholders(len(batch))+`)`, args...)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
