package store

import (
	"context"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

// The licence review's persistence (schema in migrations/0005_reviews.sql).
// A review transaction is the same *Tx as the approvals engine's, on the
// same write connection, so it can enqueue outbox jobs and append audit
// events beside its own writes.

var (
	_ review.Store = (*DB)(nil)
	_ review.Tx    = (*Tx)(nil)
)

// UpdateReview runs fn in one IMMEDIATE write transaction.
func (db *DB) UpdateReview(ctx context.Context, fn func(tx review.Tx) error) error {
	return db.Update(ctx, func(tx approvals.Tx) error { return fn(tx.(*Tx)) })
}

// ViewReview runs fn in a read transaction on a consistent snapshot.
func (db *DB) ViewReview(ctx context.Context, fn func(tx review.Tx) error) error {
	return db.View(ctx, func(tx approvals.Tx) error { return fn(tx.(*Tx)) })
}
