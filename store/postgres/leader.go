package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jitbot/jitbot/approvals"
	"go.uber.org/zap"
)

// DefaultLease is how long a leader's lease runs without a renewal: when
// the leader dies, another replica takes over within it.
const DefaultLease = 15 * time.Second

// Elector elects one leader among the replicas on one database with a
// lease row (table leader): the holder renews it every third of the lease;
// the others take it over once it has run out. Lease times are the
// database's clock (clock_timestamp()), so replicas whose clocks disagree
// still agree on who leads; a leader measures its own lease on its
// monotonic clock from the moment it sent the renewal, and stops leading
// when that runs out without a renewal, before the database would let
// another replica in.
//
// A lease row was chosen over a session advisory lock held on a dedicated
// connection. The advisory lock hands over at once when a leader's process
// dies, but it lives and dies with one TCP connection: a half-open
// connection (a leader frozen, a network cut) keeps it for as long as the
// server's keepalive takes to notice, which is hours by default, it does
// not go through a transaction-pooling proxy (PgBouncer), and the leader
// learns it lost the lock only when it next uses that connection, so two
// replicas may both act for a while. The lease is bounded on both sides,
// visible (SELECT * FROM leader), and costs one UPDATE every five seconds.
type Elector struct {
	db       *DB
	pool     *pgxpool.Pool // the elector's own connection, while Run runs
	cut      atomic.Bool   // tests: the database is out of reach
	name     string
	id       string
	lease    time.Duration
	log      *zap.Logger
	onChange func(leading bool)

	mu      sync.Mutex
	term    *leaderTerm   // nil: not leading
	changed chan struct{} // closed and replaced at every change of term
	terms   int64         // terms this process has led (tests, metrics)
}

type leaderTerm struct {
	ctx    context.Context
	cancel context.CancelFunc
	number int64
}

var _ approvals.Elector = (*Elector)(nil)

// ElectorOptions tune NewElector.
type ElectorOptions struct {
	// Name is the role elected (default "engine"): one leader per name.
	Name string
	// ID names this replica in the leader row (default: a random id).
	ID string
	// Lease defaults to DefaultLease.
	Lease time.Duration
	Log   *zap.Logger
	// OnChange, when set, is told each time this replica starts or stops
	// leading (a metric: jitbot_leader).
	OnChange func(leading bool)
}

// NewElector returns an elector on db. Start it with Run.
func NewElector(db *DB, opt ElectorOptions) *Elector {
	if opt.Name == "" {
		opt.Name = "engine"
	}
	if opt.ID == "" {
		opt.ID = uuid.NewString()
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	return &Elector{db: db, name: opt.Name, id: opt.ID, lease: opt.Lease, log: opt.Log, onChange: opt.OnChange, changed: make(chan struct{})}
}

// ID returns this replica's id in the leader row.
func (e *Elector) ID() string { return e.id }

// Leading reports whether this replica leads now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term != nil
}

// Terms returns how many times this replica became the leader.
func (e *Elector) Terms() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.terms
}

