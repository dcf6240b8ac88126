package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/postgres"
)

// database is what jitbot's commands need of a store: the engine's, the
// audit chain's and reports' reads, the dry-run ledger, the account cache
// and the Slack message references. SQLite's store (store.DB) and
// PostgreSQL's (postgres.DB) both are one; JITBOT_DB chooses.
type database interface {
	approvals.Store
	audit.Chain
	provisioner.Ledger
	accountCache
	AccountEmail(ctx context.Context, provider, accountID string) (string, bool, error)

	PutSlackMessage(ctx context.Context, m store.SlackMessage) error
	SlackMessages(ctx context.Context, requestID string) ([]store.SlackMessage, error)
	SlackMessagesAt(ctx context.Context, channel, ts string) ([]store.SlackMessage, error)

	AccessAt(ctx context.Context, resource string, at time.Time) ([]audit.Access, error)
	PersonHistory(ctx context.Context, email string) (*audit.PersonReport, error)
	ResourceSeen(ctx context.Context, resource string) (bool, error)

	review.Store  // the licence review's tables
	certify.Store // the certifications' tables

	Close() error
}

var (
	_ database = (*store.DB)(nil)
	_ database = (*postgres.DB)(nil)
)

// dbOptions say how a command opens the database.
type dbOptions struct {
	readOnly bool // the read commands: never create or migrate
	run      bool // jitbot run: the SQLite file is this process's alone
	now      func() time.Time
}

// openDatabase opens JITBOT_DB: a postgres:// or postgresql:// URL is
// PostgreSQL, anything else a SQLite file. Only jitbot run creates a
// SQLite database; the other commands want it there already.
func openDatabase(ctx context.Context, dsn string, opt dbOptions) (database, error) {
	if postgres.IsURL(dsn) {
		// The other commands that write tell the running bots, so that
		// they take the work at once.
		db, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: opt.readOnly, Now: opt.now, Announce: !opt.run && !opt.readOnly})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	if !opt.run && !opt.readOnly {
		if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no jitbot database at %s: check --db or JITBOT_DB (jitbot run creates it)", dsn)
		}
	}
	db, err := store.Open(ctx, dsn, store.Options{ReadOnly: opt.readOnly, Now: opt.now, Exclusive: opt.run, Announce: !opt.run && !opt.readOnly})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// dbName is how messages name the database: a URL without its password.
func dbName(db database, dsn string) string {
	if p, ok := db.(*postgres.DB); ok {
		return p.Name()
	}
	return dsn
}
