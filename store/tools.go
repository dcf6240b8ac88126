package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to path with VACUUM
// INTO, from one read transaction: a running bot goes on writing (WAL) and
// the copy is the database as of one instant, compacted, with no -wal file
// to go with it. path must not exist.
func (db *DB) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists already: name a new file, nothing was written", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("backup %s: the folder %s does not exist", path, filepath.Dir(path))
	}
	// The read pool is query_only; VACUUM INTO writes only the new file, but
	// SQLite refuses it under query_only, so lift it on this connection for
	// the statement and put it back.
	return db.withPragma(ctx, db.read, "query_only = false", "query_only = true", func(conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
			os.Remove(path)
			return fmt.Errorf("backup to %s: %w", path, db.explain(err))
		}
		return nil
	})
}
