package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/store/sqlstore"
)

// PostgreSQL's side of the shared queries (store/sqlstore): its
// transactions and pools as those queries use them (its dialect is
// sqlstore.Postgres).

func (db *DB) newTx(ctx context.Context, pgTx pgx.Tx, readOnly bool) *Tx {
	t := &Tx{tx: pgTx, ctx: ctx, db: db, readOnly: readOnly}
	t.Tx = sqlstore.Tx{C: (*conn)(t), D: sqlstore.Postgres, Now: db.now, ReadOnly: readOnly}
	return t
}

// conn is a Tx as the shared queries use it: every statement but the
// engine's own claims takes the chain head first (serialise).
type conn Tx

func (c *conn) Exec(q string, args ...any) (int64, error) {
	tag, err := (*Tx)(c).exec(q, args...)
	return tag.RowsAffected(), err
}

func (c *conn) Query(q string, args ...any) (sqlstore.Rows, error) { return (*Tx)(c).query(q, args...) }

func (c *conn) QueryRow(q string, args ...any) sqlstore.Row { return (*Tx)(c).queryRow(q, args...) }

// Own runs a job's outcome without the chain head: see Tx.jobExec.
func (c *conn) Own(q string, args ...any) (int64, error) {
	return (*Tx)(c).jobExec(q, args...)
}

// Head locks the chain head row (serialise), so no other replica appends
// between the read of the head and the write of the new one.
func (c *conn) Head() (string, int64, error) {
	if c.readOnly {
		return "", 0, errors.New("postgres: append in a read transaction")
	}
	if err := (*Tx)(c).serialise(); err != nil {
		return "", 0, err
	}
	return c.headHash, c.headSeq, nil
}

// Moved records the new head: finish writes it before commit.
func (c *conn) Moved(seq int64, hash string) { c.headSeq, c.headHash, c.appended = seq, hash, true }

var (
	_ sqlstore.EngineTx = (*Tx)(nil)
	_ sqlstore.EngineDB = (*DB)(nil)
)

// pgQuerier is what a pool and a transaction share.
type pgQuerier interface {
	Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) pgx.Row
}

// sqlQuerier is a pool or a transaction as the shared queries use it.
type sqlQuerier struct{ q pgQuerier }

func (c sqlQuerier) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (c sqlQuerier) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(ctx, q, args...)
}

func (c sqlQuerier) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return c.q.QueryRow(ctx, q, args...)
}

// pool is a pgx pool as the shared queries use it; a transaction of the
// read pool is one snapshot.
type pool struct {
	sqlQuerier
	p    *pgxpool.Pool
	opts pgx.TxOptions
}

func (p pool) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	return pgx.BeginTxFunc(ctx, p.p, p.opts, func(tx pgx.Tx) error { return fn(sqlQuerier{tx}) })
}

// setStore sets up the part of db the engines share, once its pools are open.
func (db *DB) setStore() {
	db.Store = sqlstore.Store{D: sqlstore.Postgres, Now: db.now, Explain: db.explain, Engine: db,
		Read:  pool{sqlQuerier{db.read}, db.read, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}},
		Write: pool{sqlQuerier{db.pool}, db.pool, pgx.TxOptions{}}}
}

// txEvents is the audit.Source of one transaction: db copy verifies the
// chain it wrote before it commits.
type txEvents struct {
	db *DB
	tx pgx.Tx
}

func (s txEvents) Events(ctx context.Context, since, until time.Time, fn func(e *approvals.Event) error) error {
	return s.db.EventsIn(ctx, sqlQuerier{s.tx}, since, until, fn)
}
