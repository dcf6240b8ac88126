package postgres

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/leader"
)

// DefaultLease is how long a leader's lease runs without a renewal.
const DefaultLease = leader.DefaultLease

// ElectorOptions tune NewElector.
type ElectorOptions = leader.Options

// Elector elects one leader among the replicas on one database
// (internal/leader) with a lease row, table leader. Lease times are the
// database's clock (clock_timestamp()), so replicas whose clocks disagree
// still agree on who leads.
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
	*leader.Elector
	lease *lease
}

var _ approvals.Elector = (*Elector)(nil)

// lease is the leader row of one role.
type lease struct {
	db       *DB
	pool     *pgxpool.Pool // the elector's own connection, while Run runs
	cut      atomic.Bool   // tests: the database is out of reach
	name, id string
	length   time.Duration
}

// NewElector returns an elector on db. Start it with Run.
func NewElector(db *DB, opt ElectorOptions) *Elector {
	opt = opt.Defaults()
	l := &lease{db: db, name: opt.Name, id: opt.ID, length: opt.Lease}
	return &Elector{Elector: leader.New(l, opt), lease: l}
}

// Run campaigns until ctx ends (leader.Elector.Run). The lease has a
// connection of its own: renewals must never queue behind write
// transactions waiting for the chain head, or a busy leader would lose its
// lease.
func (e *Elector) Run(ctx context.Context) error {
	cfg := e.lease.db.pool.Config().Copy()
	cfg.MaxConns, cfg.MinConns = 1, 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return e.lease.db.explain(err)
	}
	e.lease.pool = pool
	defer pool.Close()
	return e.Elector.Run(ctx)
}

// Acquire takes the lease when it is free or has run out, or renews it
// when this replica holds it; a new holder starts a new term.
func (l *lease) Acquire(ctx context.Context) (term int64, wait time.Duration, err error) {
	if l.cut.Load() {
		return 0, 0, errors.New("cut off from the database")
	}
	err = l.pool.QueryRow(ctx, `INSERT INTO leader AS l (name, holder, term, since, until)
		VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
			term = CASE WHEN l.holder = excluded.holder AND l.until > clock_timestamp() THEN l.term ELSE l.term + 1 END,
			since = CASE WHEN l.holder = excluded.holder AND l.until > clock_timestamp() THEN l.since ELSE clock_timestamp() END,
			until = excluded.until
		WHERE l.holder = excluded.holder OR l.until <= clock_timestamp()
		RETURNING term`, l.name, l.id, l.length.Milliseconds()).Scan(&term)
	if !isNoRows(err) {
		return term, 0, err
	}
	var left float64 // seconds until the holder's lease runs out
	err = l.pool.QueryRow(ctx, `SELECT extract(epoch FROM until - clock_timestamp()) FROM leader WHERE name = $1`, l.name).Scan(&left)
	return 0, time.Duration(left*float64(time.Second)) + 5*time.Millisecond, err
}

// Release ends this replica's lease now.
func (l *lease) Release(ctx context.Context) error {
	_, err := l.pool.Exec(ctx, `UPDATE leader SET until = clock_timestamp() WHERE name = $1 AND holder = $2`, l.name, l.id)
	return err
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
