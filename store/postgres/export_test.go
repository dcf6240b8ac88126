package postgres

import "context"

// CutOff makes the elector's database calls fail from now on, as a network
// cut or a frozen process would: it must stop leading before its lease
// runs out on the database's clock.
func (e *Elector) CutOff() { e.lease.cut.Store(true) }

// OpenAtVersion opens a schema migrated no further than version v, as an
// older jitbot left it (migration tests).
func OpenAtVersion(ctx context.Context, url string, v int) (*DB, error) {
	return Open(ctx, url, Options{maxVersion: v})
}
