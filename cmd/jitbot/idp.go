package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/entra"
	"github.com/jitbot/jitbot/provisioner/google"
	"github.com/jitbot/jitbot/provisioner/okta"
	"github.com/jitbot/jitbot/review"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// The identity providers, configured from the policy's directory sources
// (url:, tenant:, customer:, map:) and the environment (secrets only here):
//
//	OKTA_API_TOKEN                     okta: an API token (Authorization: SSWS …)
//	OKTA_URL                           okta: the org, when no directory source names it
//	AZURE_CLIENT_ID, AZURE_CLIENT_SECRET  entra: the app's client credentials
//	AZURE_TENANT_ID                    entra: the tenant, when no directory source names it
//	AZURE_AUTHORITY_HOST               entra: default https://login.microsoftonline.com
//	ENTRA_GRAPH_URL                    entra: default https://graph.microsoft.com
//	GOOGLE_APPLICATION_CREDENTIALS     google: the service account key file
//	GOOGLE_ADMIN_SUBJECT               google: the admin it impersonates
//	GOOGLE_ADMIN_API_URL               google: default https://admin.googleapis.com
//	GOOGLE_CUSTOMER                    google: default my_customer

// idp is an identity provider's provider and directory source.
type idp interface {
	liveProvider
	directory.Source
	Suspend(ctx context.Context, email string) error
	Restore(ctx context.Context, email string) error
	Synced(ctx context.Context, group string) (bool, error)
	Client() *atlassian.Client
}

// sourceOf returns the policy's directory source of kind, if any.
func sourceOf(dir *policies.DirectorySettings, kind string) policies.DirectorySource {
	if dir != nil {
		for _, s := range dir.Sources {
			if s.Kind == kind {
				return s
			}
		}
	}
	return policies.DirectorySource{Kind: kind}
}

// idpProvider builds the okta, entra or google provider. A missing or bad
// setting is one error naming every variable to fix. clock tells when an
// OAuth token is due for renewal (nil: the real clock).
func idpProvider(getenv func(string) string, name string, dir *policies.DirectorySettings, cache accountCache, log *zap.Logger, clock clockwork.Clock) (idp, error) {
	set := &envSettings{getenv: getenv}
	env, require := set.env, set.require
	optionalURL := func(key string) string {
		v := env(key)
		if v != "" {
			set.add(checkURL(key, v))
		}
		return v
	}
	src := sourceOf(dir, name)
	m := directory.Map{Department: src.Map["department"], Manager: src.Map["manager"], Employment: src.Map["employment"]}
	transport := atlassian.Options{Timeout: atlassian.DefaultTimeout}
	var cacheOpt atlassian.AccountCache
	if cache != nil {
		cacheOpt = cache
	}
	var (
		p   idp
		err error
	)
	switch name {
	case policies.SourceOkta:
		url := src.URL
		if url == "" {
			url = require("OKTA_URL", "the Okta org, such as https://example.okta.com, or okta: {url: …} in directory.sources")
		}
		token := require("OKTA_API_TOKEN", "an Okta API token")
		if url != "" {
			set.add(checkURL("okta url", url))
		}
		if len(set.problems) > 0 {
			break
		}
		p, err = okta.New(okta.Config{URL: url, Token: atlassian.Secret(token), Map: m, Cache: cacheOpt, Log: log, Transport: transport})
	case policies.SourceEntra:
		tenant := src.Tenant
		if tenant == "" {
			tenant = require("AZURE_TENANT_ID", "the Entra tenant id, or entra: {tenant: …} in directory.sources")
		}
		id := require("AZURE_CLIENT_ID", "the app registration's client id")
		secret := require("AZURE_CLIENT_SECRET", "the app registration's client secret")
		graph := optionalURL("ENTRA_GRAPH_URL")
		if len(set.problems) > 0 {
			break
		}
		p, err = entra.New(entra.Config{Tenant: tenant, ClientID: id, ClientSecret: atlassian.Secret(secret),
			Authority: optionalURL("AZURE_AUTHORITY_HOST"), GraphURL: graph, Map: m, Cache: cacheOpt, Log: log, Clock: clock, Transport: transport})
	case policies.SourceGoogle:
		file := require("GOOGLE_APPLICATION_CREDENTIALS", "the service account key file")
		subject := require("GOOGLE_ADMIN_SUBJECT", "the admin the service account impersonates")
		api := optionalURL("GOOGLE_ADMIN_API_URL")
		if len(set.problems) > 0 {
			break
		}
		key, rerr := os.ReadFile(file)
		if rerr != nil {
			// The path is the operator's; the error is the file system's, no key in it.
			return nil, fmt.Errorf("provider google: GOOGLE_APPLICATION_CREDENTIALS: %w", rerr)
		}
		customer := src.Customer
		if customer == "" {
			customer = env("GOOGLE_CUSTOMER")
		}
		p, err = google.New(google.Config{Customer: customer, Credentials: key, Subject: subject, APIURL: api,
			Map: m, Cache: cacheOpt, Log: log, Clock: clock, Transport: transport})
	default:
		return nil, fmt.Errorf("provider %s is not an identity provider", name)
	}
	if err := set.err(name, err); err != nil {
		return nil, err
	}
	return p, nil
}

