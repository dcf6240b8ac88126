package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/jitbot/jitbot/approvals"
)

// DryRunAdd records a dry-run membership; it reports whether it was new.
func (db *DB) DryRunAdd(ctx context.Context, m approvals.Membership) (bool, error) {
	return db.dryRunChange(ctx, "add", m, `INSERT OR IGNORE INTO dryrun_members (provider, grp, person) VALUES (?,?,?)`)
}

// DryRunRemove removes a dry-run membership; it reports whether it was there.
func (db *DB) DryRunRemove(ctx context.Context, m approvals.Membership) (bool, error) {
	return db.dryRunChange(ctx, "remove", m, `DELETE FROM dryrun_members WHERE provider=? AND grp=? AND person=?`)
}

func (db *DB) dryRunChange(ctx context.Context, op string, m approvals.Membership, q string) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, db.explain(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, m.Provider, m.Group, m.Person)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dryrun_ops (op, provider, grp, person, at) VALUES (?,?,?,?,?)`,
			op, m.Provider, m.Group, m.Person, db.now().UnixMilli()); err != nil {
			return false, err
		}
	}
	return n > 0, tx.Commit()
}

// DryRunIsMember reports whether the dry-run ledger holds m.
func (db *DB) DryRunIsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM dryrun_members WHERE provider=? AND grp=? AND person=?`,
		m.Provider, m.Group, m.Person).Scan(&n)
	return n > 0, err
}

// DryRunMembers lists the dry-run members of group (at any provider when provider is empty).
func (db *DB) DryRunMembers(ctx context.Context, provider, group string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT person FROM dryrun_members WHERE grp = ? AND (? = '' OR provider = ?) ORDER BY person`, group, provider, provider)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DryRunOps returns how many dry-run adds and removes changed something.
func (db *DB) DryRunOps(ctx context.Context) (adds, removes int, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE op='add'), count(*) FILTER (WHERE op='remove') FROM dryrun_ops`).Scan(&adds, &removes)
	return
}

// GetAccount returns a cached provider account id for an email.
func (db *DB) GetAccount(ctx context.Context, provider, email string) (string, bool, error) {
	var id string
	err := db.read.QueryRowContext(ctx, `SELECT account_id FROM accounts WHERE provider=? AND email=?`, provider, strings.ToLower(email)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}

// PutAccount caches a provider account id for an email.
func (db *DB) PutAccount(ctx context.Context, provider, email, accountID string) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO accounts (provider, email, account_id, updated_at) VALUES (?,?,?,?)
		ON CONFLICT (provider, email) DO UPDATE SET account_id=excluded.account_id, updated_at=excluded.updated_at`,
		provider, strings.ToLower(email), accountID, db.now().UnixMilli())
	return err
}

// AccountEmail returns the email a cached provider account id belongs to:
// the reverse of GetAccount. When several emails map to the id (an address
// changed), the most recently cached one wins. ok is false when the id is
// not cached.
func (db *DB) AccountEmail(ctx context.Context, provider, accountID string) (email string, ok bool, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT email FROM accounts WHERE provider=? AND account_id=?
		ORDER BY updated_at DESC, email LIMIT 1`, provider, accountID).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return email, true, nil
}

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
func (db *DB) PutSlackMessage(ctx context.Context, m SlackMessage) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO slack_messages (`+slackCols+`) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (request_id, role, channel) DO UPDATE SET user_id=excluded.user_id, person=excluded.person, ts=excluded.ts, hash=excluded.hash`,
		m.RequestID, m.Role, m.UserID, m.Person, m.Channel, m.TS, m.Hash)
	return err
}

// SlackMessages returns the messages posted about a request.
func (db *DB) SlackMessages(ctx context.Context, requestID string) ([]SlackMessage, error) {
	return db.slackMessages(ctx, `SELECT `+slackCols+` FROM slack_messages WHERE request_id=? ORDER BY role, channel`, requestID)
}

// SlackMessagesAt returns the refs that point at one posted message (the
// requests a page lists).
func (db *DB) SlackMessagesAt(ctx context.Context, channel, ts string) ([]SlackMessage, error) {
	return db.slackMessages(ctx, `SELECT `+slackCols+` FROM slack_messages WHERE channel=? AND ts=? ORDER BY rowid`, channel, ts)
}

func (db *DB) slackMessages(ctx context.Context, q string, args ...any) ([]SlackMessage, error) {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SlackMessage
	for rows.Next() {
		var m SlackMessage
		if err := rows.Scan(&m.RequestID, &m.Role, &m.UserID, &m.Person, &m.Channel, &m.TS, &m.Hash); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
