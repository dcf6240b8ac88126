package store

import (
	"context"
	"database/sql"
)

// OpenAtVersion opens a database migrated no further than version v, as an
// older jitbot left it (migration tests).
func OpenAtVersion(ctx context.Context, path string, v int) (*DB, error) {
	return Open(ctx, path, Options{maxVersion: v})
}

// QueryRowForTest runs a query in the transaction (tests read pragmas).
func (t *Tx) QueryRowForTest(q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, q, args...)
}
