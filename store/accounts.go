package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

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
