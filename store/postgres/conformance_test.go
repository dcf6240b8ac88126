package postgres_test

import (
	"context"
	"testing"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store/postgres"
)

// openTest opens a store on a new schema of JITBOT_TEST_POSTGRES.
func openTest(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	url, _ := pgtest.Schema(t)
	return openURL(t, url), url
}

func openURL(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The PostgreSQL store passes the store contract; the instances of a test
// are separate pools on one schema, as replicas are.
func TestConformance(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Run(t, func(t *testing.T) func() storetest.Store {
		url, _ := pgtest.Schema(t)
		return func() storetest.Store { return openURL(t, url) }
	})
}
