package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store"
)

// The bot (Exclusive) hears the CLI's writes (Announce) at once.
func TestWatchWork(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	open := func(o store.Options) *store.DB {
		db, err := store.Open(context.Background(), path, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	runner := open(store.Options{Exclusive: true})
	storetest.Wakes(t, runner, open(store.Options{Announce: true}), open(store.Options{}))
	// Another process that is not the bot does not watch.
	if err := open(store.Options{}).WatchWork(t.Context(), func() { t.Error("a process that is not the bot watched") }); err != nil {
		t.Fatal(err)
	}
}
