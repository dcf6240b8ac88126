package postgres_test

import (
	"context"
	"testing"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store/postgres"
)

// A replica hears the CLI's writes (Announce) at once, and only those on
// its own schema.
func TestWatchWork(t *testing.T) {
	pgtest.ServerURL(t)
	url, _ := pgtest.Schema(t)
	other, _ := pgtest.Schema(t)
	open := func(url string, o postgres.Options) *postgres.DB {
		db, err := postgres.Open(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	storetest.Wakes(t, open(url, postgres.Options{}), open(url, postgres.Options{Announce: true}), open(other, postgres.Options{Announce: true}))
}
