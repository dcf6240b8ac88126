// Package pgtest gives tests a PostgreSQL schema of their own on the server
// JITBOT_TEST_POSTGRES names, and drops it when the test ends.
//
//	JITBOT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test go test ./...
//
// Where the variable is unset, the tests that need PostgreSQL skip, saying
// how to run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that names the test server.
const Env = "JITBOT_TEST_POSTGRES"

// ServerURL returns JITBOT_TEST_POSTGRES, or skips the test when it is unset.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip("PostgreSQL tests skipped: set " + Env + "=postgres://postgres@127.0.0.1:5432/test (a server with trust auth; .ci/run sets it and starts the server) to run them")
	}
	return u
}

// Schema creates an empty schema for the test and returns a URL whose
// search_path is that schema, and the schema's name. The schema is dropped,
// with everything in it, when the test ends.
func Schema(tb testing.TB) (string, string) {
	tb.Helper()
	base := ServerURL(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "jitbot_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s (%s): %v", Env, base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	// The server is shared by every test package running at once (and by
	// other engineers' tests): small pools keep it under max_connections.
	if !q.Has("pool_max_conns") {
		q.Set("pool_max_conns", "6")
	}
	u.RawQuery = q.Encode()
	return u.String(), name
}
