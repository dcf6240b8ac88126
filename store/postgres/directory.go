package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/store"
)

var _ directory.Store = (*DB)(nil)

// Directory returns the directory the last good sync stored, sorted by
// email, and when (zero when never).
func (db *DB) Directory(ctx context.Context) ([]directory.Person, time.Time, error) {
	var atMS int64
	err := db.read.QueryRow(ctx, `SELECT synced_at FROM directory_state WHERE id = 1`).Scan(&atMS)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, err
	}
	at := time.UnixMilli(atMS).UTC()
	rows, err := db.read.Query(ctx, `SELECT email, department, manager, employment, sources, ids, suspended FROM directory_people ORDER BY email`)
	if err != nil {
		return nil, at, err
	}
	defer rows.Close()
	var out []directory.Person
	for rows.Next() {
		var p directory.Person
		var sources, ids string
		if err := rows.Scan(&p.Email, &p.Department, &p.Manager, &p.Employment, &sources, &ids, &p.Suspended); err != nil {
			return nil, at, err
		}
		p.IDs = directory.IDs(ids)
		if err := json.Unmarshal([]byte(sources), &p.Sources); err != nil {
			return nil, at, err
		}
		out = append(out, p)
	}
	return out, at, rows.Err()
}

// SaveDirectory writes the rows of the people in changed (deleting those
// no longer listed), the sync time and events, in one transaction.
func (db *DB) SaveDirectory(ctx context.Context, people []directory.Person, changed []string, events []*approvals.Event, at time.Time) error {
	return db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*Tx)
		err := directory.WalkChanged(people, changed, func(email string, p *directory.Person) error {
			if p == nil {
				_, err := t.exec(`DELETE FROM directory_people WHERE email = $1`, email)
				return err
			}
			sources, ids, susp := store.DirectoryRow(*p)
			_, err := t.exec(`INSERT INTO directory_people (email, department, manager, employment, sources, ids, suspended) VALUES ($1,$2,$3,$4,$5,$6,$7)
				ON CONFLICT (email) DO UPDATE SET department=excluded.department, manager=excluded.manager, employment=excluded.employment,
				sources=excluded.sources, ids=excluded.ids, suspended=excluded.suspended`,
				p.Email, p.Department, p.Manager, p.Employment, sources, ids, susp != 0)
			return err
		})
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO directory_state (id, synced_at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at`, at.UnixMilli()); err != nil {
			return err
		}
		return t.AppendEvents(events)
	})
}

// RecordDirectory appends events (a refused sync) to the audit chain.
func (db *DB) RecordDirectory(ctx context.Context, events []*approvals.Event) error {
	return db.Update(ctx, func(atx approvals.Tx) error { return atx.(*Tx).AppendEvents(events) })
}
