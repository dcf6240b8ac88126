package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
)

// onePerson is a synced directory of one person listed at Okta, or one
// that cannot be read.
type onePerson struct{ err error }

func (o onePerson) DirectoryPerson(_ context.Context, email string) (directory.Person, bool, error) {
	if o.err != nil {
		return directory.Person{}, false, o.err
	}
	if email != "bob@partner.io" {
		return directory.Person{}, false, nil
	}
	return directory.Person{Person: policies.Person{Email: email}, IDs: directory.IDs("okta=00ubob")}, true, nil
}

// The licence review asks which IdP suspends a person: one nobody lists
// is nobody's (the rule then decides), but a source that lists the person
// and cannot be set up, or a directory that cannot be read, is an error
// that says so, tried again, never "no source lists them".
func TestIdPFinder_SaysWhyItCannotAsk(t *testing.T) {
	dir := &policies.DirectorySettings{Sources: []policies.DirectorySource{{Kind: policies.SourceOkta, URL: "https://acme.okta.com"}}}
	broken := newSourceSet(func(policies.DirectorySource) (directory.Source, error) {
		return nil, errors.New("OKTA_API_TOKEN is not set")
	})
	f := newIDPFinder(func() *policies.DirectorySettings { return dir }, onePerson{}, broken, nil)
	if name, acc, err := f.For("carol@example.com"); name != "" || acc != nil || err != nil {
		t.Errorf("someone no source lists: %q %v %v; want nobody, no error", name, acc, err)
	}
	_, acc, err := f.For("Bob@partner.io")
	if acc != nil || err == nil || !strings.Contains(err.Error(), "okta directory source lists bob@partner.io but could not be set up (OKTA_API_TOKEN is not set)") {
		t.Errorf("a source that cannot be set up: %v %v", acc, err)
	}
	f = newIDPFinder(func() *policies.DirectorySettings { return dir }, onePerson{err: errors.New("database is locked")}, broken, nil)
	if _, acc, err := f.For("bob@partner.io"); acc != nil || err == nil || !strings.Contains(err.Error(), "could not be read") || strings.Contains(err.Error(), "locked") {
		t.Errorf("a directory that cannot be read: %v %v; want a sentence without the database's error", acc, err)
	}
}
