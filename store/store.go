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
	"net/url"
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
	if opt.ReadOnly {
		return openReadOnly(ctx, path, opt)
	}
	// Connecting in WAL mode rewrites the file header: look at an existing
	// file read-only first, so that another application's file is refused
	// untouched.
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if err := probe(ctx, path, opt); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.Itoa(int(opt.BusyTimeout/time.Millisecond)))
	q.Set("_synchronous", "NORMAL")
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Set("_query_only", "true")
	db := &DB{path: path, now: opt.Now, announces: opt.Announce}
	if opt.Exclusive && !opt.ReadOnly {
		lock, err := lockFile(path + ".lock")
		if err != nil {
			return nil, err
		}
		db.lock = lock
	}
	var err error
	if db.write, err = sql.Open("sqlite3", "file:"+path+"?"+wq.Encode()); err != nil {
		return nil, err
	}
	db.write.SetMaxOpenConns(1)
	if db.read, err = sql.Open("sqlite3", "file:"+path+"?"+rq.Encode()); err != nil {
		db.write.Close()
		return nil, err
	}
	db.read.SetMaxOpenConns(8)
	db.setStore()
	if err := db.check(ctx, opt); err != nil {
		db.Close()
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
func openReadOnly(ctx context.Context, path string, opt Options) (*DB, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no jitbot database at %s: check --db or JITBOT_DB (jitbot run creates it)", path)
	case err != nil:
		return nil, fmt.Errorf("cannot read the database %s: %w", path, err)
	case st.IsDir():
		return nil, fmt.Errorf("no jitbot database at %s: it is a folder", path)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.Itoa(int(opt.BusyTimeout/time.Millisecond)))
	db, err := openPools(ctx, path, q, opt)
	if err == nil {
		return db, nil
	}
	if _, werr := os.Stat(path + "-wal"); werr == nil || !errors.Is(werr, fs.ErrNotExist) {
		return nil, err
	}
	q.Set("immutable", "1")
	if db, ierr := openPools(ctx, path, q, opt); ierr == nil {
		return db, nil
	}
	return nil, err
}

// probe checks, read-only, that an existing file is a jitbot database or
// an empty one.
func probe(ctx context.Context, path string, opt Options) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", strconv.Itoa(int(opt.BusyTimeout/time.Millisecond)))
	conn, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer conn.Close()
	db := &DB{path: path}
	version, err := db.schemaVersion(ctx, conn)
	if err != nil {
		return db.explain(err)
	}
	return db.checkOwner(ctx, conn, version, false)
}

// openPools opens both pools of a read-only database on one DSN and checks it.
func openPools(ctx context.Context, path string, q url.Values, opt Options) (*DB, error) {
	dsn := "file:" + path + "?" + q.Encode()
	db := &DB{path: path, now: opt.Now, announces: opt.Announce}
	var err error
	if db.read, err = sql.Open("sqlite3", dsn); err != nil {
		return nil, err
	}
	db.read.SetMaxOpenConns(8)
	if db.write, err = sql.Open("sqlite3", dsn); err != nil {
		db.read.Close()
		return nil, err
	}
	db.write.SetMaxOpenConns(1)
	db.setStore()
	if err := db.check(ctx, Options{ReadOnly: true}); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database and releases its lock.
func (db *DB) Close() error {
	var errs []error
	errs = append(errs, db.writeStmts.close(), db.readStmts.close())
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if db.lock != nil {
		errs = append(errs, db.lock.Close())
		db.lock = nil
	}
	return errors.Join(errs...)
}

// Path returns the file path.
func (db *DB) Path() string { return db.path }

func (db *DB) check(ctx context.Context, opt Options) error {
	readOnly := opt.ReadOnly
	pool := db.write
	if readOnly {
		pool = db.read
	}
	var mode string
	if err := pool.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return db.explain(err)
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
	latest := known[len(known)-1].Version
	current, err := db.schemaVersion(ctx, pool)
	if err != nil {
		return db.explain(err)
	}
	if err := db.checkOwner(ctx, pool, current, readOnly); err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("database %s has schema version %d, written by a newer jitbot; this build knows up to %d: upgrade jitbot, nothing was written", db.path, current, latest)
	}
	if readOnly {
		if current < latest {
			return fmt.Errorf("database %s has schema version %d; run jitbot once to migrate it to %d", db.path, current, latest)
		}
		return nil
	}
	return db.migrate(ctx, known, current, opt.maxVersion)
}

// checkOwner refuses a database that is not jitbot's: tables but no
// jitbot schema (another application's file), or a schema_migrations table
// without jitbot's tables. An empty database is jitbot's to create, except
// for a read-only open, which has nothing to read in it.
func (db *DB) checkOwner(ctx context.Context, pool *sql.DB, version int, readOnly bool) error {
	rows, err := pool.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return db.explain(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return db.explain(err)
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		return db.explain(err)
	}
	switch {
	case len(tables) == 0 && readOnly:
		return fmt.Errorf("no jitbot database at %s: the file is empty (jitbot run creates the schema)", db.path)
	case len(tables) == 0:
		return nil
	case version == 0 || !slices.Contains(tables, "audit_events"):
		shown := tables
		if len(shown) > 5 {
			shown = append(slices.Clip(shown[:5]), "…")
		}
		return fmt.Errorf("%s is not a jitbot database: it is another application's SQLite file (tables %s); jitbot will not add its tables to it: name another file with --db or JITBOT_DB, nothing was written",
			db.path, strings.Join(shown, ", "))
	}
	return nil
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
	return fmt.Errorf("database %s: %w", db.path, err)
}

func (db *DB) schemaVersion(ctx context.Context, pool *sql.DB) (int, error) {
	var n int
	err := pool.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	err = pool.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// migrate applies every migration newer than current, each in its own transaction.
func (db *DB) migrate(ctx context.Context, known []sqlstore.Migration, current, maxVersion int) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return db.explain(err)
	}
	for _, m := range known {
		if m.Version <= current || (maxVersion > 0 && m.Version > maxVersion) {
			continue
		}
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return db.explain(err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, db.now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return db.explain(err)
		}
	}
	return nil
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
