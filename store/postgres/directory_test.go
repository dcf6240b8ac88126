package postgres_test

import (
	"testing"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/storetest"
)

func TestDirectory(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Directory(t, func(t *testing.T) storetest.DirectoryStore {
		db, _ := openTest(t)
		return db
	})
}
