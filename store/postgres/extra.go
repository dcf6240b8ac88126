package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/store"
)

// DryRunAdd records a dry-run membership; it reports whether it was new.
func (db *DB) DryRunAdd(ctx context.Context, m approvals.Membership) (bool, error) {
	return db.dryRunChange(ctx, "add", m, `INSERT INTO dryrun_members (provider, grp, person) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`)
}

// DryRunRemove removes a dry-run membership; it reports whether it was there.
func (db *DB) DryRunRemove(ctx context.Context, m approvals.Membership) (bool, error) {
	return db.dryRunChange(ctx, "remove", m, `DELETE FROM dryrun_members WHERE provider=$1 AND grp=$2 AND person=$3`)
}

func (db *DB) dryRunChange(ctx context.Context, op string, m approvals.Membership, q string) (bool, error) {
	changed := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, m.Provider, m.Group, m.Person)
		if err != nil {
			return err
		}
		if changed = tag.RowsAffected() > 0; changed {
			_, err = tx.Exec(ctx, `INSERT INTO dryrun_ops (op, provider, grp, person, at) VALUES ($1,$2,$3,$4,$5)`,
				op, m.Provider, m.Group, m.Person, db.now().UnixMilli())
		}
		return err
	})
	return changed, err
}

// DryRunIsMember reports whether the dry-run ledger holds m.
func (db *DB) DryRunIsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	var ok bool
	err := db.read.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dryrun_members WHERE provider=$1 AND grp=$2 AND person=$3)`,
		m.Provider, m.Group, m.Person).Scan(&ok)
	return ok, err
}

// DryRunMembers lists the dry-run members of group (at any provider when provider is empty).
func (db *DB) DryRunMembers(ctx context.Context, provider, group string) ([]string, error) {
	rows, err := db.read.Query(ctx, `SELECT person FROM dryrun_members WHERE grp = $1 AND ($2 = '' OR provider = $2) ORDER BY person COLLATE "C"`, group, provider)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DryRunOps returns how many dry-run adds and removes changed something.
func (db *DB) DryRunOps(ctx context.Context) (adds, removes int, err error) {
	err = db.read.QueryRow(ctx, `SELECT count(*) FILTER (WHERE op='add'), count(*) FILTER (WHERE op='remove') FROM dryrun_ops`).Scan(&adds, &removes)
	return
}

// GetAccount returns a cached provider account id for an email.
func (db *DB) GetAccount(ctx context.Context, provider, email string) (string, bool, error) {
	var id string
	err := db.read.QueryRow(ctx, `SELECT account_id FROM accounts WHERE provider=$1 AND email=$2`, provider, strings.ToLower(email)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}

// PutAccount caches a provider account id for an email.
func (db *DB) PutAccount(ctx context.Context, provider, email, accountID string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO accounts (provider, email, account_id, updated_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (provider, email) DO UPDATE SET account_id=excluded.account_id, updated_at=excluded.updated_at`,
		provider, strings.ToLower(email), accountID, db.now().UnixMilli())
	return err
}

// AccountEmail returns the email a cached provider account id belongs to;
// the most recently cached one when several map to it.
func (db *DB) AccountEmail(ctx context.Context, provider, accountID string) (string, bool, error) {
	var email string
	err := db.read.QueryRow(ctx, `SELECT email FROM accounts WHERE provider=$1 AND account_id=$2
		ORDER BY updated_at DESC, email COLLATE "C" LIMIT 1`, provider, accountID).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return email, true, nil
}

const slackCols = `request_id, role, user_id, person, channel, ts, hash`

// PutSlackMessage records (or replaces) a message the bot posted.
func (db *DB) PutSlackMessage(ctx context.Context, m store.SlackMessage) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO slack_messages (`+slackCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (request_id, role, channel) DO UPDATE SET user_id=excluded.user_id, person=excluded.person, ts=excluded.ts, hash=excluded.hash`,
		m.RequestID, m.Role, m.UserID, m.Person, m.Channel, m.TS, m.Hash)
	return err
}

// SlackMessages returns the messages posted about a request.
func (db *DB) SlackMessages(ctx context.Context, requestID string) ([]store.SlackMessage, error) {
	return db.slackMessages(ctx, `SELECT `+slackCols+` FROM slack_messages WHERE request_id=$1 ORDER BY role COLLATE "C", channel COLLATE "C"`, requestID)
}

// SlackMessagesAt returns the refs that point at one posted message.
func (db *DB) SlackMessagesAt(ctx context.Context, channel, ts string) ([]store.SlackMessage, error) {
	return db.slackMessages(ctx, `SELECT `+slackCols+` FROM slack_messages WHERE channel=$1 AND ts=$2 ORDER BY added`, channel, ts)
}

func (db *DB) slackMessages(ctx context.Context, q string, args ...any) ([]store.SlackMessage, error) {
	rows, err := db.read.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SlackMessage, error) {
		var m store.SlackMessage
		err := r.Scan(&m.RequestID, &m.Role, &m.UserID, &m.Person, &m.Channel, &m.TS, &m.Hash)
		return m, err
	})
}