// Run campaigns until ctx ends: it renews the lease while leading, and
// tries to take it while another replica's runs. At the end it gives the
// lease up, so that another replica takes over at once.
func (e *Elector) Run(ctx context.Context) error {
	// The lease has a connection of its own: renewals must never queue
	// behind write transactions waiting for the chain head, or a busy
	// leader would lose its lease.
	cfg := e.db.pool.Config().Copy()
	cfg.MaxConns, cfg.MinConns = 1, 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return e.db.explain(err)
	}
	e.pool = pool
	defer pool.Close()
	defer e.resign()
	var deadline time.Time // while leading: when our lease runs out, on our clock
	for {
		sent := time.Now()
		term, wait, err := e.attempt(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			e.log.Warn("leader lease: the database did not answer", zap.Error(err))
			wait = min(e.lease/10, time.Second)
		case term > 0:
			deadline = sent.Add(e.lease)
			e.lead(term)
			wait = e.lease / 3
		default:
			e.step()
		}
		// A leader whose renewals fail stops leading before its lease can
		// run out on the database's clock.
		if e.Leading() && err != nil {
			if left := time.Until(deadline) - e.lease/5; left <= 0 {
				e.log.Error("leader lease: not renewed in time; stepping down")
				e.step()
			} else {
				wait = min(wait, left)
			}
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// attempt takes or renews the lease. It returns the term when this
// replica holds it, else how long until the holder's lease runs out.
func (e *Elector) attempt(ctx context.Context) (term int64, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.lease/3)
	defer cancel()
	if e.cut.Load() {
		return 0, 0, errors.New("cut off from the database")
	}
	err = e.pool.QueryRow(ctx, `INSERT INTO leader AS l (name, holder, term, since, until)
		VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
			term = CASE WHEN l.holder = excluded.holder AND l.until > clock_timestamp() THEN l.term ELSE l.term + 1 END,
			since = CASE WHEN l.holder = excluded.holder AND l.until > clock_timestamp() THEN l.since ELSE clock_timestamp() END,
			until = excluded.until
		WHERE l.holder = excluded.holder OR l.until <= clock_timestamp()
		RETURNING term`, e.name, e.id, e.lease.Milliseconds()).Scan(&term)
	if err == nil {
		return term, 0, nil
	}
	if !isNoRows(err) {
		return 0, 0, err
	}
	var left float64 // seconds until the holder's lease runs out
	if err := e.pool.QueryRow(ctx, `SELECT extract(epoch FROM until - clock_timestamp()) FROM leader WHERE name = $1`, e.name).Scan(&left); err != nil {
		return 0, 0, err
	}
	wait = time.Duration(left*float64(time.Second)) + 5*time.Millisecond
	return 0, min(max(wait, 0), e.lease/3), nil
}

// lead starts (or continues) a term.
func (e *Elector) lead(number int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term != nil && e.term.number == number {
		return
	}
	if e.term != nil {
		e.term.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.term = &leaderTerm{ctx: ctx, cancel: cancel, number: number}
	e.terms++
	e.log.Info("leader: this replica leads", zap.String("role", e.name), zap.String("replica", e.id), zap.Int64("term", number))
	close(e.changed)
	e.changed = make(chan struct{})
	if e.onChange != nil {
		e.onChange(true)
	}
}

// step ends the current term, if any.
func (e *Elector) step() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == nil {
		return
	}
	e.term.cancel()
	e.log.Info("leader: this replica no longer leads", zap.String("role", e.name), zap.String("replica", e.id), zap.Int64("term", e.term.number))
	e.term = nil
	close(e.changed)
	e.changed = make(chan struct{})
	if e.onChange != nil {
		e.onChange(false)
	}
}

// resign ends the term and gives the lease up.
func (e *Elector) resign() {
	leading := e.Leading()
	e.step()
	if !leading {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := e.pool.Exec(ctx, `UPDATE leader SET until = clock_timestamp() WHERE name = $1 AND holder = $2`, e.name, e.id); err != nil {
		e.log.Warn("leader lease: could not give it up; another replica takes over when it runs out", zap.Error(err))
	}
}

// Lead runs fn for every term this replica leads until ctx ends.
func (e *Elector) Lead(ctx context.Context, fn func(ctx context.Context)) error {
	for {
		e.mu.Lock()
		term, changed := e.term, e.changed
		e.mu.Unlock()
		if term != nil {
			tctx, cancel := context.WithCancel(ctx)
			stop := context.AfterFunc(term.ctx, cancel)
			fn(tctx)
			stop()
			cancel()
			// fn may return before the term ends: wait for the next change
			// rather than run it again at once.
			select {
			case <-ctx.Done():
				return nil
			case <-term.ctx.Done():
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// Leader returns the current holder of the lease of role name and whether
// its lease is running (the CLI and tests).
func (db *DB) Leader(ctx context.Context, name string) (holder string, term int64, running bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT holder, term, until > clock_timestamp() FROM leader WHERE name = $1`, name).Scan(&holder, &term, &running)
	if isNoRows(err) {
		return "", 0, false, nil
	}
	return holder, term, running, err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
