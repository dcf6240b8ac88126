package sqlstore

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/review"
)

// Querier runs statements, already in its engine's text, on a pool or in
// a transaction.
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (int64, error) // rows affected
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// Pool is one of an engine's connection pools.
type Pool interface {
	Querier
	// InTx runs fn in one transaction of the pool (the read pool's: one
	// snapshot), committing when fn returns nil.
	InTx(ctx context.Context, fn func(q Querier) error) error
}

// Store is the shared part of an open database: what reads and writes
// outside the engine's transactions (reports, stats, the dry-run ledger,
// accounts, Slack refs). The engine's DB embeds it.
type Store struct {
	D       *Dialect
	Now     func() time.Time
	Read    Pool              // never waits for a writer
	Write   Pool              // small writes of their own
	Explain func(error) error // words a failed open or query
	Engine  approvals.Store   // the engine's transactions, which the review's are
}

var _ review.Store = (*Store)(nil)

// EngineTx is what an engine's transaction must be (its Tx embeds Tx):
// Store hands it by type assertion to the review, the certifications and
// the directory, and the approvals engine to its incidents.
type EngineTx interface {
	approvals.Tx
	approvals.IncidentTx
	review.Tx
	certify.Tx
	engineTx
}

// EngineDB is what an engine's database must be (its DB embeds Store).
type EngineDB interface {
	approvals.Store
	review.Store
	certify.Store
	directory.Store
}

// UpdateReview runs fn in one write transaction of the engine: a review
// transaction is the engine's, on the same write connection, so it can
// enqueue outbox jobs and append audit events beside its own writes.
func (s *Store) UpdateReview(ctx context.Context, fn func(tx review.Tx) error) error {
	return s.Engine.Update(ctx, func(tx approvals.Tx) error { return fn(tx.(review.Tx)) })
}

// ViewReview runs fn in a read transaction on a consistent snapshot.
func (s *Store) ViewReview(ctx context.Context, fn func(tx review.Tx) error) error {
	return s.Engine.View(ctx, func(tx approvals.Tx) error { return fn(tx.(review.Tx)) })
}

// dq is a Querier with the dialect's rewrite and a context: the shared
// queries' way to a pool or transaction.
type dq struct {
	ctx context.Context
	q   Querier
	d   *Dialect
}

func (s *Store) read(ctx context.Context) dq  { return dq{ctx, s.Read, s.D} }
func (s *Store) write(ctx context.Context) dq { return dq{ctx, s.Write, s.D} }

func (c dq) exec(q string, args ...any) (int64, error) { return c.q.Exec(c.ctx, c.d.SQL(q), args...) }
func (c dq) query(q string, args ...any) (Rows, error) { return c.q.Query(c.ctx, c.d.SQL(q), args...) }
func (c dq) queryRow(q string, args ...any) Row        { return c.q.QueryRow(c.ctx, c.d.SQL(q), args...) }
