package postgres_test

import (
	"context"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store/postgres"
)

func TestIsURL(t *testing.T) {
	for _, tc := range []struct {
		give string
		want bool
	}{
		{"postgres://u@h/db", true},
		{"postgresql://u@h/db", true},
		{"jitbot.db", false},
		{"/var/lib/jitbot/postgres://x", false},
		{"file:jitbot.db", false},
	} {
		if got := postgres.IsURL(tc.give); got != tc.want {
			t.Errorf("IsURL(%q): got %v, want %v", tc.give, got, tc.want)
		}
	}
}

func TestOpen_Errors(t *testing.T) {
	ctx := context.Background()
	t.Run("NewerSchema", func(t *testing.T) {
		db, url := openTest(t)
		if _, err := db.Pool().Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
			t.Fatal(err)
		}
		_, err := postgres.Open(ctx, url, postgres.Options{})
		if err == nil || !strings.Contains(err.Error(), "newer jitbot") || !strings.Contains(err.Error(), "999") {
			t.Fatalf("got %v, want a newer-schema error naming version 999", err)
		}
	})
	t.Run("ForeignTables", func(t *testing.T) {
		url, _ := pgtest.Schema(t)
		other := openURLRaw(t, url)
		defer other.Close()
		_, err := postgres.Open(ctx, url, postgres.Options{})
		if err == nil || !strings.Contains(err.Error(), "not jitbot's") {
			t.Fatalf("got %v, want a refusal of a schema with another application's tables", err)
		}
	})
	t.Run("ReadOnlyEmpty", func(t *testing.T) {
		url, _ := pgtest.Schema(t)
		_, err := postgres.Open(ctx, url, postgres.Options{ReadOnly: true})
		if err == nil || !strings.Contains(err.Error(), "no jitbot database") {
			t.Fatalf("got %v, want no jitbot database", err)
		}
	})
	t.Run("PasswordNotShown", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://jitbot:s3cret-pw@127.0.0.1:1/db?connect_timeout=1", postgres.Options{})
		if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("got %v, want an error without the password", err)
		}
	})
	t.Run("ReadOnlyRefusesWrites", func(t *testing.T) {
		_, url := openTest(t)
		ro, err := postgres.Open(ctx, url, postgres.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if err := ro.Update(ctx, func(tx approvals.Tx) error { return tx.Append(&approvals.Event{Actor: "x", Action: "y"}) }); err == nil {
			t.Fatal("a write through a read-only store succeeded")
		}
	})
}

// openURLRaw creates a table that is not jitbot's in the schema of url.
func openURLRaw(t *testing.T, url string) interface{ Close() } {
	t.Helper()
	conn := pgConnect(t, url)
	if _, err := conn.Exec(context.Background(), `CREATE TABLE invoices (id int)`); err != nil {
		t.Fatal(err)
	}
	return closer(func() { conn.Close(context.Background()) })
}

type closer func()

func (c closer) Close() { c() }

// Replicas starting at once on an empty schema migrate it once.
func TestOpen_ConcurrentMigrations(t *testing.T) {
	url, _ := pgtest.Schema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db := openURL(t, url)
	var n, distinct int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil || n != distinct {
		t.Fatalf("migrations recorded: %d, %d distinct (%v), want each once", n, distinct, err)
	}
	// Every migration once: as many as there are files (versions may skip
	// a number another branch takes).
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || n != len(files) {
		t.Fatalf("migrations recorded: %d, want the %d files once each (%v)", n, len(files), err)
	}
}

// The audit trail is append-only in the database itself.
func TestAudit_AppendOnly(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx approvals.Tx) error { return tx.Append(&approvals.Event{Actor: "system", Action: "test"}) }); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_events SET actor='mallory'`, `DELETE FROM audit_events`, `TRUNCATE audit_events`} {
		if _, err := db.Pool().Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want the trigger to refuse it", q, err)
		}
	}
}

func pgConnect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("pool_max_conns") // a pool's setting: a lone connection sends it to the server
	u.RawQuery = q.Encode()
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
