package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered change of the schema. Each engine has its own
// list where the DDL differs, but a version means the same change on both
// (PostgreSQL's 0001 holds SQLite's first three, and its 0002 and 0003
// are placeholders that say so), so that `jitbot db copy` and a reader of
// schema_migrations can rely on the numbers.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the files NNNN_what.sql in dir of fsys, in version order.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, n := range names {
		v, err := strconv.Atoi(strings.SplitN(path.Base(n), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version number", n)
		}
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1].Version >= v {
			return nil, fmt.Errorf("migration %s: version %d is not after %d", n, v, out[len(out)-1].Version)
		}
		out = append(out, Migration{Version: v, Name: n, SQL: string(body)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	return out, nil
}

// CheckVersion refuses a schema this build cannot use: one written by a
// newer jitbot, or, read-only (nothing may be migrated), an older one.
// name is how messages name the database.
func CheckVersion(name string, current, latest int, readOnly bool) error {
	switch {
	case current > latest:
		return fmt.Errorf("%s has schema version %d, written by a newer jitbot; this build knows up to %d: upgrade jitbot, nothing was written", name, current, latest)
	case readOnly && current < latest:
		return fmt.Errorf("%s has schema version %d; run jitbot once to migrate it to %d", name, current, latest)
	}
	return nil
}

// Migrate applies, with exec in the caller's transaction, every migration
// of known after version current (and none after max, when it is above 0),
// each recorded in schema_migrations: a migration that fails leaves the
// schema as it was.
func Migrate(exec func(q string, args ...any) error, d *Dialect, known []Migration, current, max int, now time.Time) error {
	if err := exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at ` + d.BigInt + ` NOT NULL)`); err != nil {
		return err
	}
	for _, m := range known {
		if m.Version <= current || (max > 0 && m.Version > max) {
			continue
		}
		if err := exec(m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if err := exec(d.SQL(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.Version, MS(now)); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
