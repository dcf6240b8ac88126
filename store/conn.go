package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jitbot/jitbot/store/sqlstore"
)

// SQLite's side of the shared queries (store/sqlstore): its transactions
// and pools as those queries use them (its dialect is sqlstore.SQLite).

func (db *DB) newTx(ctx context.Context, sqlTx *sql.Tx, readOnly bool) *Tx {
	t := &Tx{tx: sqlTx, ctx: ctx, db: db, readOnly: readOnly}
	t.Tx = sqlstore.Tx{C: (*conn)(t), D: sqlstore.SQLite, Now: db.now, ReadOnly: readOnly}
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
	return wrapRows((*Tx)(c).query(q, args...))
}

// wrapRows gives database/sql rows the shared queries' face.
func wrapRows(rows *sql.Rows, err error) (sqlstore.Rows, error) {
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

var (
	_ sqlstore.EngineTx = (*Tx)(nil)
	_ sqlstore.EngineDB = (*DB)(nil)
)

// SlackMessage is a message the Slack front end posted about a request.
type SlackMessage = sqlstore.SlackMessage

// querier is a database/sql pool or transaction as the shared queries
// use it.
type querier struct{ q sqlQuerier }

type sqlQuerier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (c querier) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c querier) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return wrapRows(c.q.QueryContext(ctx, q, args...))
}

func (c querier) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return c.q.QueryRowContext(ctx, q, args...)
}

// pool is a database/sql pool as the shared queries use it.
type pool struct {
	querier
	db       *sql.DB
	readOnly bool
	explain  func(error) error
}

func (p pool) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	tx, err := p.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: p.readOnly})
	if err != nil {
		return p.explain(err)
	}
	defer tx.Rollback()
	if err := fn(querier{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// setStore sets up the part of db the engines share, once its pools are open.
func (db *DB) setStore() {
	db.Store = sqlstore.Store{D: sqlstore.SQLite, Now: db.now, Explain: db.explain, Engine: db,
		Read: pool{querier{db.read}, db.read, true, db.explain}, Write: pool{querier{db.write}, db.write, false, db.explain}}
}
