package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// ---- the dry-run ledger ----

// DryRunAdd records a dry-run membership; it reports whether it was new.
func (s *Store) DryRunAdd(ctx context.Context, m approvals.Membership) (bool, error) {
	return s.dryRunChange(ctx, "add", m, `INSERT INTO dryrun_members (provider, grp, person) VALUES (?,?,?) ON CONFLICT DO NOTHING`)
}

// DryRunRemove removes a dry-run membership; it reports whether it was there.
func (s *Store) DryRunRemove(ctx context.Context, m approvals.Membership) (bool, error) {
	return s.dryRunChange(ctx, "remove", m, `DELETE FROM dryrun_members WHERE provider=? AND grp=? AND person=?`)
}

func (s *Store) dryRunChange(ctx context.Context, op string, m approvals.Membership, q string) (bool, error) {
	changed := false
	err := s.Write.InTx(ctx, func(tx Querier) error {
		c := dq{ctx, tx, s.D}
		n, err := c.exec(q, m.Provider, m.Group, m.Person)
		if err != nil {
			return err
		}
		if changed = n > 0; changed {
			_, err = c.exec(`INSERT INTO dryrun_ops (op, provider, grp, person, at) VALUES (?,?,?,?,?)`,
				op, m.Provider, m.Group, m.Person, s.Now().UnixMilli())
		}
		return err
	})
	return changed, err
}

// DryRunIsMember reports whether the dry-run ledger holds m.
func (s *Store) DryRunIsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	var ok bool
	err := s.read(ctx).queryRow(`SELECT EXISTS (SELECT 1 FROM dryrun_members WHERE provider=? AND grp=? AND person=?)`,
		m.Provider, m.Group, m.Person).Scan(&ok)
	return ok, err
}

// DryRunMembers lists the dry-run members of group (at any provider when provider is empty).
func (s *Store) DryRunMembers(ctx context.Context, provider, group string) ([]string, error) {
	return queryAll(s.read(ctx), scanString,
		`SELECT person FROM dryrun_members WHERE grp = ? AND (? = '' OR provider = ?) ORDER BY person COLLATE "C"`, group, provider, provider)
}

// DryRunOps returns how many dry-run adds and removes changed something.
func (s *Store) DryRunOps(ctx context.Context) (adds, removes int, err error) {
	err = s.read(ctx).queryRow(`SELECT count(*) FILTER (WHERE op='add'), count(*) FILTER (WHERE op='remove') FROM dryrun_ops`).Scan(&adds, &removes)
	return
}

// ---- accounts ----

// GetAccount returns a cached provider account id for an email.
func (s *Store) GetAccount(ctx context.Context, provider, email string) (string, bool, error) {
	var id string
	err := s.read(ctx).queryRow(`SELECT account_id FROM accounts WHERE provider=? AND email=?`, provider, strings.ToLower(email)).Scan(&id)
	if noRows(err) {
		return "", false, nil
	}
	return id, err == nil, err
}

// PutAccount caches a provider account id for an email.
func (s *Store) PutAccount(ctx context.Context, provider, email, accountID string) error {
	_, err := s.write(ctx).exec(`INSERT INTO accounts (provider, email, account_id, updated_at) VALUES (?,?,?,?)
		ON CONFLICT (provider, email) DO UPDATE SET account_id=excluded.account_id, updated_at=excluded.updated_at`,
		provider, strings.ToLower(email), accountID, s.Now().UnixMilli())
	return err
}

// AccountEmail returns the email a cached provider account id belongs to:
// the reverse of GetAccount. When several emails map to the id (an address
// changed), the most recently cached one wins. ok is false when the id is
// not cached.
func (s *Store) AccountEmail(ctx context.Context, provider, accountID string) (email string, ok bool, err error) {
	err = s.read(ctx).queryRow(`SELECT email FROM accounts WHERE provider=? AND account_id=?
		ORDER BY updated_at DESC, email COLLATE "C" LIMIT 1`, provider, accountID).Scan(&email)
	if noRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return email, true, nil
}

// ---- Slack refs ----

