package directory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
)

// Audit actions of a sync.
const (
	ActionSynced  = "directory.synced"  // one per sync that stored a directory: counts, sources
	ActionChanged = "directory.changed" // one per attribute changed (a new manager is evidence)
	ActionAdded   = "directory.added"   // a person the IdPs did not list before
	ActionRemoved = "directory.removed" // a person they no longer list
	ActionRefused = "directory.refused" // a sync refused: a source failed, or max_drop
)

// Store keeps the last good directory. The store implements it.
type Store interface {
	// Directory returns the stored directory, sorted by email, and when it
	// was synced (zero when never).
	Directory(ctx context.Context) ([]Person, time.Time, error)
	// SaveDirectory stores people (sorted by email) in place of the
	// directory — only the rows of changed (emails, sorted) are written,
	// those no longer in people deleted — and appends events to the audit
	// chain, in one transaction.
	SaveDirectory(ctx context.Context, people []Person, changed []string, events []*approvals.Event, at time.Time) error
	// RecordDirectory appends events without changing the directory (a
	// refused sync).
	RecordDirectory(ctx context.Context, events []*approvals.Event) error
}

// Syncer reads every source and stores the merged directory. A source
// that fails, or a result that would drop more than MaxDrop of the people,
// keeps the last good directory, records why and alerts IT.
type Syncer struct {
	Sources   []Source
	Overrides []policies.Person // the policy file's own people
	Values    map[string]string // employment_values
	MaxDrop   float64
	Store     Store
	// Alert tells IT (nil: nobody). msg is a plain sentence.
	Alert func(ctx context.Context, msg string)
	Clock clockwork.Clock
	// Progress, when set, is told each page: the source and how many
	// people it has listed so far.
	Progress func(source string, listed int)
}

// Result is what one sync did.
type Result struct {
	People   []Person
	Changes  []Change
	Problems []Problem
	Listed   map[string]int // people per source
	At       time.Time
}

// ErrRefused is wrapped by Sync's error when it kept the last good
// directory.
var ErrRefused = errors.New("the last good directory is kept")

