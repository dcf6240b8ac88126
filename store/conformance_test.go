package store_test

import (
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/internal/storetest"
)

// stores opens the instances of a test: every one opens the same file, as
// the CLI beside a running bot does.
func stores(t *testing.T) func() storetest.Store {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	return func() storetest.Store { return open(t, path) }
}

// The SQLite store passes the store contract.
func TestConformance(t *testing.T) { storetest.Run(t, stores) }

// The SQLite store passes the certifications' part of the contract.
func TestConformanceCertify(t *testing.T) { storetest.RunCertify(t, stores) }

// The SQLite store passes the directory's part of the contract.
func TestDirectory(t *testing.T) {
	storetest.Directory(t, func(t *testing.T) storetest.DirectoryStore {
		return open(t, filepath.Join(t.TempDir(), "jitbot.db"))
	})
}
