package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jitbot/jitbot/store/sqlstore"
)

// SQLite's side of the shared queries (store/sqlstore): its dialect, and
// its transactions and pools as those queries use them.

// dialect is SQLite's text of the shared queries.
var dialect = &sqlstore.Dialect{
	Name: "sqlite", Hints: true, IntBools: true, InsertOrder: "rowid",
	JSON: func(col, key string) string { return "json_extract(" + col + ", '$." + key + "')" },
	Prefix: func(col, p string) (string, []any) {
		return col + " >= ? AND " + col + " < ?", []any{p, p + "\xff"}
	},
}

func (db *DB) newTx(ctx context.Context, sqlTx *sql.Tx, readOnly bool) *Tx {
	t := &Tx{tx: sqlTx, ctx: ctx, db: db, readOnly: readOnly}
	t.Tx = sqlstore.Tx{C: (*conn)(t), D: dialect, Now: db.now, ReadOnly: readOnly}
	return t
}

// conn is a Tx as the shared queries use it.
type conn Tx

func (c *conn) Exec(q string, args ...any) (int64, error) {
	res, err := (*Tx)(c).exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c *conn) Query(q string, args ...any) (sqlstore.Rows, error) {
	return c.rows((*Tx)(c).query(q, args...))
}

func (c *conn) rows(rows *sql.Rows, err error) (sqlstore.Rows, error) {
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c *conn) QueryRow(q string, args ...any) sqlstore.Row { return (*Tx)(c).queryRow(q, args...) }

// Own is Exec: SQLite's one writer holds every row.
func (c *conn) Own(q string, args ...any) (int64, error) { return c.Exec(q, args...) }

// Head reads the chain head once per transaction: no other writer can
// move it while this one holds SQLite's write lock.
func (c *conn) Head() (string, int64, error) {
	if !c.headKnown {
		err := (*Tx)(c).queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&c.headSeq, &c.headHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", 0, err
		}
		c.headKnown = true
	}
	return c.headHash, c.headSeq, nil
}

func (c *conn) Moved(seq int64, hash string) { c.headSeq, c.headHash = seq, hash }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// SlackMessage is a message the Slack front end posted about a request.
type SlackMessage = sqlstore.SlackMessage

// pool is a database/sql pool as the shared queries use it.
type pool struct {
	db       *sql.DB
	readOnly bool
	explain  func(error) error
}

func (p pool) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return execIn(ctx, p.db, q, args...)
}

func (p pool) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return queryIn(ctx, p.db, q, args...)
}

func (p pool) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return p.db.QueryRowContext(ctx, q, args...)
}

func (p pool) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	tx, err := p.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: p.readOnly})
	if err != nil {
		return p.explain(err)
	}
	defer tx.Rollback()
	if err := fn(txQuerier{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

type txQuerier struct{ tx *sql.Tx }

func (t txQuerier) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return execIn(ctx, t.tx, q, args...)
}

func (t txQuerier) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return queryIn(ctx, t.tx, q, args...)
}

func (t txQuerier) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return t.tx.QueryRowContext(ctx, q, args...)
}

type sqlQuerier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func execIn(ctx context.Context, c sqlQuerier, q string, args ...any) (int64, error) {
	res, err := c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func queryIn(ctx context.Context, c sqlQuerier, q string, args ...any) (sqlstore.Rows, error) {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// setStore sets up the part of db the engines share, once its pools are open.
func (db *DB) setStore() {
	db.Store = sqlstore.Store{D: dialect, Now: db.now, Explain: db.explain,
		Read: pool{db.read, true, db.explain}, Write: pool{db.write, false, db.explain}}
}
