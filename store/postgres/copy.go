package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store"
)

// CopyResult says what CopyFromSQLite moved.
type CopyResult struct {
	Rows   map[string]int64 // by table
	Events int64            // audit events, verified on both sides
	Head   audit.Anchor     // the chain head, the same on both sides
}

// firstTables are copied before the others: their rows are referenced.
var firstTables = []string{"requests", "grants", "decisions"}

// CopyFromSQLite copies every row of a SQLite jitbot database into dst,
// which must be empty, in one transaction read from one snapshot of src.
// It is all or nothing: the source's chain is verified before anything is
// written, and the copied chain inside the transaction before it commits —
// it must end at the source's head — so that a failed copy leaves dst as
// empty as it found it, ready for another try. Tables and columns are
// matched by name: a table or column of src that dst has no place for stops
// the copy with nothing written, so that a newer SQLite schema is never
// copied in part. The audit events keep their sequence numbers and hashes.
// The source must not change meanwhile (the CLI opens it exclusively).
func CopyFromSQLite(ctx context.Context, src *store.DB, dst *DB) (*CopyResult, error) {
	if err := dst.mustBeEmpty(ctx); err != nil {
		return nil, err
	}
	from, err := audit.Verify(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("the source chain does not verify: %w; nothing was written", err)
	}
	stx, err := src.ReadDB().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer stx.Rollback()
	tables, err := sqliteTables(ctx, stx)
	if err != nil {
		return nil, err
	}
	res := &CopyResult{Rows: map[string]int64{}}
	err = pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error {
		// Hold the chain head, as every writer does: a replica started on
		// the target too early waits for the copy.
		var seq int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM audit_head FOR UPDATE`).Scan(&seq); err != nil {
			return err
		}
		if seq != 0 {
			return fmt.Errorf("%s already holds an audit chain: copy only into an empty database", dst.name)
		}
		// A version means the same change on both engines.
		var srcV, dstV int
		if err := stx.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&srcV); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&dstV); err != nil {
			return err
		}
		if srcV != dstV {
			return fmt.Errorf("the SQLite database has schema version %d and %s version %d: open both with the same jitbot", srcV, dst.name, dstV)
		}
		for _, table := range tables {
			n, err := copyTable(ctx, stx, tx, table)
			if err != nil {
				return fmt.Errorf("copy table %s: %w", table, err)
			}
			res.Rows[table] = n
		}
		// Identity columns go on after the copied ids.
		rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND is_identity = 'YES'`)
		if err != nil {
			return err
		}
		idents, err := pgx.CollectRows(rows, pair)
		if err != nil {
			return err
		}
		for _, tc := range idents {
			table, col := pgx.Identifier{tc[0]}.Sanitize(), pgx.Identifier{tc[1]}.Sanitize()
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max(`+col+`), 0) + 1, false) FROM `+table,
				tc[0], tc[1]); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = h.seq, hash = h.hash FROM
			(SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) h`); err != nil {
			return err
		}
		// What was written is checked before it is committed: a chain that
		// differs rolls everything back.
		to, err := audit.Verify(ctx, txEvents{dst, tx}, from.Head)
		if err != nil {
			return fmt.Errorf("the copied chain does not verify: %w", err)
		}
		if to.Count != from.Count || to.Head != from.Head {
			return fmt.Errorf("the copied chain differs: %d events to %s, the source %d to %s", to.Count, to.Head, from.Count, from.Head)
		}
		res.Events, res.Head = to.Count, to.Head
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was written", err)
	}
	return res, nil
}

// mustBeEmpty refuses a target that holds any jitbot data.
func (db *DB) mustBeEmpty(ctx context.Context) error {
	rows, err := db.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
		AND table_name NOT IN ('schema_migrations', 'audit_head', 'leader') ORDER BY table_name`)
	if err != nil {
		return db.explain(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return db.explain(err)
	}
	var full []string
	for _, t := range tables {
		var any bool
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
			return db.explain(err)
		}
		if any {
			full = append(full, t)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%s is not empty (tables %s have rows): copy only into a new database or schema, nothing was written",
			db.name, strings.Join(full, ", "))
	}
	return nil
}

// sqliteTables lists the source's tables in copy order.
func sqliteTables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	names, err := sqliteNames(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(names, func(a, b string) int {
		ia, ib := slices.Index(firstTables, a), slices.Index(firstTables, b)
		if ia < 0 {
			ia = len(firstTables)
		}
		if ib < 0 {
			ib = len(firstTables)
		}
		return ia - ib
	})
	return names, nil
}

// copyTable streams one table with COPY, converting SQLite's integers to
// booleans where the target column is one.
func copyTable(ctx context.Context, stx *sql.Tx, dtx pgx.Tx, table string) (int64, error) {
	cols, err := sqliteColumns(ctx, stx, table)
	if err != nil {
		return 0, err
	}
	rows, err := dtx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, err
	}
	pairs, err := pgx.CollectRows(rows, pair)
	if err != nil {
		return 0, err
	}
	types := map[string]string{}
	for _, p := range pairs {
		types[p[0]] = p[1]
	}
	if len(types) == 0 {
		return 0, fmt.Errorf("the PostgreSQL schema has no table %s: this jitbot cannot copy it (is the SQLite database newer than this jitbot?)", table)
	}
	for _, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("the PostgreSQL table %s has no column %s: this jitbot cannot copy it", table, c)
		}
	}
	// Rows go in the order SQLite keeps them (rowid), which identity
	// columns of the target (slack_messages.added) then number the same;
	// a WITHOUT ROWID table in its key's order.
	order := "rowid"
	var withoutRowid bool
	if err := stx.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list WHERE name = ? AND schema = 'main'`, table).Scan(&withoutRowid); err != nil {
		return 0, err
	}
	switch {
	case table == "audit_events":
		order = "seq"
	case withoutRowid:
		order = "1"
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
	}
	srows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM "`+table+`" ORDER BY `+order)
	if err != nil {
		return 0, err
	}
	defer srows.Close()
	src := &sqliteRows{rows: srows, vals: make([]any, len(cols)), types: make([]string, len(cols))}
	for i, c := range cols {
		src.types[i] = types[c]
	}
	return dtx.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
}

func sqliteColumns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	return sqliteNames(ctx, tx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
}

// sqliteNames reads a column of names.
func sqliteNames(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// sqliteRows feeds pgx's COPY from SQLite rows.
type sqliteRows struct {
	rows  *sql.Rows
	vals  []any
	types []string // the target columns' data types
	err   error
}

func (r *sqliteRows) Next() bool { return r.err == nil && r.rows.Next() }

func (r *sqliteRows) Values() ([]any, error) {
	ptrs := make([]any, len(r.vals))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = err
		return nil, err
	}
	out := make([]any, len(r.vals))
	for i, v := range r.vals {
		switch r.types[i] {
		case "boolean":
			n, ok := v.(int64)
			if !ok {
				r.err = fmt.Errorf("column %d: %v (%T) is not a SQLite boolean", i, v, v)
				return nil, r.err
			}
			out[i] = n != 0
		case "text":
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			out[i] = v
		default:
			out[i] = v
		}
	}
	return out, nil
}

func (r *sqliteRows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// pair reads a row of two text columns.
func pair(r pgx.CollectableRow) ([2]string, error) {
	var p [2]string
	err := r.Scan(&p[0], &p[1])
	return p, err
}
