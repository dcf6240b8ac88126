package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
)

// The directory synced from identity providers (issue 24; migration 0007
// on both engines).

var _ directory.Store = (*Store)(nil)

// engineTx is an engine's transaction: it embeds Tx.
type engineTx interface{ shared() *Tx }

func (t *Tx) shared() *Tx { return t }

// update runs fn in one write transaction of the engine, on its shared part.
func (s *Store) update(ctx context.Context, fn func(t *Tx) error) error {
	return s.Engine.Update(ctx, func(tx approvals.Tx) error { return fn(tx.(engineTx).shared()) })
}

// Directory returns the directory the last good sync stored, sorted by
// email, and when (zero when never), read from one snapshot.
func (s *Store) Directory(ctx context.Context) (out []directory.Person, at time.Time, err error) {
	err = s.Read.InTx(ctx, func(q Querier) error {
		c := dq{ctx, q, s.D}
		var atMS int64
		err := c.queryRow(`SELECT synced_at FROM directory_state WHERE id = 1`).Scan(&atMS)
		if noRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		at = fromMS(atMS)
		out, err = queryAll(c, scanDirectoryPerson, `SELECT `+directoryCols+` FROM directory_people ORDER BY email COLLATE "C"`)
		return err
	})
	return out, at, err
}

// DirectoryPerson returns one person of the stored directory (the
// licence review asks, for each suspension at an identity provider, which
// IdP lists the person): one row, not the directory.
func (s *Store) DirectoryPerson(ctx context.Context, email string) (directory.Person, bool, error) {
	p, err := scanDirectoryPerson(s.read(ctx).queryRow(`SELECT `+directoryCols+` FROM directory_people WHERE email = ?`, email))
	if noRows(err) {
		return directory.Person{}, false, nil
	}
	return p, err == nil, err
}

const directoryCols = `email, department, manager, employment, sources, ids, suspended`

func scanDirectoryPerson(s Scanner) (directory.Person, error) {
	var p directory.Person
	var sources, ids string
	if err := s.Scan(&p.Email, &p.Department, &p.Manager, &p.Employment, &sources, &ids, &p.Suspended); err != nil {
		return p, err
	}
	p.IDs = directory.IDs(ids)
	return p, json.Unmarshal([]byte(sources), &p.Sources)
}

// SaveDirectory writes the rows of the people in changed (deleting those
// no longer listed), the sync time and events, in one transaction.
func (s *Store) SaveDirectory(ctx context.Context, people []directory.Person, changed []string, events []*approvals.Event, at time.Time) error {
	return s.update(ctx, func(t *Tx) error {
		err := directory.WalkChanged(people, changed, func(email string, p *directory.Person) error {
			if p == nil {
				_, err := t.exec(`DELETE FROM directory_people WHERE email = ?`, email)
				return err
			}
			_, err := t.exec(`INSERT INTO directory_people (email, department, manager, employment, sources, ids, suspended) VALUES (?,?,?,?,?,?,?)
				ON CONFLICT (email) DO UPDATE SET department=excluded.department, manager=excluded.manager, employment=excluded.employment,
				sources=excluded.sources, ids=excluded.ids, suspended=excluded.suspended`,
				p.Email, p.Department, p.Manager, p.Employment, jsonText(p.Sources), string(p.IDs), p.Suspended)
			return err
		})
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO directory_state (id, synced_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at`, ms(at)); err != nil {
			return err
		}
		return t.AppendEvents(events)
	})
}

// RecordDirectory appends events (a refused sync) to the audit chain.
func (s *Store) RecordDirectory(ctx context.Context, events []*approvals.Event) error {
	return s.update(ctx, func(t *Tx) error { return t.AppendEvents(events) })
}
