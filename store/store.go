// Package store keeps jitbot's state in SQLite: requests, decisions, grants,
// the memberships the bot manages, the outbox, and the audit chain. It
// implements approvals.Store.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/groupcommit"
	"github.com/jitbot/jitbot/store/sqlstore"
	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open jitbot database. Writes go through one connection in
// IMMEDIATE transactions, so they never deadlock on lock upgrades; reads go
// through a separate read-only pool and are never blocked by writes (WAL).
type DB struct {
	sqlstore.Store // reports, stats, the dry-run ledger, accounts, Slack refs
	path           string
	write          *sql.DB
	read           *sql.DB
	now            func() time.Time
	lock           *os.File // held while this process works the database alone

	announces bool // tell a running bot about every write (Options.Announce)

	writeStmts, readStmts stmtCache
	shared                groupcommit.Queue // writes that share a transaction (shared.go)
}

var _ approvals.Store = (*DB)(nil)

// Options tune Open.
type Options struct {
	// BusyTimeout is how long a write waits for another process's lock.
	BusyTimeout time.Duration
	// ReadOnly opens without migrating or writing (the CLI's read commands).
	ReadOnly bool
	// Now stamps rows that have no domain time (jobs, accounts). Default time.Now.
	Now func() time.Time
	// Exclusive is for `jitbot run`: this process works the database's
	// jobs and deadlines alone. Open takes an exclusive lock on PATH.lock
	// (refusing with a sentence when another process holds it), and
	// releases every job lease, since their holder is gone. Several
	// processes on one database are for PostgreSQL.
	Exclusive bool
	// Announce is for the CLI's commands that write beside a running bot:
	// after each write it commits, the bot is told at once that work may
	// be due (see WatchWork).
	Announce bool

	maxVersion int // tests: migrate no further than this version
}

// Open opens (creating if needed) the database at path and brings its
// schema up to date. A database written by a newer jitbot, a file that is
// not a database, or a database locked past the busy timeout gives an error
// that says so, and nothing is written.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	if opt.BusyTimeout == 0 {
		opt.BusyTimeout = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	busy := "_busy_timeout=" + strconv.Itoa(int(opt.BusyTimeout/time.Millisecond))
	if opt.ReadOnly {
		return openReadOnly(ctx, path, opt, busy)
	}
	db := &DB{path: path, now: opt.Now, announces: opt.Announce}
	// Connecting in WAL mode rewrites the file header: look at an existing
	// file read-only first, so that another application's file is refused
	// untouched.
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		probe, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&"+busy)
		if err != nil {
			return nil, err
		}
		_, err = db.version(ctx, probe, false)
		probe.Close()
		if err != nil {
			return nil, err
		}
	}
	if opt.Exclusive {
		lock, err := lockFile(path + ".lock")
		if err != nil {
			return nil, err
		}
		db.lock = lock
	}
	params := "_journal_mode=WAL&_foreign_keys=on&_synchronous=NORMAL&" + busy
	if err := db.open(ctx, params+"&_txlock=immediate", params+"&_query_only=true", opt); err != nil {
		return nil, err
	}
	if db.lock != nil {
		if _, err := db.write.ExecContext(ctx, `UPDATE jobs SET lease_owner = '', lease_until = 0 WHERE state = 'pending' AND lease_owner <> ''`); err != nil {
			db.Close()
			return nil, db.explain(err)
		}
	}
	return db, nil
}

// openReadOnly opens an existing jitbot database for reading only: it
// never creates, migrates or writes the file, so that an auditor can read a
// copy in a read-only folder. mode=ro works beside a running bot (WAL: the
// -wal and -shm files exist). A database closed cleanly has neither, and in
// a read-only folder SQLite cannot create the -shm file: with no -wal file
// there is no writer and nothing beyond the main file, so it is then opened
// immutable=1 (no locks, no change detection), which is safe for exactly
// that case.
func openReadOnly(ctx context.Context, path string, opt Options, busy string) (*DB, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no jitbot database at %s: check --db or JITBOT_DB (jitbot run creates it)", path)
	case err != nil:
		return nil, fmt.Errorf("cannot read the database %s: %w", path, err)
	case st.IsDir():
		return nil, fmt.Errorf("no jitbot database at %s: it is a folder", path)
	}
	params := "mode=ro&_foreign_keys=on&" + busy
	db := &DB{path: path, now: opt.Now}
	if err = db.open(ctx, params, params, opt); err == nil {
		return db, nil
	}
	if _, werr := os.Stat(path + "-wal"); errors.Is(werr, fs.ErrNotExist) {
		db := &DB{path: path, now: opt.Now}
		if db.open(ctx, params+"&immutable=1", params+"&immutable=1", opt) == nil {
			return db, nil
		}
	}
	return nil, err
}

// open opens the write pool (one connection) and the read pool with their
// DSN parameters, and checks or migrates the schema.
func (db *DB) open(ctx context.Context, write, read string, opt Options) error {
	var err error
	if db.write, err = sql.Open("sqlite3", "file:"+db.path+"?"+write); err != nil {
		return err
	}
	db.write.SetMaxOpenConns(1)
	if db.read, err = sql.Open("sqlite3", "file:"+db.path+"?"+read); err != nil {
		db.write.Close()
		return err
	}
	db.read.SetMaxOpenConns(8)
	db.setStore()
	if err := db.check(ctx, opt); err != nil {
		db.Close()
		return err
	}
	return nil
}

// Close closes the database and releases its lock.
func (db *DB) Close() error {
	errs := []error{db.writeStmts.close(), db.readStmts.close(), db.read.Close(), db.write.Close()}
	if db.lock != nil {
		errs = append(errs, db.lock.Close())
		db.lock = nil
	}
	return errors.Join(errs...)
}

