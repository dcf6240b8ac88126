package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store"
)

// The SQLite store passes the certifications' part of the contract.
func TestConformanceCertify(t *testing.T) {
	storetest.RunCertify(t, func(t *testing.T) func() storetest.Store {
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
