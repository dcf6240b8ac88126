package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store"
)

func TestDirectory(t *testing.T) {
	storetest.Directory(t, func(t *testing.T) storetest.DirectoryStore {
		db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
