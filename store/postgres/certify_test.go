package postgres_test

import (
	"testing"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/storetest"
)

// The PostgreSQL store passes the certifications' part of the contract.
func TestConformanceCertify(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.RunCertify(t, func(t *testing.T) func() storetest.Store {
		url, _ := pgtest.Schema(t)
		return func() storetest.Store { return openURL(t, url) }
	})
}
