package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store/sqlstore"
)

type scanner interface{ Scan(dest ...any) error }

// queryAll runs q and scans every row it returns with scan.
func queryAll[T any](t *Tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// byID reads the row of table whose id is id or, failing that, the one row
// whose id starts with id when id has at least 8 characters (the short form
// people see); ErrNotFound when there is none, or more than one.
func byID[T any](t *Tx, table, cols string, scan func(scanner) (T, error), id string) (T, error) {
	var zero T
	v, err := scan(t.queryRow(`SELECT `+cols+` FROM `+table+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) && len(id) >= 8 && len(id) < 36 {
		vs, err := queryAll(t, scan, `SELECT `+cols+` FROM `+table+` WHERE id >= ? AND id < ? LIMIT 2`, id, id+"\xff")
		if err != nil {
			return zero, err
		}
		if len(vs) == 1 {
			return vs[0], nil
		}
		return zero, approvals.ErrNotFound
	}
	if errors.Is(err, sql.ErrNoRows) {
		return zero, approvals.ErrNotFound
	}
	return v, err
}

// DueActive returns active requests whose time is up. The partial index
// requests_due_active means only due rows are read.
func (t *Tx) DueActive(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_active WHERE state = 'active' AND ends_at <= ? ORDER BY ends_at LIMIT ?`, ms(now), limit)
}

// DueStarted returns approved requests whose clock started (a bundle's
// first membership is in) and whose time is up.
func (t *Tx) DueStarted(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_started WHERE state = 'approved' AND ends_at > 0 AND ends_at <= ? ORDER BY ends_at LIMIT ?`, ms(now), limit)
}

// DuePending returns pending requests past their TTL.
func (t *Tx) DuePending(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_pending WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?`, ms(now), limit)
}

// DueReminders returns pending requests whose approvers should be reminded.
func (t *Tx) DueReminders(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = 0 AND remind_at <= ? ORDER BY remind_at LIMIT ?`, ms(now), limit)
}

// DueWarnings returns active requests whose requester should be warned.
func (t *Tx) DueWarnings(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = 0 AND warn_at <= ? ORDER BY warn_at LIMIT ?`, ms(now), limit)
}

// NextDeadline returns the earliest request deadline of any kind. Each
// term is one lookup in a partial index.
func (t *Tx) NextDeadline() (time.Time, bool, error) {
	var v sql.NullInt64
	err := t.queryRow(`SELECT min(x) FROM (
		SELECT min(ends_at) AS x FROM requests INDEXED BY requests_due_active WHERE state = 'active'
		UNION ALL SELECT min(ends_at) FROM requests INDEXED BY requests_due_started WHERE state = 'approved' AND ends_at > 0
		UNION ALL SELECT min(warn_at) FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = 0
		UNION ALL SELECT min(expires_at) FROM requests INDEXED BY requests_due_pending WHERE state = 'pending'
		UNION ALL SELECT min(remind_at) FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = 0)`).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return fromMS(v.Int64), true, nil
}

// Append seals e onto the audit chain: it reads the head inside this write
// transaction, so the chain stays linear across processes.
func (t *Tx) Append(e *approvals.Event) error {
	// The head is read once per transaction: no other writer can move it
	// while this one holds SQLite's write lock.
	if !t.headKnown {
		err := t.queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&t.headSeq, &t.headHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		t.headKnown = true
	}
	prev, seq := t.headHash, t.headSeq
	e.Seq = seq + 1
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Time.IsZero() {
		e.Time = t.db.now()
	}
	audit.Seal(prev, e)
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	_, err := t.exec(`INSERT INTO audit_events (seq, id, time, actor, action, subject, resource, request_id, grant_id,
		reason, rule, correlation_id, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		e.Seq, e.ID, ms(e.Time), e.Actor, e.Action, e.Subject, e.Resource, e.RequestID, e.GrantID, e.Reason,
		e.Rule, e.CorrelationID, jsonText(data), e.PrevHash, e.Hash)
	if err == nil {
		t.headSeq, t.headHash = e.Seq, e.Hash
	}
	return err
}

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

// casExec runs an UPDATE that must change exactly one row.
func (t *Tx) casExec(q string, args ...any) error {
	res, err := t.exec(q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return approvals.ErrConflict
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
