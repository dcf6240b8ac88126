package directory

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
)

// memStore is a Store in memory.
type memStore struct {
	people []Person
	at     time.Time
	events []*approvals.Event
	writes int
}

func (m *memStore) Directory(context.Context) ([]Person, time.Time, error) {
	return m.people, m.at, nil
}

// SaveDirectory writes only the rows of changed, as the stores do.
func (m *memStore) SaveDirectory(_ context.Context, people []Person, changed []string, evs []*approvals.Event, at time.Time) error {
	rows := map[string]Person{}
	for _, p := range m.people {
		rows[p.Email] = p
	}
	err := WalkChanged(people, changed, func(email string, p *Person) error {
		if p == nil {
			delete(rows, email)
		} else {
			rows[email] = *p
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.people = slices.SortedFunc(maps.Values(rows), func(a, b Person) int { return strings.Compare(a.Email, b.Email) })
	m.at, m.writes = at, m.writes+len(changed)
	m.events = append(m.events, evs...)
	return nil
}
func (m *memStore) RecordDirectory(_ context.Context, evs []*approvals.Event) error {
	m.events = append(m.events, evs...)
	return nil
}

// listSource is a Source over a slice; fail makes it fail.
type listSource struct {
	entries []Entry
	fail    error
}

func (listSource) Name() string { return "okta" }
func (l *listSource) People(_ context.Context, fn func([]Entry) error) error {
	if l.fail != nil {
		return l.fail
	}
	return fn(l.entries)
}

func TestSyncer_Sync(t *testing.T) {
	src := &listSource{entries: []Entry{
		{ID: "1", Email: "boss@x.io"}, {ID: "2", Email: "alice@x.io", Manager: "1"},
		{ID: "3", Email: "carol@x.io"}, {ID: "4", Email: "dan@x.io"},
	}}
	st := &memStore{}
	var alerts []string
	s := &Syncer{Sources: []Source{src}, Store: st, MaxDrop: 0.25, Clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)),
		Overrides: []policies.Person{{Email: "carol@x.io", Department: "Finance"}},
		Alert:     func(_ context.Context, msg string) { alerts = append(alerts, msg) }}
	ctx := context.Background()

	t.Run("first sync", func(t *testing.T) {
		res, err := s.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.People) != 4 || len(st.people) != 4 {
			t.Fatalf("got %d people stored, want 4", len(st.people))
		}
		if len(st.events) != 1 || st.events[0].Action != ActionSynced || st.events[0].Data["people"] != "4" {
			t.Fatalf("got events %+v, want one directory.synced", st.events)
		}
	})
	t.Run("a new manager is evidence", func(t *testing.T) {
		st.events = nil
		src.entries[1].Manager = "3" // alice now reports to carol
		if _, err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range st.events {
			got = append(got, e.Action+" "+e.Subject+" "+e.Data["field"]+" "+e.Data["old"]+"→"+e.Data["new"]+" "+e.Data["source"])
		}
		want := []string{"directory.changed alice@x.io manager boss@x.io→carol@x.io okta", "directory.synced   → "}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	// What Diff does not show is stored too: a suspension at the IdP is a
	// change with its event; a person's id at a source is written quietly
	// (a suspension at the IdP looks it up).
	t.Run("suspended at the IdP", func(t *testing.T) {
		st.events = nil
		src.entries[3].Suspended = true
		if _, err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(st.people, func(p Person) bool { return p.Email == "dan@x.io" }); i < 0 || !st.people[i].Suspended {
			t.Fatalf("dan stored as %+v, want suspended", st.people)
		}
		if len(st.events) != 2 || st.events[0].Data["field"] != "suspended" || st.events[0].Data["new"] != "true" {
			t.Errorf("got events %+v, want dan's suspension then directory.synced", st.events)
		}
		src.entries[3].Suspended = false
		if _, err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a new id at the source", func(t *testing.T) {
		st.events = nil
		src.entries[3].ID = "44" // dan: nobody names him as manager
		if _, err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(st.people, func(p Person) bool { return p.Email == "dan@x.io" }); i < 0 || st.people[i].IDs.Get("okta") != "44" {
			t.Fatalf("dan stored as %+v, want his okta id 44", st.people)
		}
		if len(st.events) != 1 || st.events[0].Action != ActionSynced || st.events[0].Data["changes"] != "0" {
			t.Errorf("got events %+v, want directory.synced alone", st.events)
		}
	})
	t.Run("a failing source keeps the last good directory", func(t *testing.T) {
		st.events, alerts = nil, nil
		src.fail = errors.New("okta GET /api/v1/users: 500")
		_, err := s.Sync(ctx)
		if !errors.Is(err, ErrRefused) || len(st.people) != 4 {
			t.Fatalf("got %v with %d people kept, want a refusal keeping 4", err, len(st.people))
		}
		if len(alerts) != 1 || !strings.Contains(alerts[0], "directory source okta failed") || !strings.Contains(alerts[0], "keeps the last good directory") {
			t.Errorf("got alerts %q", alerts)
		}
		if len(st.events) != 1 || st.events[0].Action != ActionRefused {
			t.Errorf("got events %+v, want one directory.refused", st.events)
		}
		src.fail = nil
	})
	t.Run("a suspicious drop is refused", func(t *testing.T) {
		alerts = nil
		saved := src.entries
		src.entries = src.entries[:1:1] // boss stays, and carol through the policy: 2 of 4
		_, err := s.Sync(ctx)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "would drop 2 of 4 people") {
			t.Fatalf("got %v, want the drop refused", err)
		}
		if len(st.people) != 4 || len(alerts) != 1 {
			t.Errorf("got %d people kept and alerts %q", len(st.people), alerts)
		}
		src.entries = saved
	})
}

func TestPeople_ManagerFrom(t *testing.T) {
	dir := []Person{{Person: policies.Person{Email: "a@x.io", Manager: "b@x.io"}, Sources: map[string]string{"manager": "okta"}}}
	got := People(dir, map[string]*policies.Person{"c@x.io": {Email: "c@x.io", Manager: "a@x.io"}})
	if got["a@x.io"].ManagerFrom != "okta" || got["c@x.io"].ManagerFrom != SourcePolicy {
		t.Errorf("got %+v %+v", got["a@x.io"], got["c@x.io"])
	}
}
