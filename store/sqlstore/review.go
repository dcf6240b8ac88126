package sqlstore

import (
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

// The licence review's persistence (schema: SQLite's migration 0005,
// PostgreSQL's 0003). A review transaction is the same Tx as the approvals
// engine's, on the same write connection, so it can enqueue outbox jobs
// and append audit events beside its own writes.

// ---- directory and activity ----

// encodeProducts packs the latest activity as key=ms;key=ms: the review
// reads 100,000 of these per run, so no JSON.
func encodeProducts(ps []review.ProductActivity) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(ms(p.LastActive), 10))
	}
	return b.String()
}

func decodeProducts(s string, into []review.ProductActivity) []review.ProductActivity {
	into = into[:0]
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, ";")
		k, v, _ := strings.Cut(part, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		into = append(into, review.ProductActivity{Key: k, LastActive: fromMS(n)})
	}
	return into
}

const (
	upsertUser = `INSERT INTO directory_users (account_id, email, name, account_type, account_status,
	membership_status, management_source, claim_status, department, job_title, added_to_org, products, groups, first_seen, last_seen, gone)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,false)
	ON CONFLICT (account_id) DO UPDATE SET email=excluded.email, name=excluded.name, account_type=excluded.account_type,
	account_status=excluded.account_status, membership_status=excluded.membership_status,
	management_source=excluded.management_source, claim_status=excluded.claim_status, department=excluded.department,
	job_title=excluded.job_title, added_to_org=excluded.added_to_org, products=excluded.products,
	groups=CASE WHEN excluded.groups = '' AND ? THEN directory_users.groups ELSE excluded.groups END,
	last_seen=excluded.last_seen, gone=false
	WHERE excluded.last_seen >= directory_users.last_seen`
	upsertActivity = `INSERT INTO activity (account_id, product, day, last_active) VALUES (?,?,?,?)
	ON CONFLICT (account_id, product, day) DO UPDATE SET last_active=CASE
		WHEN excluded.last_active > activity.last_active THEN excluded.last_active ELSE activity.last_active END`
)