// withDirectory returns p with the stored directory under its own people,
// or p itself when it has no directory sources or nothing was synced.
func withDirectory(ctx context.Context, db any, p *policies.Policy) (*policies.Policy, error) {
	st, ok := db.(directory.Store)
	if p.Directory == nil || len(p.Directory.Sources) == 0 || !ok {
		return p, nil
	}
	people, at, err := st.Directory(ctx)
	if err != nil || at.IsZero() {
		return p, err
	}
	return p.WithPeople(directory.People(people, p.OwnPeople())), nil
}

// syncer is the directory's Syncer for policy p.
func (m *Main) syncer(p *policies.Policy, sources []directory.Source) *directory.Syncer {
	var over []policies.Person
	for _, per := range p.OwnPeople() {
		over = append(over, *per)
	}
	return &directory.Syncer{Sources: sources, Overrides: over, Values: p.Directory.EmploymentValues, MaxDrop: p.Directory.MaxDrop,
		Store: m.DB.(directory.Store), Clock: m.Clock}
}

// noteSynced says, for policy check --online, which groups of an identity
// provider are synced from elsewhere (Okta's APP_GROUP, Graph's
// onPremisesSyncEnabled): a change there is undone by the next sync.
func (c *cli) noteSynced(p liveProvider, provider string, groups []string) {
	s, ok := p.(interface {
		Synced(ctx context.Context, group string) (bool, error)
	})
	if !ok {
		return
	}
	for _, g := range groups {
		if synced, err := s.Synced(c.ctx, g); err == nil && synced {
			fmt.Fprintf(c.stdout, "note: %s group %s is synced from another directory: jitbot's changes to it are undone by that sync; grant in the source group instead\n", provider, g)
		}
	}
}

// idpFinder is the licence review's review.IdPs: the identity provider
// that lists a person in the synced directory, first in the order of the
// directory sources in force (dir), as sources builds them. jitbot run
// gives it the policy in force and the directory loop's sources, so that
// a reload that changes or removes a source is obeyed by suspensions and
// restores as by the sync, and one source has one client.
type idpFinder struct {
	dir     func() *policies.DirectorySettings
	store   personReader
	sources *sourceSet
	log     *zap.Logger
}

// personReader reads one person of the synced directory (store/sqlstore).
type personReader interface {
	DirectoryPerson(ctx context.Context, email string) (directory.Person, bool, error)
}

// newIDPFinder returns the finder, or nil when db keeps no synced
// directory.
func newIDPFinder(dir func() *policies.DirectorySettings, db any, sources *sourceSet, log *zap.Logger) review.IdPs {
	st, ok := db.(personReader)
	if !ok {
		return nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &idpFinder{dir: dir, store: st, sources: sources, log: log}
}

func (f *idpFinder) For(email string) (string, review.IdPAccounts, error) {
	dir := f.dir()
	if dir == nil || !slices.ContainsFunc(dir.Sources, func(s policies.DirectorySource) bool { return slices.Contains(policies.IdPs, s.Kind) }) {
		return "", nil, nil
	}
	email = strings.ToLower(strings.TrimSpace(email))
	person, found, err := f.store.DirectoryPerson(context.Background(), email)
	if err != nil {
		f.log.Error("the synced directory could not be read to find the person's identity provider", zap.Error(err))
		return "", nil, fmt.Errorf("the synced directory could not be read to find %s's identity provider; it is tried again", email)
	}
	if !found {
		return "", nil, nil
	}
	var broken error
	for _, s := range dir.Sources {
		if !slices.Contains(policies.IdPs, s.Kind) || person.IDs.Get(s.Kind) == "" {
			continue
		}
		src, err := f.sources.source(s)
		if err != nil {
			f.log.Error("the identity provider that lists the person could not be built", zap.String("idp", s.Kind), zap.Error(err))
			broken = cmp.Or(broken, fmt.Errorf("the %s directory source lists %s but could not be set up (%v); it is tried again", s.Kind, email, err))
			continue
		}
		if p, ok := src.(idp); ok {
			return s.Kind, p, nil
		}
	}
	return "", nil, broken
}
