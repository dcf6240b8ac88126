// Package postgres keeps jitbot's state in PostgreSQL, for several replicas
// of `jitbot run` on one database. It implements approvals.Store with the
// same tables and semantics as the SQLite store (package store), and adds
// what several processes need: job claims that skip the rows another
// replica holds (FOR UPDATE SKIP LOCKED), one leader among the replicas
// (Elector), and write transactions serialised on the audit chain's head
// row, so that the chain never forks.
//
// Times are Unix milliseconds in bigint columns, as in SQLite: "not set" is
// 0 and sorts before every time in the deadline queries exactly as it does
// there, the chain hashes times at millisecond precision, and `jitbot db
// copy` moves every value unchanged. The leader's lease, which is measured
// on the database's own clock, is the one timestamptz.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/groupcommit"
	"github.com/jitbot/jitbot/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// IsURL reports whether a JITBOT_DB value names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Options tune Open.
type Options struct {
	// Schema is the schema jitbot's tables live in (created if missing);
	// empty: the connection's search_path (public by default). A
	// search_path given in the URL works too.
	Schema string
	// ReadOnly opens without migrating; every transaction is read-only
	// (the CLI's read commands).
	ReadOnly bool
	// Now stamps rows that have no domain time (jobs, accounts). Default time.Now.
	Now func() time.Time
	// MaxConns bounds each of the two pools, writes and reads (default 24,
	// or pool_max_conns in the URL):
	// the engine's two lanes hold up to 16 transactions at once, and a pool
	// smaller than what they and the Slack front end ask for turns into a
	// queue of its own (16 made the 10,000-expiries benchmark 30 % slower).
	MaxConns int32
	// Announce is for the CLI's commands that write beside running bots:
	// each write transaction it commits tells them at once that work may
	// be due (NOTIFY; see WatchWork).
	Announce bool

	maxVersion int // tests: migrate no further than this version
}

// DB is an open jitbot database on PostgreSQL.
type DB struct {
	sqlstore.Store               // reports, stats, the dry-run ledger, accounts, Slack refs
	pool           *pgxpool.Pool // writes: Update, claims, the leader's lease
	read           *pgxpool.Pool // View, reports, exports: never queued behind writers
	now            func() time.Time
	name           string // the URL without its password, for messages
	schema         string
	readOnly       bool
	announce       bool              // NOTIFY running bots of every write (Options.Announce)
	shared         groupcommit.Queue // writes that share a transaction (shared.go)
}

var _ approvals.Store = (*DB)(nil)

// Open connects to the database at url and brings jitbot's schema up to
// date (several replicas starting at once migrate one after the other). A
// schema written by a newer jitbot is refused, nothing written.
func Open(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("JITBOT_DB is not a valid PostgreSQL URL: %v", redactErr(err, rawURL))
	}
	db := &DB{now: opt.Now, name: redact(rawURL), readOnly: opt.ReadOnly, announce: opt.Announce}
	if opt.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opt.Schema
		db.schema = opt.Schema
	}
	if !strings.Contains(rawURL, "pool_max_conns=") {
		cfg.MaxConns = 24 // each of the two pools
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "jitbot"
	}
	if opt.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	// Two pools, as the SQLite store has: write transactions waiting for
	// the chain head hold their connections, and a read must never wait
	// for one of them (nor a write that reads on the side deadlock on it).
	rcfg := cfg.Copy()
	rcfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, db.explain(err)
	}
	if db.read, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
		db.pool.Close()
		return nil, db.explain(err)
	}
	db.setStore()
	if err := db.pool.Ping(ctx); err != nil {
		db.Close()
		return nil, db.explain(err)
	}
	if err := db.check(ctx, opt); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	db.read.Close()
	return nil
}

// Name returns the database URL without its password.
func (db *DB) Name() string { return db.name }

// Pool returns the connection pool (tests, benchmarks and the copy).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// redact drops the password from a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the PostgreSQL database"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactErr makes sure an error does not repeat the URL's password.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// explain turns connection and server errors into sentences.
func (db *DB) explain(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "3D000":
			return fmt.Errorf("%s: the database does not exist (create it, or fix JITBOT_DB)", db.name)
		case "28P01", "28000":
			return fmt.Errorf("%s: the server refused the login (%s)", db.name, pe.Message)
		case "42501":
			return fmt.Errorf("%s: permission denied (%s)", db.name, pe.Message)
		case "25006":
			return fmt.Errorf("%s: the database is read-only for this command", db.name)
		}
		return fmt.Errorf("%s: %s (SQLSTATE %s)", db.name, pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("cannot connect to %s: is PostgreSQL running there? (%v)", db.name, redactErr(ce, db.name))
	}
	return fmt.Errorf("%s: %w", db.name, err)
}

