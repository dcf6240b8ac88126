package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"go.uber.org/zap"
)

// The directory sources built from the policy's directory.sources: the
// directory loop syncs from them, the licence review suspends and
// restores at the identity providers among them (idpFinder).

// atlassianSource is the Atlassian organisation's directory as a source:
// departments from the Admin API's users.
type atlassianSource struct{ d review.Directory }

func (atlassianSource) Name() string { return policies.SourceAtlassian }

func (a atlassianSource) People(ctx context.Context, fn func([]directory.Entry) error) error {
	return a.d.Users(ctx, func(page []review.DirectoryUser) error {
		out := make([]directory.Entry, 0, len(page))
		for _, u := range page {
			if u.Email == "" || !u.IsPerson() {
				continue
			}
			out = append(out, directory.Entry{ID: u.AccountID, Email: u.Email, Department: u.Department,
				Suspended: u.MembershipStatus == "suspended"})
		}
		return fn(out)
	})
}

// builtSource is a directory source built from one entry of
// directory.sources, with the settings it was built from (sourceKey).
type builtSource struct {
	key string
	src directory.Source
}

// sourceKey is what a directory source is built from in the policy: its
// kind, url, tenant, customer and attribute map (not its line).
func sourceKey(s policies.DirectorySource) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s", s.Kind, s.URL, s.Tenant, s.Customer)
	for _, k := range slices.Sorted(maps.Keys(s.Map)) {
		fmt.Fprintf(&b, "\x00%s=%s", k, s.Map[k])
	}
	return b.String()
}

// brokenSource stands for a source that could not be built: its listing
// fails with why, so that the sync keeps the last good directory and says
// so. listed records that the sync got as far as asking it (the sync
// stops at the first source that fails).
type brokenSource struct {
	name   string
	err    error
	listed bool
}

func (b *brokenSource) Name() string { return b.name }

func (b *brokenSource) People(context.Context, func([]directory.Entry) error) error {
	b.listed = true
	return b.err
}

// sourceSet keeps the directory sources it built, by kind, each with the
// settings it was built from: asked again for a source whose settings are
// unchanged it gives the same one (one transport, one pace, one token);
// asked for one whose settings changed it builds it anew. jitbot run has
// one set, which the directory loop and the licence review's IdP
// suspensions share. It is safe for concurrent use.
type sourceSet struct {
	build func(s policies.DirectorySource) (directory.Source, error)

	mu    sync.Mutex
	built map[string]builtSource
}

func newSourceSet(build func(s policies.DirectorySource) (directory.Source, error)) *sourceSet {
	return &sourceSet{build: build, built: map[string]builtSource{}}
}

// source returns the source built from s. One that cannot be built is
// tried again the next time it is asked for.
func (ss *sourceSet) source(s policies.DirectorySource) (directory.Source, error) {
	key := sourceKey(s)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if b, ok := ss.built[s.Kind]; ok && b.key == key {
		return b.src, nil
	}
	src, err := ss.build(s)
	if err != nil {
		delete(ss.built, s.Kind)
		return nil, err
	}
	ss.built[s.Kind] = builtSource{key: key, src: src}
	return src, nil
}

// sources returns dir's sources in order, and forgets those of the kinds
// dir no longer has. A source that cannot be built is listed as a
// *brokenSource, and the error joins why for each.
func (ss *sourceSet) sources(dir *policies.DirectorySettings) ([]directory.Source, error) {
	var out []directory.Source
	var errs []error
	kinds := map[string]bool{}
	for _, s := range dir.Sources {
		kinds[s.Kind] = true
		src, err := ss.source(s)
		if err != nil {
			errs = append(errs, err)
			src = &brokenSource{name: s.Kind, err: err}
		}
		out = append(out, src)
	}
	ss.mu.Lock()
	for kind := range ss.built {
		if !kinds[kind] {
			delete(ss.built, kind)
		}
	}
	ss.mu.Unlock()
	return out, errors.Join(errs...)
}

// newSourceSet returns a set that builds sources as jitbot run does
// (directorySource).
func (m *Main) newSourceSet() *sourceSet { return newSourceSet(m.directorySource) }

// directorySource builds one directory source. An identity provider
// already built as a provider (m.Providers) from the same settings serves
// as the source, so that one API has one transport and one pace.
func (m *Main) directorySource(s policies.DirectorySource) (directory.Source, error) {
	if s.Kind == policies.SourceAtlassian {
		d, _, err := m.reviewAdmin()
		if err != nil {
			return nil, fmt.Errorf("directory source atlassian: %w", err)
		}
		return atlassianSource{d: d}, nil
	}
	// A provider was built from the policy jitbot started on (m.Policy):
	// it serves this source only if the source's settings are unchanged.
	if p, ok := m.Providers[s.Kind].(directory.Source); ok && m.Policy != nil && sourceKey(sourceOf(m.Policy.Directory, s.Kind)) == sourceKey(s) {
		return p, nil
	}
	return idpProvider(m.getenv, s.Kind, onlySource(s), m.DB, m.Log.Named(s.Kind), m.Clock)
}

// idpSources is the set of a command that only suspends and restores at
// identity providers (the review commands): built from the environment,
// on the real clock.
func idpSources(getenv func(string) string, cache accountCache) *sourceSet {
	return newSourceSet(func(s policies.DirectorySource) (directory.Source, error) {
		return idpProvider(getenv, s.Kind, onlySource(s), cache, zap.NewNop(), nil)
	})
}

// onlySource is directory settings with s as their only source.
func onlySource(s policies.DirectorySource) *policies.DirectorySettings {
	return &policies.DirectorySettings{Sources: []policies.DirectorySource{s}}
}
