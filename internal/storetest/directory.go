package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
)

// DirectoryStore is what the directory suite needs of a store.
type DirectoryStore interface {
	directory.Store
	audit.Source
	DirectoryPerson(ctx context.Context, email string) (directory.Person, bool, error)
}

// Directory is the contract of directory.Store: nothing before the first
// sync; a sync's rows, time and events in one transaction; only the rows
// named changed written, those no longer listed deleted; a refusal
// recorded without touching the directory.
func Directory(t *testing.T, open func(t *testing.T) DirectoryStore) {
	s := open(t)
	ctx := context.Background()
	got, at, err := s.Directory(ctx)
	if err != nil || len(got) != 0 || !at.IsZero() {
		t.Fatalf("before any sync: got %v at %v, %v; want nothing", got, at, err)
	}
	person := func(email, mgr string) directory.Person {
		return directory.Person{Person: policies.Person{Email: email, Department: "Eng", Manager: mgr, Employment: "internal"},
			Sources: map[string]string{"manager": "okta", "department": "okta"}, IDs: directory.IDs("okta=00u-" + email)}
	}
	first := []directory.Person{person("a@x.io", "b@x.io"), person("b@x.io", ""), person("c@x.io", "b@x.io")}
	first[1].Suspended = true
	ev := &approvals.Event{Time: t0, Actor: approvals.ActorSystem, Action: directory.ActionSynced, Data: map[string]string{"people": "3"}}
	if err := s.SaveDirectory(ctx, first, []string{"a@x.io", "b@x.io", "c@x.io"}, []*approvals.Event{ev}, t0); err != nil {
		t.Fatal(err)
	}
	got, at, err = s.Directory(ctx)
	if err != nil || !at.Equal(t0) || !reflect.DeepEqual(got, first) {
		t.Fatalf("got %+v at %v, %v; want %+v at %v", got, at, err, first, t0)
	}
	// c leaves, a's manager changes; b's row is not rewritten.
	second := []directory.Person{person("a@x.io", "d@x.io"), person("b@x.io", "")}
	second[1].Suspended = true
	changed := &approvals.Event{Time: t0.Add(1), Actor: approvals.ActorSystem, Subject: "a@x.io", Action: directory.ActionChanged,
		Data: map[string]string{"field": "manager", "old": "b@x.io", "new": "d@x.io", "source": "okta"}}
	if err := s.SaveDirectory(ctx, second, []string{"a@x.io", "c@x.io"}, []*approvals.Event{changed}, t0.Add(1)); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.Directory(ctx)
	if err != nil || !reflect.DeepEqual(got, second) {
		t.Fatalf("got %+v, %v; want %+v", got, err, second)
	}
	// One person, as the licence review asks for each suspension at an IdP.
	if p, ok, err := s.DirectoryPerson(ctx, "a@x.io"); err != nil || !ok || !reflect.DeepEqual(p, second[0]) {
		t.Errorf("DirectoryPerson(a): %+v %v %v; want %+v", p, ok, err, second[0])
	}
	if p, ok, err := s.DirectoryPerson(ctx, "c@x.io"); err != nil || ok {
		t.Errorf("DirectoryPerson of one who left: %+v %v %v; want none", p, ok, err)
	}
	refused := &approvals.Event{Time: t0.Add(2), Actor: approvals.ActorSystem, Action: directory.ActionRefused, Reason: "okta failed"}
	if err := s.RecordDirectory(ctx, []*approvals.Event{refused}); err != nil {
		t.Fatal(err)
	}
	var actions []string
	err = s.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		actions = append(actions, e.Action)
		return nil
	})
	want := []string{directory.ActionSynced, directory.ActionChanged, directory.ActionRefused}
	if err != nil || !reflect.DeepEqual(actions, want) {
		t.Errorf("got audit %v, %v; want %v", actions, err, want)
	}
	if _, err := audit.Verify(ctx, s); err != nil {
		t.Errorf("the chain does not verify: %v", err)
	}
}