// Path returns the file path.
func (db *DB) Path() string { return db.path }

// check checks the file and its schema, and migrates it unless read-only.
func (db *DB) check(ctx context.Context, opt Options) error {
	pool := db.write
	if opt.ReadOnly {
		pool = db.read
	}
	var ok string
	if err := pool.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil {
		return db.explain(err)
	}
	if ok != "ok" {
		return fmt.Errorf("database %s is damaged (%s); restore it from a backup, nothing was written", db.path, ok)
	}
	known, err := sqlstore.Migrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	current, err := db.version(ctx, pool, opt.ReadOnly)
	if err != nil {
		return err
	}
	if err := sqlstore.CheckVersion("database "+db.path, current, known[len(known)-1].Version, opt.ReadOnly); err != nil || opt.ReadOnly {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.explain(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	if err := sqlstore.Migrate(exec, sqlstore.SQLite, known, current, opt.maxVersion, db.now()); err != nil {
		return err
	}
	return db.explain(tx.Commit())
}

// version reads the schema version, refusing a database that is not
// jitbot's: tables but no jitbot schema (another application's file), or a
// schema_migrations table without jitbot's tables. An empty database is
// jitbot's to create (version 0), except for a read-only open, which has
// nothing to read in it.
func (db *DB) version(ctx context.Context, pool *sql.DB, readOnly bool) (int, error) {
	var tables []string
	rows, err := pool.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	for err == nil && rows.Next() {
		tables = append(tables, "")
		err = rows.Scan(&tables[len(tables)-1])
	}
	if err == nil {
		err = rows.Err()
	}
	var v int
	if err == nil && slices.Contains(tables, "schema_migrations") {
		err = pool.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	}
	if rows != nil {
		rows.Close()
	}
	switch {
	case err != nil:
		return 0, db.explain(err)
	case len(tables) == 0 && readOnly:
		return 0, fmt.Errorf("no jitbot database at %s: the file is empty (jitbot run creates the schema)", db.path)
	case len(tables) > 0 && (v == 0 || !slices.Contains(tables, "audit_events")):
		shown := tables
		if len(shown) > 5 {
			shown = append(slices.Clip(shown[:5]), "…")
		}
		return 0, fmt.Errorf("%s is not a jitbot database: it is another application's SQLite file (tables %s); jitbot will not add its tables to it: name another file with --db or JITBOT_DB, nothing was written",
			db.path, strings.Join(shown, ", "))
	}
	return v, nil
}

// explain turns SQLite's terse errors into sentences.
func (db *DB) explain(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return fmt.Errorf("%s is not a jitbot database (not SQLite, or encrypted); nothing was written", db.path)
		case sqlite3.ErrCorrupt:
			return fmt.Errorf("database %s is corrupt; restore it from a backup, nothing was written", db.path)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("database %s is locked by another process (is another jitbot running?); nothing was written", db.path)
		case sqlite3.ErrCantOpen:
			return fmt.Errorf("cannot open database %s: check the path and permissions", db.path)
		case sqlite3.ErrReadonly:
			return fmt.Errorf("database %s is read-only for this user", db.path)
		}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("database %s: %w", db.path, err)
}

// Update runs fn in one IMMEDIATE write transaction.
func (db *DB) Update(ctx context.Context, fn func(tx approvals.Tx) error) error {
	defer db.writeStmts.prepare(ctx, db.write)
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.explain(err)
	}
	return db.commit(ctx, sqlTx, fn)
}

// commit runs fn in sqlTx and commits when fn returns nil.
func (db *DB) commit(ctx context.Context, sqlTx *sql.Tx, fn func(tx approvals.Tx) error) error {
	if err := fn(db.newTx(ctx, sqlTx, false)); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return db.explain(err)
	}
	db.announce()
	return nil
}

// UpdateDurable is Update with synchronous=FULL: the transaction is on
// disk when it returns, even across a power loss (approvals.DurableUpdater).
// The engine records a membership change it is about to make with it.
// Other writes keep synchronous=NORMAL, which in WAL mode may lose the last
// commits on power loss but never corrupts; FULL on every write would cost
// an fsync per transaction.
func (db *DB) UpdateDurable(ctx context.Context, fn func(tx approvals.Tx) error) error {
	defer db.writeStmts.prepare(ctx, db.write)
	// The pool's one connection, held for the pragma and the transaction.
	return db.withPragma(ctx, db.write, "synchronous = FULL", "synchronous = NORMAL", func(conn *sql.Conn) error {
		sqlTx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return db.explain(err)
		}
		return db.commit(ctx, sqlTx, fn)
	})
}

// withPragma runs fn on a connection of pool with a pragma set, and sets
// it back after.
func (db *DB) withPragma(ctx context.Context, pool *sql.DB, set, reset string, fn func(conn *sql.Conn) error) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return db.explain(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA `+set); err != nil {
		return db.explain(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA `+reset)
	return fn(conn)
}

var _ approvals.DurableUpdater = (*DB)(nil)

// View runs fn in a read transaction on a consistent snapshot.
func (db *DB) View(ctx context.Context, fn func(tx approvals.Tx) error) error {
	defer db.readStmts.prepare(ctx, db.read)
	sqlTx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return db.explain(err)
	}
	defer sqlTx.Rollback()
	return fn(db.newTx(ctx, sqlTx, true))
}

// ReadDB returns the read-only pool for the audit and report queries.
func (db *DB) ReadDB() *sql.DB { return db.read }

// WriteDB returns the write pool (tests and benchmarks seed with it).
func (db *DB) WriteDB() *sql.DB { return db.write }

var _ approvals.Tx = (*Tx)(nil)
