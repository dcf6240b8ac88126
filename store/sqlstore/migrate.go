package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
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
