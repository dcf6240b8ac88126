package sqlstore

import (
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

// The licence review's items, Keep answers and suspension records.

// ---- items ----

const itemCols = `id, run_id, rule, person_key, account_id, email, name, department, manager, unassigned, idp_managed,
	products, inactive_since, never_used, finding, state, would, decided_by, reason, decided_at, done_at, answer_by,
	suspend_at, keep_request, keep_requested_at, created_at, updated_at, version`

func scanItem(s Scanner) (*review.Item, error) {
	var (
		it                                                    review.Item
		products, state                                       string
		since, decided, done, answerBy, suspendAt, keepAt, cr int64
		up                                                    int64
	)
	if err := s.Scan(&it.ID, &it.RunID, &it.Rule, &it.PersonKey, &it.AccountID, &it.Email, &it.Name, &it.Department,
		&it.Manager, &it.Unassigned, &it.IdPManaged, &products, &since, &it.NeverUsed, &it.Finding, &state, &it.Would,
		&it.DecidedBy, &it.Reason, &decided, &done, &answerBy, &suspendAt, &it.KeepRequest, &keepAt, &cr, &up, &it.Version); err != nil {
		return nil, err
	}
	it.State = review.ItemState(state)
	it.InactiveSince, it.DecidedAt, it.DoneAt = fromMS(since), fromMS(decided), fromMS(done)
	it.AnswerBy, it.SuspendAt, it.KeepRequestedAt = fromMS(answerBy), fromMS(suspendAt), fromMS(keepAt)
	it.CreatedAt, it.UpdatedAt = fromMS(cr), fromMS(up)
	return &it, fromJSON(products, &it.Products)
}

const insertItem = `INSERT INTO review_items (` + itemCols + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (run_id, person_key) DO NOTHING`

// InsertItems adds items, skipping any whose run already has one for the
// same person; inserted[i] says whether items[i] was added.
func (t *Tx) InsertItems(items []*review.Item) ([]bool, error) {
	out := make([]bool, len(items))
	for i, it := range items {
		products := it.Products
		if products == nil {
			products = []review.ProductActivity{}
		}
		n, err := t.exec(insertItem, it.ID, it.RunID, it.Rule, it.PersonKey, it.AccountID, it.Email, it.Name, it.Department,
			it.Manager, it.Unassigned, it.IdPManaged, jsonText(products), ms(it.InactiveSince), it.NeverUsed, it.Finding,
			string(it.State), it.Would, it.DecidedBy, it.Reason, ms(it.DecidedAt), ms(it.DoneAt), ms(it.AnswerBy), ms(it.SuspendAt),
			it.KeepRequest, ms(it.KeepRequestedAt), ms(it.CreatedAt), ms(it.UpdatedAt), it.Version)
		if err != nil {
			return nil, err
		}
		out[i] = n == 1
	}
	return out, nil
}

// AppendEvents appends events to the audit chain in order, as Append does.
func (t *Tx) AppendEvents(events []*approvals.Event) error {
	for _, e := range events {
		if err := t.Append(e); err != nil {
			return err
		}
	}
	return nil
}

// GetItem returns an item by id or unambiguous prefix.
func (t *Tx) GetItem(id string) (*review.Item, error) {
	return byID(t, "review_items", itemCols, scanItem, id)
}

// UpdateItem writes the mutable fields of it when it is still in state
// from at it.Version.
func (t *Tx) UpdateItem(it *review.Item, from review.ItemState) error {
	now := t.Now()
	err := t.casExec(`UPDATE review_items SET state=?, finding=?, would=?, decided_by=?, reason=?, decided_at=?, done_at=?, answer_by=?,
		suspend_at=?, keep_request=?, keep_requested_at=?, updated_at=?, version=version+1
		WHERE id=? AND state=? AND version=?`,
		string(it.State), it.Finding, it.Would, it.DecidedBy, it.Reason, ms(it.DecidedAt), ms(it.DoneAt), ms(it.AnswerBy), ms(it.SuspendAt),
		it.KeepRequest, ms(it.KeepRequestedAt), ms(now), it.ID, string(from), it.Version)
	if err == nil {
		it.Version++
		it.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	}
	return err
}

// Items lists items matching f, by run then person.
func (t *Tx) Items(itf review.ItemFilter) ([]*review.Item, error) {
	var f filter
	if itf.RunID != "" {
		f.add("i.run_id = ?", itf.RunID)
	}
	if itf.Manager != nil {
		f.add("i.manager = ?", strings.ToLower(*itf.Manager))
	}
	if itf.Email != "" {
		f.add("i.email = ?", strings.ToLower(itf.Email))
	}
	in(&f, "i.state", itf.States)
	if itf.OpenRun {
		f.add("i.run_id IN (SELECT id FROM review_runs WHERE state IN ('running', 'open'))")
	}
	return queryAll(t, scanItem, f.sql(`SELECT `+itemCols+` FROM review_items i`,
		`i.created_at, i.email COLLATE "C", i.person_key COLLATE "C"`, itf.Limit), f.args...)
}

// OpenPeople returns the person keys with an open item in any run.
func (t *Tx) OpenPeople() (map[string]bool, error) {
	out := map[string]bool{}
	return out, t.eachRow(func(s Scanner) error {
		var k string
		err := s.Scan(&k)
		out[k] = true
		return err
	}, `SELECT person_key FROM review_items INDEXED BY review_items_open
		WHERE state IN ('pending', 'warned', 'suspending')`)
}

// ItemCounts counts a run's items by state.
func (t *Tx) ItemCounts(runID string) (map[review.ItemState]int, error) {
	out := map[review.ItemState]int{}
	return out, t.eachRow(func(s Scanner) error {
		var (
			st string
			n  int
		)
		err := s.Scan(&st, &n)
		out[review.ItemState(st)] = n
		return err
	}, `SELECT state, count(*) FROM review_items WHERE run_id = ? GROUP BY state`, runID)
}

// PromptManagers returns the distinct managers of a run's pending items.
func (t *Tx) PromptManagers(runID string) ([]string, error) {
	return queryAll(t, scanString,
		`SELECT manager FROM review_items WHERE run_id = ? AND state = 'pending' GROUP BY manager ORDER BY manager COLLATE "C"`, runID)
}

func scanString(s Scanner) (string, error) {
	var v string
	err := s.Scan(&v)
	return v, err
}

// DueItems returns pending items past their answer deadline and warned
// items past their suspension time; each term reads a partial index.
func (t *Tx) DueItems(now time.Time, limit int) ([]*review.Item, error) {
	return queryAll(t, scanItem, `SELECT `+itemCols+` FROM (
		SELECT * FROM review_items INDEXED BY review_items_answer WHERE state = 'pending' AND answer_by > 0 AND answer_by <= ?1
		UNION ALL
		SELECT * FROM review_items INDEXED BY review_items_suspend WHERE state = 'warned' AND suspend_at <= ?1) AS due
		ORDER BY created_at, id COLLATE "C" LIMIT ?2`, ms(now), limit)
}

// NextItemDeadline returns the earliest answer or suspension deadline.
func (t *Tx) NextItemDeadline() (time.Time, bool, error) {
	var v *int64
	err := t.queryRow(`SELECT min(x) FROM (
		SELECT min(answer_by) AS x FROM review_items INDEXED BY review_items_answer WHERE state = 'pending' AND answer_by > 0
		UNION ALL SELECT min(suspend_at) FROM review_items INDEXED BY review_items_suspend WHERE state = 'warned') AS d`).Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, false, err
	}
	return fromMS(*v), true, nil
}

// ---- keeps ----

// Keeps returns the Keep answers still in force at now, by email.
func (t *Tx) Keeps(now time.Time) (map[string]*review.Keep, error) {
	out := map[string]*review.Keep{}
	return out, t.eachRow(func(s Scanner) error {
		var (
			k         review.Keep
			until, at int64
		)
		err := s.Scan(&k.Email, &until, &k.By, &k.Reason, &at, &k.Rule, &k.RunID, &k.ItemID)
		k.Until, k.At = fromMS(until), fromMS(at)
		out[k.Email] = &k
		return err
	}, `SELECT email, until, by, reason, at, rule, run_id, item_id FROM review_keeps WHERE until > ?`, ms(now))
}

// PutKeep records (or replaces) a person's Keep.
func (t *Tx) PutKeep(k *review.Keep) error {
	_, err := t.exec(`INSERT INTO review_keeps (email, until, by, reason, at, rule, run_id, item_id) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (email) DO UPDATE SET until=excluded.until, by=excluded.by, reason=excluded.reason, at=excluded.at,
		rule=excluded.rule, run_id=excluded.run_id, item_id=excluded.item_id`,
		strings.ToLower(k.Email), ms(k.Until), k.By, k.Reason, ms(k.At), k.Rule, k.RunID, k.ItemID)
	return err
}

// ---- suspensions ----

const suspensionCols = `id, email, account_id, item_id, run_id, rule, state, groups, roles, roles_read, decided_by, reason,
	recorded_at, suspended_at, restored_at, restored_by, restore`

func scanSuspension(s Scanner) (*review.Suspension, error) {
	var (
		r                             review.Suspension
		state, groups, roles, restore string
		recorded, suspended, restored int64
	)
	if err := s.Scan(&r.ID, &r.Email, &r.AccountID, &r.ItemID, &r.RunID, &r.Rule, &state, &groups, &roles, &r.RolesRead,
		&r.DecidedBy, &r.Reason, &recorded, &suspended, &restored, &r.RestoredBy, &restore); err != nil {
		return nil, err
	}
	r.State = review.SuspensionState(state)
	r.RecordedAt, r.SuspendedAt, r.RestoredAt = fromMS(recorded), fromMS(suspended), fromMS(restored)
	if restore != "" {
		r.Restore = &review.RestoreReport{}
		if err := fromJSON(restore, r.Restore); err != nil {
			return nil, err
		}
	}
	return &r, fromJSON(groups, &r.Groups, roles, &r.Roles)
}

func suspensionArgs(s *review.Suspension) []any {
	groups, roles := s.Groups, s.Roles
	if groups == nil {
		groups = []review.Group{}
	}
	if roles == nil {
		roles = []string{}
	}
	restore := ""
	if s.Restore != nil {
		restore = jsonText(s.Restore)
	}
	return []any{s.ID, strings.ToLower(s.Email), s.AccountID, s.ItemID, s.RunID, s.Rule, string(s.State), jsonText(groups),
		jsonText(roles), s.RolesRead, s.DecidedBy, s.Reason, ms(s.RecordedAt), ms(s.SuspendedAt), ms(s.RestoredAt),
		s.RestoredBy, restore}
}

// InsertSuspension stores a new suspension record.
func (t *Tx) InsertSuspension(s *review.Suspension) error {
	_, err := t.exec(`INSERT INTO review_suspensions (`+suspensionCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, suspensionArgs(s)...)
	return err
}

// UpdateSuspension rewrites a suspension record.
func (t *Tx) UpdateSuspension(s *review.Suspension) error {
	args := suspensionArgs(s)
	return t.casExec(`UPDATE review_suspensions SET state=?, groups=?, roles=?, roles_read=?, suspended_at=?, restored_at=?,
		restored_by=?, restore=? WHERE id=?`, args[6], args[7], args[8], args[9], args[13], args[14], args[15], args[16], s.ID)
}

func (t *Tx) oneSuspension(where string, arg any) (*review.Suspension, error) {
	s, err := scanSuspension(t.queryRow(`SELECT `+suspensionCols+` FROM review_suspensions WHERE `+where+
		` ORDER BY recorded_at DESC, `+t.D.InsertOrder+` DESC LIMIT 1`, arg))
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	return s, err
}

// SuspensionOfItem returns the suspension record of an item.
func (t *Tx) SuspensionOfItem(itemID string) (*review.Suspension, error) {
	return t.oneSuspension("item_id = ?", itemID)
}

// LatestSuspension returns the newest suspension record of a person that
// holds memberships (suspended or restored), or any newest one.
func (t *Tx) LatestSuspension(email string) (*review.Suspension, error) {
	return t.oneSuspension("email = ? AND state <> 'refused'", strings.ToLower(strings.TrimSpace(email)))
}

// Restores returns each restored person's last restore time.
func (t *Tx) Restores() (map[string]time.Time, error) {
	return t.timesByKey(`SELECT email, max(restored_at) FROM review_suspensions WHERE restored_at > 0 GROUP BY email`)
}
