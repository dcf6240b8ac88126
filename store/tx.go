package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/jitbot/jitbot/store/sqlstore"
)

// Tx is one transaction; it implements approvals.Tx. The queries both
// engines share are sqlstore.Tx's.
type Tx struct {
	sqlstore.Tx
	tx       *sql.Tx
	ctx      context.Context
	db       *DB
	readOnly bool

	headKnown bool // the audit chain's head, once read in this transaction
	headSeq   int64
	headHash  string
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	if t.readOnly {
		return nil, errors.New("store: write in a read transaction")
	}
	if st := t.stmt(q); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(q); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	if st := t.stmt(q); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

// stmt returns q prepared for this transaction, or nil the first time q is
// seen: SQLite's parse and plan of the engine's statements cost more than
// running them, so each is prepared once per pool and reused. A statement
// cannot be prepared while a transaction holds the connection (the write
// pool has one), so a new one is prepared after the transaction ends.
func (t *Tx) stmt(q string) *sql.Stmt {
	c := &t.db.writeStmts
	if t.readOnly {
		c = &t.db.readStmts
	}
	if v, ok := c.stmts.Load(q); ok {
		return t.tx.StmtContext(t.ctx, v.(*sql.Stmt))
	}
	c.want(q)
	return nil
}

// stmtCache holds one pool's prepared statements.
type stmtCache struct {
	stmts sync.Map // query → *sql.Stmt

	mu     sync.Mutex
	wanted map[string]bool
	size   int
}

// maxStmts bounds a cache; queries beyond it run unprepared.
const maxStmts = 512

func (c *stmtCache) want(q string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size+len(c.wanted) >= maxStmts {
		return
	}
	if c.wanted == nil {
		c.wanted = map[string]bool{}
	}
	c.wanted[q] = true
}

// prepare prepares the statements transactions asked for; call it with no
// transaction of this goroutine open on pool.
func (c *stmtCache) prepare(ctx context.Context, pool *sql.DB) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for q := range wanted {
		if _, ok := c.stmts.Load(q); ok {
			continue
		}
		st, err := pool.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared
		}
		if _, loaded := c.stmts.LoadOrStore(q, st); loaded {
			st.Close()
			continue
		}
		c.mu.Lock()
		c.size++
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() error {
	var errs []error
	c.stmts.Range(func(k, v any) bool {
		errs = append(errs, v.(*sql.Stmt).Close())
		c.stmts.Delete(k)
		return true
	})
	return errors.Join(errs...)
}

var ms = sqlstore.MS
