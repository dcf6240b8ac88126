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

// stores opens the instances of a test: separate pools on one schema, as
// replicas are.
func stores(t *testing.T) func() storetest.Store {
	url, _ := pgtest.Schema(t)
	return func() storetest.Store { return openURL(t, url) }
}

// The PostgreSQL store passes the store contract.
func TestConformance(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Run(t, stores)
}

// The PostgreSQL store passes the certifications' part of the contract.
func TestConformanceCertify(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.RunCertify(t, stores)
}

// The PostgreSQL store passes the directory's part of the contract.
func TestDirectory(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Directory(t, func(t *testing.T) storetest.DirectoryStore {
		db, _ := openTest(t)
		return db
	})
}
