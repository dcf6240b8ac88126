package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store/postgres"
)

// A schema migrated before the versions meant the same change on both
// engines recorded 1 (init), 2 (integrity), 3 (reviews): it opens, its
// versions read as today's (2 → 4, 3 → 5), read-only too, and what it
// lacks is added: the later migrations (incidents, directory,
// certifications) included.
func TestOpen_LegacyVersions(t *testing.T) {
	ctx := context.Background()
	const latest = 8 // migrations/0008_certifications.sql
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
