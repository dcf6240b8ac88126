package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store"
)

// The Jira provisioner uses the store as its AccountCache and, optionally,
// as an AccountEmailer (provisioner/jira). Both are checked here so the
// store cannot drift from them without failing to compile.
var (
	_ interface {
		GetAccount(ctx context.Context, provider, email string) (string, bool, error)
		PutAccount(ctx context.Context, provider, email, accountID string) error
	} = (*store.DB)(nil)
	_ interface {
		AccountEmail(ctx context.Context, provider, accountID string) (string, bool, error)
	} = (*store.DB)(nil)
)

func TestAccounts_ReverseLookup(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "j.db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	wantEmail := func(provider, id, want string) {
		t.Helper()
		got, ok, err := db.AccountEmail(ctx, provider, id)
		if err != nil {
			t.Fatalf("AccountEmail(%s, %s): %v", provider, id, err)
		}
		if want == "" {
			if ok || got != "" {
				t.Fatalf("AccountEmail(%s, %s): got %q, %v; want not found", provider, id, got, ok)
			}
			return
		}
		if !ok || got != want {
			t.Fatalf("AccountEmail(%s, %s): got %q, %v; want %q, true", provider, id, got, ok, want)
		}
	}

	wantEmail("jira", "acc-1", "") // empty cache
	if err := db.PutAccount(ctx, "jira", "Alice@Example.com", "acc-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutAccount(ctx, "jira", "bob@example.com", "acc-2"); err != nil {
		t.Fatal(err)
	}
	wantEmail("jira", "acc-1", "alice@example.com") // stored lower-cased, as GetAccount keys it
	wantEmail("jira", "acc-2", "bob@example.com")
	wantEmail("jira", "acc-3", "")       // unknown id
	wantEmail("confluence", "acc-1", "") // another provider's id space
	wantEmail("jira", "ACC-1", "")       // ids are opaque: no case folding
	if id, ok, err := db.GetAccount(ctx, "jira", "alice@example.com"); err != nil || !ok || id != "acc-1" {
		t.Fatalf("GetAccount: got %q, %v, %v", id, ok, err)
	}

	// The address changed and the new one was cached later: it wins.
	now = now.Add(time.Hour)
	if err := db.PutAccount(ctx, "jira", "alice@new.example.com", "acc-1"); err != nil {
		t.Fatal(err)
	}
	wantEmail("jira", "acc-1", "alice@new.example.com")
	// Re-pointing an email at another id moves it.
	now = now.Add(time.Hour)
	if err := db.PutAccount(ctx, "jira", "bob@example.com", "acc-9"); err != nil {
		t.Fatal(err)
	}
	wantEmail("jira", "acc-2", "")
	wantEmail("jira", "acc-9", "bob@example.com")

	// A cancelled context is an error, not "not found".
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok, err := db.AccountEmail(cctx, "jira", "acc-1"); err == nil || ok {
		t.Fatalf("AccountEmail with a cancelled context: got ok=%v err=%v, want an error", ok, err)
	}
}

// TestAccounts_ReverseLookupIndexed checks that the lookup uses the index of
// migration 2, and that a version 1 database gains it when opened.
func TestAccounts_ReverseLookupIndexed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	db := open(t, path)
	plan := func(db *store.DB) string {
		t.Helper()
		rows, err := db.ReadDB().QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT email FROM accounts WHERE provider=? AND account_id=?
			ORDER BY updated_at DESC, email LIMIT 1`, "jira", "acc-1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	if p := plan(db); !strings.Contains(p, "accounts_by_id") {
		t.Fatalf("query plan does not use accounts_by_id:\n%s", p)
	}

	db.Close()

	// A version 1 database with a cached account.
	path = filepath.Join(t.TempDir(), "v1.db")
	db, err := store.OpenAtVersion(ctx, path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan(db); strings.Contains(p, "accounts_by_id") {
		t.Fatalf("a version 1 database has accounts_by_id already:\n%s", p)
	}
	if err := db.PutAccount(ctx, "jira", "alice@example.com", "acc-1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := store.Open(ctx, path, store.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "run jitbot once to migrate") {
		t.Fatalf("read-only open of a version 1 database: got %v, want a migrate-first error", err)
	}
	db = open(t, path)
	if p := plan(db); !strings.Contains(p, "accounts_by_id") {
		t.Fatalf("after migrating: query plan does not use accounts_by_id:\n%s", p)
	}
	if e, ok, err := db.AccountEmail(ctx, "jira", "acc-1"); err != nil || !ok || e != "alice@example.com" {
		t.Fatalf("AccountEmail after migrating: got %q, %v, %v", e, ok, err)
	}
}
