package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store/postgres"
)

// A schema migrated before the versions meant the same change on both
// engines recorded 1 (init), 2 (integrity), 3 (reviews): it opens, its
// versions read as today's (2 → 4, 3 → 5), read-only too, and what it
// lacks is added: the later migrations (incidents, directory,
// certifications) included.
func TestOpen_LegacyVersions(t *testing.T) {
	ctx := context.Background()
	const latest = 9 // migrations/0009_cert_unescalated.sql
	for _, c := range []struct {
		name   string
		at     int   // today's version the old schema matches
		legacy []int // what the older jitbot recorded
	}{
		{"integrity", 4, []int{1, 2}},
		{"reviews", 5, []int{1, 2, 3}},
		{"init", 1, []int{1}},
		{"aligned at 3, not legacy", 3, nil},
		{"latest", latest, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, _ := pgtest.Schema(t)
			db, err := postgres.OpenAtVersion(ctx, url, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if c.legacy != nil { // rewrite the record as the older jitbot kept it
				_, err = db.Pool().Exec(ctx, `DELETE FROM schema_migrations WHERE version IN (2, 3);
					UPDATE schema_migrations SET version = version - 2 WHERE version IN (4, 5)`)
			}
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			_, err = postgres.Open(ctx, url, postgres.Options{ReadOnly: true})
			if c.at == latest && err != nil || c.at != latest && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d;", c.at))) {
				t.Fatalf("read-only open of a schema at %d (recorded %v): %v", c.at, c.legacy, err)
			}
			db = openURL(t, url)
			rows, _ := db.Pool().Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
			got, err := pgx.CollectRows(rows, pgx.RowTo[int])
			want := make([]int, latest)
			for i := range want {
				want[i] = i + 1
			}
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("versions after open: %v (%v), want %v", got, err, want)
			}
			for _, table := range []string{"review_items", "request_filings", "directory_people", "cert_items"} {
				var ok bool
				if err := db.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
					t.Fatalf("table %s after open: %v (%v)", table, ok, err)
				}
			}
		})
	}
}

// A schema made by main before the migrations were renumbered (fd0cdaf;
// testdata holds its pg_dump: versions 1, 2, 3 recorded, a chain of 16
// events) opens with this jitbot and ends with the same tables, columns,
// indexes, constraints and triggers as a schema this jitbot creates, its
// chain as it was.
func TestOpen_SchemaOfOlderMain(t *testing.T) {
	ctx := context.Background()
	oldURL, oldSchema := pgtest.Schema(t)
	newURL, _ := pgtest.Schema(t)
	dump := storetest.ReadDump(t, "testdata/postgres-main-fd0cdaf.sql.gz")
	pool, err := pgxpool.New(ctx, oldURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, strings.ReplaceAll(dump, "{{schema}}", pgx.Identifier{oldSchema}.Sanitize()))
	pool.Close()
	if err != nil {
		t.Fatalf("load the older schema: %v", err)
	}
	old, fresh := openURL(t, oldURL), openURL(t, newURL)
	got, want := describe(t, old), describe(t, fresh)
	if d := diffLines(got, want); d != "" {
		t.Errorf("the older schema after open differs from a new one (- older, + new):\n%s", d)
	}
	res, err := audit.Verify(ctx, old)
	if err != nil || res.Count != 16 || res.Head.Hash != "ea94461ccf830772b01776b4699fc2849457abf40f1f753de54f8ce03293dbb9" {
		t.Errorf("the older chain after open: %d events, head %s, %v; want 16 to ea94461c…", res.Count, res.Head, err)
	}
}

// describe lists a schema's tables, columns, indexes, constraints and
// triggers, as read through db's own search_path (so unqualified).
func describe(t *testing.T, db *postgres.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable ||
			' default=' || coalesce(column_default, '') || ' identity=' || is_identity
			FROM information_schema.columns WHERE table_schema = current_schema()`,
		`SELECT 'index ' || indexname || ': ' || replace(indexdef, schemaname || '.', '') FROM pg_indexes WHERE schemaname = current_schema()`,
		`SELECT 'constraint ' || c.relname || '.' || con.conname || ': ' || pg_get_constraintdef(con.oid)
			FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid WHERE c.relnamespace = current_schema()::regnamespace`,
		`SELECT 'trigger ' || event_object_table || '.' || trigger_name || ' ' || action_timing || ' ' || event_manipulation || ' ' || action_statement
			FROM information_schema.triggers WHERE trigger_schema = current_schema()`,
	} {
		rows, err := db.Pool().Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lines...)
	}
	slices.Sort(out)
	return out
}

// diffLines lists the lines only one of two sorted lists holds.
func diffLines(a, b []string) string {
	var d []string
	for _, l := range a {
		if _, ok := slices.BinarySearch(b, l); !ok {
			d = append(d, "- "+l)
		}
	}
	for _, l := range b {
		if _, ok := slices.BinarySearch(a, l); !ok {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