// PutUsers stores a page of users and today's activity snapshots.
func (t *Tx) PutUsers(users []review.DirectoryUser, seenAt time.Time) (int, error) {
	d := ms(review.Day(seenAt))
	seen := ms(seenAt)
	n := 0
	for i := range users {
		u := &users[i]
		if u.AccountID == "" {
			continue
		}
		groups := strings.Join(u.Groups, "\n")
		if _, err := t.exec(upsertUser, u.AccountID, strings.ToLower(u.Email), u.Name, u.AccountType, u.AccountStatus,
			u.MembershipStatus, u.ManagementSource, u.ClaimStatus, u.Department, u.JobTitle, ms(u.AddedToOrg),
			encodeProducts(u.Products), groups, seen, seen, u.Groups == nil); err != nil {
			return n, err
		}
		for _, p := range u.Products {
			if _, err := t.exec(upsertActivity, u.AccountID, p.Key, d, ms(p.LastActive)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// MarkGone flags users not seen since seenBefore.
func (t *Tx) MarkGone(seenBefore time.Time) (int, error) {
	n, err := t.exec(`UPDATE directory_users SET gone=true WHERE last_seen < ? AND NOT gone`, ms(seenBefore))
	return int(n), err
}

// PruneActivity deletes the snapshots of days before before.
func (t *Tx) PruneActivity(before time.Time) (int64, error) {
	return t.exec(`DELETE FROM activity WHERE day < ?`, ms(before))
}

// InsertSync records the start of a sync; s.ID is set.
func (t *Tx) InsertSync(s *review.SyncRecord) error {
	return t.queryRow(`INSERT INTO activity_syncs (started_at) VALUES (?) RETURNING id`, ms(s.StartedAt)).Scan(&s.ID)
}

// FinishSync records how a sync ended.
func (t *Tx) FinishSync(s *review.SyncRecord) error {
	return t.casExec(`UPDATE activity_syncs SET finished_at=?, users=?, pages=?, snapshots=?, gone=?, pruned=?, error=? WHERE id=?`,
		ms(s.FinishedAt), s.Users, s.Pages, s.Snapshots, s.Gone, s.Pruned, s.Error, s.ID)
}

// LastSync returns the newest finished sync without an error.
func (t *Tx) LastSync() (*review.SyncRecord, error) {
	var (
		s                 review.SyncRecord
		started, finished int64
	)
	err := t.queryRow(`SELECT id, started_at, finished_at, users, pages, snapshots, gone, pruned, error
		FROM activity_syncs WHERE finished_at > 0 AND error = '' ORDER BY id DESC LIMIT 1`).Scan(
		&s.ID, &started, &finished, &s.Users, &s.Pages, &s.Snapshots, &s.Gone, &s.Pruned, &s.Error)
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	s.StartedAt, s.FinishedAt = fromMS(started), fromMS(finished)
	return &s, err
}

// CountUsers counts the stored users not gone.
func (t *Tx) CountUsers() (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM directory_users WHERE NOT gone`).Scan(&n)
	return n, err
}

const userCols = `account_id, email, name, account_type, account_status, membership_status, management_source, claim_status,
	department, job_title, added_to_org, products, groups, first_seen, last_seen, gone`

// scanUser reads a user row into u, reusing its slices.
func scanUser(s Scanner, u *review.User) error {
	var (
		added, first, last int64
		products, groups   string
	)
	if err := s.Scan(&u.AccountID, &u.Email, &u.Name, &u.AccountType, &u.AccountStatus, &u.MembershipStatus,
		&u.ManagementSource, &u.ClaimStatus, &u.Department, &u.JobTitle, &added, &products, &groups, &first, &last, &u.Gone); err != nil {
		return err
	}
	u.AddedToOrg, u.FirstSeen, u.LastSeen = fromMS(added), fromMS(first), fromMS(last)
	u.Products = decodeProducts(products, u.Products)
	u.Groups = u.Groups[:0]
	if groups != "" {
		u.Groups = append(u.Groups, strings.Split(groups, "\n")...)
	}
	return nil
}

// EachUser calls fn for every stored user in account id order, reusing one
// *User. It reads pages of eachUserPage users by key, so that fn may use the
// transaction (a PostgreSQL connection runs one statement at a time) and
// memory stays flat however large the directory is.
func (t *Tx) EachUser(fn func(u *review.User) error) error {
	var (
		after = ""
		page  []review.User
	)
	for {
		page = page[:0]
		err := t.eachRow(func(s Scanner) error {
			page = append(page, review.User{})
			return scanUser(s, &page[len(page)-1])
		}, `SELECT `+userCols+` FROM directory_users WHERE account_id COLLATE "C" > ? ORDER BY account_id COLLATE "C" LIMIT ?`,
			after, eachUserPage)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < eachUserPage {
			return nil
		}
		after = page[len(page)-1].AccountID
	}
}

// eachUserPage is how many users EachUser reads at a time.
const eachUserPage = 1000

func (t *Tx) oneUser(where string, arg any) (*review.User, error) {
	var u review.User
	err := scanUser(t.queryRow(`SELECT `+userCols+` FROM directory_users WHERE `+where+
		` ORDER BY gone, last_seen DESC, account_id COLLATE "C" LIMIT 1`, arg), &u)
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	return &u, err
}

// UserByEmail returns the user with email (the one seen last if several).
func (t *Tx) UserByEmail(email string) (*review.User, error) {
	return t.oneUser("email = ?", strings.ToLower(strings.TrimSpace(email)))
}

// UserByAccount returns the user with an account id.
func (t *Tx) UserByAccount(accountID string) (*review.User, error) {
	return t.oneUser("account_id = ?", accountID)
}

// Activity returns a user's snapshots from since on, by product and day.
func (t *Tx) Activity(accountID string, since time.Time) ([]review.Snapshot, error) {
	return queryAll(t, func(s Scanner) (review.Snapshot, error) {
		var (
			v         review.Snapshot
			day, last int64
		)
		err := s.Scan(&v.Product, &day, &last)
		v.Day, v.LastActive = fromMS(day), fromMS(last)
		return v, err
	}, `SELECT product, day, last_active FROM activity WHERE account_id = ? AND day >= ? ORDER BY day, product COLLATE "C"`,
		accountID, ms(review.Day(since)))
}

// ---- schedule ----

// NextRun returns a rule's stored next run.
func (t *Tx) NextRun(rule string) (string, time.Time, bool, error) {
	return t.nextAt("review_schedule", rule)
}

// SetNextRun stores a rule's next run.
func (t *Tx) SetNextRun(rule, spec string, at time.Time) error {
	return t.setNextAt("review_schedule", rule, spec, at)
}

// nextAt reads a rule's row of a schedule table (the review's, the
// certifications'): the spec its next time was computed from, and that time.
func (t *Tx) nextAt(table, rule string) (string, time.Time, bool, error) {
	var (
		spec string
		at   int64
	)
	err := t.queryRow(`SELECT spec, next_at FROM `+table+` WHERE rule = ?`, rule).Scan(&spec, &at)
	if noRows(err) {
		return "", time.Time{}, false, nil
	}
	return spec, fromMS(at), err == nil, err
}

// setNextAt writes a rule's row of a schedule table.
func (t *Tx) setNextAt(table, rule, spec string, at time.Time) error {
	_, err := t.exec(`INSERT INTO `+table+` (rule, spec, next_at) VALUES (?,?,?)
		ON CONFLICT (rule) DO UPDATE SET spec=excluded.spec, next_at=excluded.next_at`, rule, spec, ms(at))
	return err
}

// NextRuns returns every stored next run by rule.
func (t *Tx) NextRuns() (map[string]time.Time, error) {
	return t.timesByKey(`SELECT rule, next_at FROM review_schedule`)
}

// timesByKey reads rows of a key and a time (Unix milliseconds) into a map.
func (t *Tx) timesByKey(q string, args ...any) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	return out, t.eachRow(func(s Scanner) error {
		var (
			key string
			at  int64
		)
		err := s.Scan(&key, &at)
		out[key] = fromMS(at)
		return err
	}, q, args...)
}

// ---- runs ----

const runCols = `id, rule, state, trigger, dry_run, as_of, started_at, finished_at, closed_at, settings, counts, error, version`

func scanRun(s Scanner) (*review.Run, error) {
	var (
		r                                 review.Run
		state, settings, counts           string
		asOf, started, finished, closedAt int64
	)
	if err := s.Scan(&r.ID, &r.Rule, &state, &r.Trigger, &r.DryRun, &asOf, &started, &finished, &closedAt,
		&settings, &counts, &r.Error, &r.Version); err != nil {
		return nil, err
	}
	r.State = review.RunState(state)
	r.AsOf, r.StartedAt, r.FinishedAt, r.ClosedAt = fromMS(asOf), fromMS(started), fromMS(finished), fromMS(closedAt)
	return &r, fromJSON(settings, &r.Settings, counts, &r.Counts)
}

// InsertRun stores a new run.
func (t *Tx) InsertRun(r *review.Run) error {
	_, err := t.exec(`INSERT INTO review_runs (`+runCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Rule, string(r.State), r.Trigger, r.DryRun, ms(r.AsOf), ms(r.StartedAt), ms(r.FinishedAt), ms(r.ClosedAt),
		jsonText(r.Settings), jsonText(r.Counts), r.Error, r.Version)
	return err
}

// GetRun returns a run by id or unambiguous prefix.
func (t *Tx) GetRun(id string) (*review.Run, error) {
	return byID(t, "review_runs", runCols, scanRun, id)
}

// UpdateRun writes r when it is still in state from at r.Version.
func (t *Tx) UpdateRun(r *review.Run, from review.RunState) error {
	err := t.casExec(`UPDATE review_runs SET state=?, finished_at=?, closed_at=?, counts=?, error=?, version=version+1
		WHERE id=? AND state=? AND version=?`,
		string(r.State), ms(r.FinishedAt), ms(r.ClosedAt), jsonText(r.Counts), r.Error, r.ID, string(from), r.Version)
	if err == nil {
		r.Version++
	}
	return err
}

// filter gathers the terms and arguments of a WHERE clause.
type filter struct {
	where []string
	args  []any
}

func (f *filter) add(term string, args ...any) {
	f.where = append(f.where, term)
	f.args = append(f.args, args...)
}

// eq adds col = v unless v is empty (no filter).
func (f *filter) eq(col, v string) {
	if v != "" {
		f.add(col+" = ?", v)
	}
}

// in adds col IN (values).
func in[S ~string](f *filter, col string, values []S) {
	if len(values) == 0 {
		return
	}
	f.where = append(f.where, col+" IN ("+placeholders(len(values))+")")
	for _, v := range values {
		f.args = append(f.args, string(v))
	}
}

// sql returns the SELECT with the filter, ordered, limited.
func (f *filter) sql(sel, order string, limit int) string {
	if len(f.where) > 0 {
		sel += " WHERE " + strings.Join(f.where, " AND ")
	}
	sel += " ORDER BY " + order
	if limit > 0 {
		sel += " LIMIT " + strconv.Itoa(limit)
	}
	return sel
}

// Runs lists runs, newest first.
func (t *Tx) Runs(rf review.RunFilter) ([]*review.Run, error) {
	var f filter
	if rf.Rule != "" {
		f.add("rule = ?", rf.Rule)
	}
	in(&f, "state", rf.States)
	return queryAll(t, scanRun, f.sql(`SELECT `+runCols+` FROM review_runs`, `started_at DESC, id COLLATE "C"`, rf.Limit), f.args...)
}
