package sqlstore

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// SQLite and Postgres are the two engines' dialects: all that differs in
// the text of the queries they share.
var (
	SQLite = &Dialect{
		Name: "sqlite", Hints: true, IntBools: true, InsertOrder: "rowid", BigInt: "INTEGER",
		JSON: func(col, key string) string { return "json_extract(" + col + ", '$." + key + "')" },
		// An index range: SQLite's LIKE ignores case and reads no index.
		Prefix: func(col, p string) (string, []any) {
			return col + " >= ? AND " + col + " < ?", []any{p, p + "\xff"}
		},
	}
	Postgres = &Dialect{
		Name: "postgres", Numbered: true, ByteOrder: true, InsertOrder: "added", ForUpdate: " FOR UPDATE", BigInt: "bigint",
		JSON: func(col, key string) string { return col + "::jsonb->>'" + key + "'" },
		// LIKE reads the text_pattern_ops index; the range above would
		// need an invalid UTF-8 bound.
		Prefix: func(col, p string) (string, []any) {
			return col + " LIKE ?", []any{strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"}
		},
	}
)

// Dialect is what differs in the text of a query between the engines.
type Dialect struct {
	Name string
	// Numbered: placeholders are $1, $2… (PostgreSQL); ?N stands for $N.
	Numbered bool
	// Hints keeps SQLite's INDEXED BY hints; the other engine drops them.
	Hints bool
	// ByteOrder keeps COLLATE "C" (PostgreSQL's byte order); SQLite
	// compares bytes already and knows no such collation.
	ByteOrder bool
	// InsertOrder is the column that orders a table's rows by insertion
	// (SQLite's rowid; a PostgreSQL identity column).
	InsertOrder string
	// Prefix is the WHERE term and arguments that match ids starting
	// with p (an index range in SQLite, LIKE on text_pattern_ops in
	// PostgreSQL).
	Prefix func(col, p string) (string, []any)
	// JSON reads key of a JSON text column as text.
	JSON func(col, key string) string
	// IntBools: booleans are integers, and "= false" and "= true" are
	// written "= 0" and "= 1" (SQLite matches a partial index's terms by
	// their text).
	IntBools bool
	// ForUpdate locks the rows a query reads, where rows are locked.
	ForUpdate string
	// BigInt is the type of a 64-bit integer column in DDL.
	BigInt string

	cache sync.Map // query text → rewritten text
	size  atomic.Int32
}

// maxCached bounds the rewrites remembered; queries built with values
// in their text (a LIMIT) beyond it are rewritten each time.
const maxCached = 2048

// SQL returns q as the dialect's engine reads it. The rewrite is
// remembered, and so is a query that needs none: a lookup costs less than
// looking for what to rewrite.
func (d *Dialect) SQL(q string) string {
	if v, ok := d.cache.Load(q); ok {
		return v.(string)
	}
	s := q
	if d.Numbered || strings.Contains(q, collateC) || (d.IntBools && (strings.Contains(q, " = false") || strings.Contains(q, " = true"))) {
		s = d.rewrite(q)
	}
	if d.size.Load() < maxCached {
		if _, loaded := d.cache.LoadOrStore(q, s); !loaded {
			d.size.Add(1)
		}
	}
	return s
}

const collateC = ` COLLATE "C"`

func (d *Dialect) rewrite(q string) string {
	if !d.ByteOrder {
		q = strings.ReplaceAll(q, collateC, "")
	}
	if d.IntBools {
		q = strings.NewReplacer(" = false", " = 0", " = true", " = 1").Replace(q)
	}
	if d.Hints {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '?' && d.Numbered:
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteByte('$')
				b.WriteString(q[i+1 : j])
				i = j - 1
				continue
			}
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		case c == 'I' && strings.HasPrefix(q[i:], "INDEXED BY "):
			j := i + len("INDEXED BY ")
			for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			if j < len(q) && q[j] == ' ' {
				j++
			}
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
