package sqlstore

import "testing"

func TestDialectSQL(t *testing.T) {
	pg := &Dialect{Numbered: true, ByteOrder: true}
	lite := &Dialect{Hints: true}
	cases := []struct{ in, pg, lite string }{
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`, `SELECT a FROM t WHERE b = ? AND c = ?`},
		{`SELECT * FROM t INDEXED BY t_due WHERE x <= ?1 LIMIT ?2`, `SELECT * FROM t WHERE x <= $1 LIMIT $2`, `SELECT * FROM t INDEXED BY t_due WHERE x <= ?1 LIMIT ?2`},
		{`SELECT '?' FROM t WHERE a = ? ORDER BY a COLLATE "C"`, `SELECT '?' FROM t WHERE a = $1 ORDER BY a COLLATE "C"`, `SELECT '?' FROM t WHERE a = ? ORDER BY a`},
		{"SELECT 1 FROM t INDEXED BY t_open\n\tWHERE a", "SELECT 1 FROM t \n\tWHERE a", "SELECT 1 FROM t INDEXED BY t_open\n\tWHERE a"},
	}
	for _, c := range cases {
		for i := 0; i < 2; i++ { // the second time from the cache
			if got := pg.SQL(c.in); got != c.pg {
				t.Errorf("postgres %q:\n got %q\nwant %q", c.in, got, c.pg)
			}
			if got := lite.SQL(c.in); got != c.lite {
				t.Errorf("sqlite %q:\n got %q\nwant %q", c.in, got, c.lite)
			}
		}
	}
}

// SQLite's booleans are integers: its partial indexes are matched by the
// text of their terms (break_glass = 1).
func TestDialectSQL_IntBools(t *testing.T) {
	q := `SELECT 1 FROM t WHERE a = true AND b = false AND c = ?`
	if got, want := SQLite.SQL(q), `SELECT 1 FROM t WHERE a = 1 AND b = 0 AND c = ?`; got != want {
		t.Errorf("sqlite: got %q, want %q", got, want)
	}
	if got, want := Postgres.SQL(q), `SELECT 1 FROM t WHERE a = true AND b = false AND c = $1`; got != want {
		t.Errorf("postgres: got %q, want %q", got, want)
	}
}
