package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store"
)

// The SQLite store passes the store contract; every instance of a test
// opens the same file, as the CLI beside a running bot does.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.Store {
		path := filepath.Join(t.TempDir(), "jitbot.db")
		return func() storetest.Store {
			db, err := store.Open(context.Background(), path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	})
}
