package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"go.uber.org/zap"
)

// Every provider is built here, from the environment: the dry-run provider,
// and the live ones the policy names.

// liveProvider is what a live provider is, beyond Provisioner: it can say
// whether the groups a policy names exist.
type liveProvider interface {
	approvals.Provisioner
	CheckGroups(ctx context.Context, names []string) error
}

// newLiveProvider builds the live provider called name from the
// environment. cache keeps account ids (nil for the CLI's online check).
func newLiveProvider(getenv func(string) string, name string, cache accountCache, log *zap.Logger) (liveProvider, error) {
	switch name {
	case provisioner.NameJira, provisioner.NameAtlassianAdmin:
		return atlassianProvider(getenv, name, cache, log)
	}
	return nil, fmt.Errorf("provider %q is not available in this build; use --dry-run", name)
}

// buildProviders returns a provider for every provider name the policy
// uses: the dry-run provider for all of them with --dry-run, else the live
// ones, each of which must find every group the policy names before jitbot
// starts.
func (m *Main) buildProviders(ctx context.Context) (map[string]approvals.Provisioner, error) {
	dry := provisioner.NewDryRun(m.DB, m.Log.Named("dryrun"))
	out := map[string]approvals.Provisioner{provisioner.NameDryRun: dry}
	groups := m.Policy.Groups()
	for _, name := range sortedKeys(groups) {
		if m.Config.DryRun || name == provisioner.NameDryRun {
			out[name] = dry
			continue
		}
		p, err := newLiveProvider(m.getenv, name, m.DB, m.Log.Named(name))
		if err != nil {
			return nil, err
		}
		if err := p.CheckGroups(ctx, groups[name]); err != nil {
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
		out[name] = p
	}
	return out, nil
}

// checkOnline asks every provider the policy uses whether its groups
// exist, and Slack how large the user groups its rules name are.
func (c *cli) checkOnline(p *policies.Policy, cfg *Config) error {
	errs := []error{c.checkSlackGroups(p)}
	groups := p.Groups()
	for _, provider := range sortedKeys(groups) {
		if provider == provisioner.NameDryRun {
			continue
		}
		// newLiveProvider's errors name the provider already.
		live, err := newLiveProvider(c.getenv, provider, nil, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := live.CheckGroups(c.ctx, groups[provider]); err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", provider, err))
		}
	}
	return errors.Join(errs...)
}
