package store

import (
	"context"

	"github.com/jitbot/jitbot/approvals"
)

// DryRunAdd records a dry-run membership; it reports whether it was new.
func (db *DB) DryRunAdd(ctx context.Context, m approvals.Membership) (bool, error) {
	return db.dryRunChange(ctx, "add", m, `INSERT OR IGNORE INTO dryrun_members (provider, grp, person) VALUES (?,?,?)`)
}

// DryRunRemove removes a dry-run membership; it reports whether it was there.
func (db *DB) DryRunRemove(ctx context.Context, m approvals.Membership) (bool, error) {
	return db.dryRunChange(ctx, "remove", m, `DELETE FROM dryrun_members WHERE provider=? AND grp=? AND person=?`)
}

func (db *DB) dryRunChange(ctx context.Context, op string, m approvals.Membership, q string) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, db.explain(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, m.Provider, m.Group, m.Person)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dryrun_ops (op, provider, grp, person, at) VALUES (?,?,?,?,?)`,
			op, m.Provider, m.Group, m.Person, db.now().UnixMilli()); err != nil {
			return false, err
		}
	}
	return n > 0, tx.Commit()
}

// DryRunIsMember reports whether the dry-run ledger holds m.
func (db *DB) DryRunIsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM dryrun_members WHERE provider=? AND grp=? AND person=?`,
		m.Provider, m.Group, m.Person).Scan(&n)
	return n > 0, err
}

// DryRunMembers lists the dry-run members of group (at any provider when provider is empty).
func (db *DB) DryRunMembers(ctx context.Context, provider, group string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT person FROM dryrun_members WHERE grp = ? AND (? = '' OR provider = ?) ORDER BY person`, group, provider, provider)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DryRunOps returns how many dry-run adds and removes changed something.
func (db *DB) DryRunOps(ctx context.Context) (adds, removes int, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE op='add'), count(*) FILTER (WHERE op='remove') FROM dryrun_ops`).Scan(&adds, &removes)
	return
}
