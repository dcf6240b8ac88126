package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
)

var _ directory.Store = (*DB)(nil)

// Directory returns the directory the last good sync stored, sorted by
// email, and when (zero when never).
func (db *DB) Directory(ctx context.Context) ([]directory.Person, time.Time, error) {
	var at time.Time
	var atMS int64
	err := db.read.QueryRowContext(ctx, `SELECT synced_at FROM directory_state WHERE id = 1`).Scan(&atMS)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, err
	}
	at = time.UnixMilli(atMS).UTC()
	rows, err := db.read.QueryContext(ctx, `SELECT email, department, manager, employment, sources, ids, suspended FROM directory_people ORDER BY email`)
	if err != nil {
		return nil, at, err
	}
	defer rows.Close()
	var out []directory.Person
	for rows.Next() {
		p, err := scanDirectoryPerson(rows)
		if err != nil {
			return nil, at, err
		}
		out = append(out, p)
	}
	return out, at, rows.Err()
}

// scanDirectoryPerson reads one directory_people row (both stores).
func scanDirectoryPerson(s scanner) (directory.Person, error) {
	var p directory.Person
	var sources string
	var suspended int
	if err := s.Scan(&p.Email, &p.Department, &p.Manager, &p.Employment, &sources, &p.IDs, &suspended); err != nil {
		return p, err
	}
	p.Suspended = suspended != 0
	return p, json.Unmarshal([]byte(sources), &p.Sources)
}

// DirectoryRow is a person as directory_people holds them: the JSON
// columns encoded. Both stores write it.
func DirectoryRow(p directory.Person) (sources, ids string, suspended int) {
	s, _ := json.Marshal(p.Sources)
	if p.Suspended {
		suspended = 1
	}
	return string(s), string(p.IDs), suspended
}

// SaveDirectory writes the rows of the people in changed (deleting those
// no longer listed), the sync time and events, in one transaction.
func (db *DB) SaveDirectory(ctx context.Context, people []directory.Person, changed []string, events []*approvals.Event, at time.Time) error {
	return db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*Tx)
		err := directory.WalkChanged(people, changed, func(email string, p *directory.Person) error {
			if p == nil {
				_, err := t.exec(`DELETE FROM directory_people WHERE email = ?`, email)
				return err
			}
			sources, ids, susp := DirectoryRow(*p)
			_, err := t.exec(`INSERT INTO directory_people (email, department, manager, employment, sources, ids, suspended) VALUES (?,?,?,?,?,?,?)
				ON CONFLICT (email) DO UPDATE SET department=excluded.department, manager=excluded.manager, employment=excluded.employment,
				sources=excluded.sources, ids=excluded.ids, suspended=excluded.suspended`,
				p.Email, p.Department, p.Manager, p.Employment, sources, ids, susp)
			return err
		})
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO directory_state (id, synced_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at`, at.UnixMilli()); err != nil {
			return err
		}
		return t.AppendEvents(events)
	})
}

// RecordDirectory appends events (a refused sync) to the audit chain.
func (db *DB) RecordDirectory(ctx context.Context, events []*approvals.Event) error {
	return db.Update(ctx, func(atx approvals.Tx) error { return atx.(*Tx).AppendEvents(events) })
}
