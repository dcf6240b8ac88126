// Package sqlstore is jitbot's persistence written once for both engines:
// every query and every scan of the tables the SQLite store (package store)
// and the PostgreSQL store (package store/postgres) share. A query is
// written once, in the common SQL of both, with ? placeholders; the
// engine's Dialect turns it into what its engine reads (the rebind of
// jmoiron/sqlx, done once per query text and remembered). What really
// differs stays with the engines: how they open, migrate and refuse a
// foreign database, the write path (SQLite's one writer; PostgreSQL's
// chain head lock and leased claims), the leader lease.
package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Rows is a result set: *sql.Rows and pgx.Rows behind one face.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is one row of a query; Scan returns an error that is
// sql.ErrNoRows when there is none (pgx's ErrNoRows is one).
type Row interface{ Scan(dest ...any) error }

// Conn is an engine's transaction as the shared queries use it: the
// statements come already rewritten for the engine. Each engine puts its
// write path behind it: SQLite's read-only check and prepared statements;
// PostgreSQL's chain head lock, taken before any statement but Own.
type Conn interface {
	Exec(q string, args ...any) (int64, error) // rows affected
	Query(q string, args ...any) (Rows, error)
	QueryRow(q string, args ...any) Row
	// Own runs a compare-and-set of one job row the caller holds: atomic
	// alone, so PostgreSQL takes no chain head lock for it.
	Own(q string, args ...any) (int64, error)
	// Head is the audit chain's head as this transaction holds it.
	Head() (hash string, seq int64, err error)
	// Moved records the head after an append.
	Moved(seq int64, hash string)
}

// Tx is the shared part of a transaction: the engine's Tx embeds it and
// adds what its engine does its own way.
type Tx struct {
	C        Conn
	D        *Dialect
	Now      func() time.Time
	ReadOnly bool
}

func (t *Tx) exec(q string, args ...any) (int64, error) { return t.C.Exec(t.D.SQL(q), args...) }

func (t *Tx) query(q string, args ...any) (Rows, error) { return t.C.Query(t.D.SQL(q), args...) }

func (t *Tx) queryRow(q string, args ...any) Row { return t.C.QueryRow(t.D.SQL(q), args...) }

// casExec runs an UPDATE that must change exactly one row.
func (t *Tx) casExec(q string, args ...any) error {
	n, err := t.exec(q, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return approvals.ErrConflict
	}
	return nil
}

// bumped increments a compare-and-set token after the update that
// checked it succeeded (err is nil).
func bumped(version *int, err error) error {
	if err == nil {
		*version++
	}
	return err
}

// Scanner reads one row.
type Scanner interface{ Scan(dest ...any) error }

// runner is a transaction or a pool with its context: what queryAll reads from.
type runner interface {
	query(q string, args ...any) (Rows, error)
}

// queryAll runs q and scans every row it returns with scan.
func queryAll[T any](r runner, scan func(Scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := r.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// eachRow runs q and calls fn for every row it returns.
func (t *Tx) eachRow(fn func(Scanner) error, q string, args ...any) error {
	_, err := queryAll(t, func(s Scanner) (struct{}, error) { return struct{}{}, fn(s) }, q, args...)
	return err
}

// byID reads the row of table whose id is id or, failing that, the one row
// whose id starts with id when id has at least 8 characters (the short form
// people see); ErrNotFound when there is none, or more than one.
func byID[T any](t *Tx, table, cols string, scan func(Scanner) (T, error), id string) (T, error) {
	var zero T
	v, err := scan(t.queryRow(`SELECT `+cols+` FROM `+table+` WHERE id = ?`, id))
	if noRows(err) && len(id) >= 8 && len(id) < 36 {
		where, args := t.D.Prefix("id", id)
		vs, err := queryAll(t, scan, `SELECT `+cols+` FROM `+table+` WHERE `+where+` LIMIT 2`, args...)
		if err != nil {
			return zero, err
		}
		if len(vs) == 1 {
			return vs[0], nil
		}
		return zero, approvals.ErrNotFound
	}
	if noRows(err) {
		return zero, approvals.ErrNotFound
	}
	return v, err
}

// orNotFound is v, err with no row read as approvals.ErrNotFound.
func orNotFound[T any](v T, err error) (T, error) {
	if noRows(err) {
		var zero T
		return zero, approvals.ErrNotFound
	}
	return v, err
}

// noRows reports whether err says a query returned no row.
func noRows(err error) bool { return errors.Is(err, ErrNoRows) }

// placeholders returns n comma-separated placeholders.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// JSONText encodes v as JSON text.
func JSONText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fromJSON decodes JSON texts into their targets, given in pairs.
func fromJSON(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := json.Unmarshal([]byte(pairs[i].(string)), pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// MS is t in Unix milliseconds, 0 for the zero time.
func MS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMS is the UTC time of Unix milliseconds v, the zero time for 0.
func FromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

var ms, fromMS, jsonText = MS, FromMS, JSONText

// ErrNoRows is what Row.Scan returns when there is no row.
var ErrNoRows = sql.ErrNoRows
