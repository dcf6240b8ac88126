package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store/postgres"
)

// A schema migrated before the versions meant the same change on both
// engines recorded 1 (init), 2 (integrity), 3 (reviews): it opens, its
// versions read as today's (2 → 4, 3 → 5), and what it lacks is added.
func TestOpen_LegacyVersions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		at     int   // today's version the old schema matches
		legacy []int // what the older jitbot recorded
	}{
		{"integrity", 4, []int{1, 2}},
		{"reviews", 5, []int{1, 2, 3}},
		{"init", 1, []int{1}},
		{"aligned at 3, not legacy", 3, nil},
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
			if _, err := postgres.Open(ctx, url, postgres.Options{ReadOnly: true}); (err == nil) != (c.at == 5) {
				t.Fatalf("read-only open of a schema at %d (recorded %v): %v", c.at, c.legacy, err)
			}
			db = openURL(t, url)
			rows, _ := db.Pool().Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
			got, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil || !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
				t.Fatalf("versions after open: %v (%v), want 1 to 5", got, err)
			}
			var reviews bool
			if err := db.Pool().QueryRow(ctx, `SELECT to_regclass('review_items') IS NOT NULL`).Scan(&reviews); err != nil || !reviews {
				t.Fatalf("review tables after open: %v (%v)", reviews, err)
			}
		})
	}
}