// Sync runs one sync.
func (s *Syncer) Sync(ctx context.Context) (*Result, error) {
	clock := s.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	res := &Result{Listed: map[string]int{}}
	var listings []Listing
	for _, src := range s.Sources {
		l := Listing{Source: src.Name()}
		err := src.People(ctx, func(page []Entry) error {
			l.Entries = append(l.Entries, page...)
			if s.Progress != nil {
				s.Progress(l.Source, len(l.Entries))
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, s.refuse(ctx, clock.Now(), l.Source, fmt.Sprintf("directory source %s failed: %v", l.Source, err))
		}
		res.Listed[l.Source] = len(l.Entries)
		listings = append(listings, l)
	}
	res.People, res.Problems = Build(listings, s.Overrides, s.Values)
	listings = nil // 100,000 entries the merge no longer needs
	prev, prevAt, err := s.Store.Directory(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the stored directory: %w", err)
	}
	if err := CheckDrop(len(prev), len(res.People), s.MaxDrop); err != nil {
		return nil, s.refuse(ctx, clock.Now(), "", "directory sync "+err.Error())
	}
	res.At = clock.Now()
	// The first sync stores everyone and records one event: a hundred
	// thousand "added" events say nothing an auditor needs that the
	// directory itself does not.
	var events []*approvals.Event
	var changed []string
	if prevAt.IsZero() {
		changed = make([]string, len(res.People))
		for i, p := range res.People {
			changed[i] = p.Email
		}
	} else {
		var quiet []string
		res.Changes, quiet = Diff(prev, res.People)
		seen := map[string]bool{}
		for _, c := range res.Changes {
			events = append(events, c.event(res.At))
			if !seen[c.Email] {
				seen[c.Email] = true
				changed = append(changed, c.Email)
			}
		}
		// Rows whose ids or sources alone changed are written too, without
		// an event of their own.
		changed = append(changed, quiet...)
		slices.Sort(changed)
	}
	data := map[string]string{"people": strconv.Itoa(len(res.People)), "changes": strconv.Itoa(len(res.Changes)),
		"problems": strconv.Itoa(len(res.Problems))}
	for _, src := range slices.Sorted(maps.Keys(res.Listed)) {
		data["listed."+src] = strconv.Itoa(res.Listed[src])
	}
	events = append(events, &approvals.Event{Time: res.At, Actor: approvals.ActorSystem, Action: ActionSynced, Data: data})
	if err := s.Store.SaveDirectory(ctx, res.People, changed, events, res.At); err != nil {
		return nil, fmt.Errorf("store the directory: %w", err)
	}
	return res, nil
}

// refuse records and alerts why a sync kept the last good directory.
func (s *Syncer) refuse(ctx context.Context, at time.Time, source, why string) error {
	ev := &approvals.Event{Time: at, Actor: approvals.ActorSystem, Action: ActionRefused, Reason: why, Data: map[string]string{}}
	if source != "" {
		ev.Data["source"] = source
	}
	if err := s.Store.RecordDirectory(ctx, []*approvals.Event{ev}); err != nil {
		why += "; recording it failed too: " + err.Error()
	}
	if s.Alert != nil {
		s.Alert(ctx, why+". jitbot keeps the last good directory.")
	}
	return fmt.Errorf("%s: %w", why, ErrRefused)
}

func (c Change) event(at time.Time) *approvals.Event {
	e := &approvals.Event{Time: at, Actor: approvals.ActorSystem, Subject: c.Email, Action: ActionChanged,
		Data: map[string]string{"field": c.Field, "old": c.Old, "new": c.New}}
	if c.Source != "" {
		e.Data["source"] = c.Source
	}
	if c.Field == "person" {
		e.Action, e.Data = ActionAdded, map[string]string{}
		if c.New == "" {
			e.Action = ActionRemoved
		}
	}
	return e
}

// People maps a directory to the policy's people, for the engine: the
// stored directory's attributes, the policy's own people over them (as
// Build applied them), with ManagerFrom naming the manager's source.
func People(dir []Person, overrides map[string]*policies.Person) map[string]*policies.Person {
	out := make(map[string]*policies.Person, len(dir)+len(overrides))
	for _, p := range dir {
		pp := p.Person
		pp.ManagerFrom = p.Sources["manager"]
		out[pp.Email] = &pp
	}
	for email, o := range overrides {
		pp, ok := out[email]
		if !ok {
			cp := *o
			if cp.Manager != "" {
				cp.ManagerFrom = SourcePolicy
			}
			out[email] = &cp
			continue
		}
		if o.Department != "" {
			pp.Department = o.Department
		}
		if o.Manager != "" {
			pp.Manager, pp.ManagerFrom = o.Manager, SourcePolicy
		}
		if o.Employment != "" {
			pp.Employment = o.Employment
		}
		if o.SlackID != "" {
			pp.SlackID = o.SlackID
		}
	}
	return out
}

// Describe is one line per attribute of p with its source, for
// `jitbot directory show`.
func Describe(p Person) string {
	var b strings.Builder
	line := func(k, v string) {
		src := p.Sources[k]
		if v == "" {
			v, src = "(none)", ""
		}
		if src != "" {
			src = "  (from " + src + ")"
		}
		fmt.Fprintf(&b, "%-11s %s%s\n", k+":", v, src)
	}
	fmt.Fprintf(&b, "%-11s %s\n", "email:", p.Email)
	line("department", p.Department)
	line("manager", p.Manager)
	line("employment", p.Employment)
	for _, src := range p.IDs.Sources() {
		fmt.Fprintf(&b, "%-11s %s user %s\n", "account:", src, p.IDs.Get(src))
	}
	if p.Suspended {
		fmt.Fprintf(&b, "%-11s suspended at an identity provider\n", "status:")
	}
	return b.String()
}

// WalkChanged calls fn for each email of changed (sorted) with its person
// in people (sorted by email), or nil when people no longer has them: the
// stores' write of a sync, without an index of a hundred thousand people.
func WalkChanged(people []Person, changed []string, fn func(email string, p *Person) error) error {
	i := 0
	for _, email := range changed {
		for i < len(people) && people[i].Email < email {
			i++
		}
		var p *Person
		if i < len(people) && people[i].Email == email {
			p = &people[i]
		}
		if err := fn(email, p); err != nil {
			return err
		}
	}
	return nil
}
