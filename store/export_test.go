package store

import "context"

// OpenAtVersion opens a database migrated no further than version v, as an
// older jitbot left it (migration tests).
func OpenAtVersion(ctx context.Context, path string, v int) (*DB, error) {
	return Open(ctx, path, Options{maxVersion: v})
}