// check migrates (or, read-only, checks) the schema. Migrations run in one
// transaction that first takes a transaction lock private to this schema,
// so that replicas starting together do not both migrate.
func (db *DB) check(ctx context.Context, opt Options) error {
	known, err := sqlstore.Migrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	latest := known[len(known)-1].Version
	if opt.ReadOnly {
		current, _, err := db.schemaVersion(ctx, db.pool)
		if err != nil {
			return db.explain(err)
		}
		if current == 0 {
			return fmt.Errorf("no jitbot database at %s: its schema has no jitbot tables (jitbot run creates them)", db.name)
		}
		return sqlstore.CheckVersion(db.name, current, latest, true)
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return db.explain(err)
	}
	defer tx.Rollback(ctx)
	if db.schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{db.schema}.Sanitize()); err != nil {
			return db.explain(err)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('jitbot migrate ' || current_schema(), 0))`); err != nil {
		return db.explain(err)
	}
	current, legacy, err := db.schemaVersion(ctx, tx)
	if err != nil {
		return db.explain(err)
	}
	exec := func(q string, args ...any) error {
		_, err := tx.Exec(ctx, q, args...)
		return db.explain(err)
	}
	if legacy { // its 2 and 3 are 4 and 5 now; 2 and 3 stand for what its 1 holds
		if err := exec(`UPDATE schema_migrations SET version = version + 2 WHERE version IN (2, 3)`); err != nil {
			return err
		}
		if err := exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (2, $1), (3, $1)`, db.now().UnixMilli()); err != nil {
			return err
		}
	}
	if err := sqlstore.CheckVersion(db.name, current, latest, false); err != nil {
		return err
	}
	if current == 0 {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil {
			return db.explain(err)
		}
		if n > 0 {
			return fmt.Errorf("%s: schema %s holds %d tables that are not jitbot's; jitbot will not add its tables to it: name another schema (search_path in the URL), nothing was written", db.name, db.currentSchema(ctx, tx), n)
		}
	}
	if err := sqlstore.Migrate(exec, sqlstore.Postgres, known, current, opt.maxVersion, db.now()); err != nil {
		return err
	}
	return db.explain(tx.Commit(ctx))
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (db *DB) currentSchema(ctx context.Context, q querier) string {
	var s string
	if err := q.QueryRow(ctx, `SELECT current_schema()`).Scan(&s); err != nil {
		return "?"
	}
	return s
}

// schemaVersion reads the schema's version. A schema migrated before the
// versions meant the same change on both engines (its 1 is init, 2
// integrity, 3 reviews) is legacy: its 2 and 3 are read as the 4 and 5
// they are now. Only its 2 made requests_due_started before a 4 does.
func (db *DB) schemaVersion(ctx context.Context, q querier) (v int, legacy bool, err error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'schema_migrations')`).Scan(&exists); err != nil || !exists {
		return 0, false, err
	}
	var max *int
	if err := q.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&max); err != nil || max == nil {
		return 0, false, err
	}
	if v = *max; v == 2 || v == 3 {
		err = q.QueryRow(ctx, `SELECT to_regclass('requests_due_started') IS NOT NULL`).Scan(&legacy)
		if legacy {
			v += 2
		}
	}
	return v, legacy, err
}

// Update runs fn in one write transaction (READ COMMITTED). The first
// statement fn makes, other than a job claim or a job's outcome, locks the
// audit chain's head row: write transactions are then serialised across
// every replica, as SQLite's IMMEDIATE transactions are in one process, so
// the engine's read-then-write steps (a quorum count, the covering grants)
// see every transaction committed before them, and two transactions cannot
// deadlock. Job claims take only the job rows they lease, FOR UPDATE SKIP
// LOCKED, and never wait for another replica; a job's outcome (done,
// retry, defer, failed) is a compare-and-set of its one row, atomic alone.
// The new chain head is written once, just before commit.
func (db *DB) Update(ctx context.Context, fn func(tx approvals.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s is open read-only", db.name)
	}
	pgTx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return db.explain(err)
	}
	t := db.newTx(ctx, pgTx, false)
	if err := fn(t); err != nil {
		pgTx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if t.err == nil {
		_ = t.finish()
	}
	if t.err == nil {
		t.announce()
	}
	if t.err != nil {
		pgTx.Rollback(context.WithoutCancel(ctx))
		return t.err
	}
	if err := pgTx.Commit(ctx); err != nil {
		return db.explain(err)
	}
	return nil
}

// UpdateDurable is Update: a PostgreSQL commit is on disk when it returns
// (synchronous_commit on, the server's default, which jitbot leaves as
// it is), so every write transaction is already what the engine asks for
// here.
func (db *DB) UpdateDurable(ctx context.Context, fn func(tx approvals.Tx) error) error {
	return db.Update(ctx, fn)
}

var _ approvals.DurableUpdater = (*DB)(nil)

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (db *DB) View(ctx context.Context, fn func(tx approvals.Tx) error) error {
	pgTx, err := db.read.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return db.explain(err)
	}
	defer pgTx.Rollback(context.WithoutCancel(ctx))
	return fn(db.newTx(ctx, pgTx, true))
}

var ms, fromMS = sqlstore.MS, sqlstore.FromMS
