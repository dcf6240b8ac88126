package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Work another process queues — the CLI's review run, grants revoke, users
// restore, or another replica — reaches the running bots at once: a
// process opened with Options.Announce sends NOTIFY jitbot_work with its
// schema in every write transaction (delivered when it commits), and each
// bot LISTENs (WatchWork).

// workChannel is the NOTIFY channel; the payload is the schema, so that
// several jitbots on one database (tests, staging beside production) wake
// only their own.
const workChannel = "jitbot_work"

// announce queues the notification in the transaction: PostgreSQL sends it
// at commit, and not at all if the transaction rolls back.
func (t *Tx) announce() {
	if t.db.announce {
		_, err := t.tx.Exec(t.ctx, `SELECT pg_notify('`+workChannel+`', current_schema())`)
		t.fail(err)
	}
}

// WatchWork calls wake once it listens, then whenever another process
// announces a write, until ctx ends (approvals.WorkWatcher). It listens on a connection of its own,
// outside the pools, and connects again after a failure.
func (db *DB) WatchWork(ctx context.Context, wake func()) error {
	backoff := time.Second
	for ctx.Err() == nil {
		err := db.listen(ctx, wake)
		if ctx.Err() != nil {
			return nil
		}
		_ = err // the poll still finds the work; try again
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

func (db *DB) listen(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+workChannel); err != nil {
		return err
	}
	wake() // anything announced while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == schema {
			wake()
		}
	}
}