// SlackMessage is a message the Slack front end posted about a request and
// edits in place as the request moves. It mirrors bot.MessageRef.
type SlackMessage struct {
	RequestID string
	Role      string
	UserID    string
	Person    string
	Channel   string
	TS        string
	Hash      string
}

const slackCols = `request_id, role, user_id, person, channel, ts, hash`

// PutSlackMessage records (or replaces) a message the bot posted.
func (s *Store) PutSlackMessage(ctx context.Context, m SlackMessage) error {
	_, err := s.write(ctx).exec(`INSERT INTO slack_messages (`+slackCols+`) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (request_id, role, channel) DO UPDATE SET user_id=excluded.user_id, person=excluded.person, ts=excluded.ts, hash=excluded.hash`,
		m.RequestID, m.Role, m.UserID, m.Person, m.Channel, m.TS, m.Hash)
	return err
}

// SlackMessages returns the messages posted about a request.
func (s *Store) SlackMessages(ctx context.Context, requestID string) ([]SlackMessage, error) {
	return queryAll(s.read(ctx), scanSlack, `SELECT `+slackCols+` FROM slack_messages WHERE request_id=? ORDER BY role COLLATE "C", channel COLLATE "C"`, requestID)
}

// SlackMessagesAt returns the refs that point at one posted message (the
// requests a page lists).
func (s *Store) SlackMessagesAt(ctx context.Context, channel, ts string) ([]SlackMessage, error) {
	return queryAll(s.read(ctx), scanSlack, `SELECT `+slackCols+` FROM slack_messages WHERE channel=? AND ts=? ORDER BY `+s.D.InsertOrder, channel, ts)
}

func scanSlack(s Scanner) (SlackMessage, error) {
	var m SlackMessage
	err := s.Scan(&m.RequestID, &m.Role, &m.UserID, &m.Person, &m.Channel, &m.TS, &m.Hash)
	return m, err
}

// ---- stats ----

var _ approvals.StatsReader = (*Store)(nil)

// Stats reads the counts metrics show, from one snapshot: requests by
// state (a scan of the state index), pending jobs by lane with the oldest
// due (the partial jobs_due index), and the audit chain's head.
func (s *Store) Stats(ctx context.Context, now time.Time) (approvals.Stats, error) {
	st := approvals.Stats{Requests: map[approvals.State]int{}, Pending: map[approvals.Lane]int{}, OldestDue: map[approvals.Lane]time.Time{}}
	err := s.Read.InTx(ctx, func(tx Querier) error {
		c := dq{ctx, tx, s.D}
		_, err := queryAll(c, func(r Scanner) (struct{}, error) {
			var (
				state string
				n     int
			)
			err := r.Scan(&state, &n)
			st.Requests[approvals.State(state)] = n
			return struct{}{}, err
		}, `SELECT state, count(*) FROM requests GROUP BY state`)
		if err != nil {
			return err
		}
		_, err = queryAll(c, func(r Scanner) (struct{}, error) {
			var (
				lane   string
				n      int
				oldest *int64
			)
			err := r.Scan(&lane, &n, &oldest)
			st.Pending[approvals.Lane(lane)] = n
			if oldest != nil {
				st.OldestDue[approvals.Lane(lane)] = fromMS(*oldest)
			}
			return struct{}{}, err
		}, `SELECT lane, count(*), min(CASE WHEN run_at <= ? THEN run_at END) FROM jobs WHERE state = 'pending' GROUP BY lane`, ms(now))
		if err != nil {
			return err
		}
		return c.queryRow(`SELECT coalesce(max(seq), 0) FROM audit_events`).Scan(&st.AuditHead)
	})
	return st, err
}

// ResourceSeen reports whether any audit event names resource (a report on
// a resource jitbot never saw says so instead of listing nobody).
func (s *Store) ResourceSeen(ctx context.Context, resource string) (bool, error) {
	var seen bool
	err := s.read(ctx).queryRow(`SELECT EXISTS (SELECT 1 FROM audit_events WHERE resource = ?)`, resource).Scan(&seen)
	return seen, err
}
