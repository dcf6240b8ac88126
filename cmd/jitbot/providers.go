package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jonboulle/clockwork"
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
// environment (and, for an identity provider, the policy's directory
// source of that kind: dir may be nil). cache keeps account ids (nil for
// the CLI's online check); clock renews an IdP's OAuth tokens (nil: the
// real clock).
func newLiveProvider(getenv func(string) string, name string, dir *policies.DirectorySettings, cache accountCache, log *zap.Logger, clock clockwork.Clock) (liveProvider, error) {
	switch name {
	case provisioner.NameJira, provisioner.NameAtlassianAdmin:
		return atlassianProvider(getenv, name, cache, log)
	case policies.SourceOkta, policies.SourceEntra, policies.SourceGoogle:
		return idpProvider(getenv, name, dir, cache, log, clock) // idp.go
	}
	return nil, fmt.Errorf("provider %q is not available in this build; use --dry-run", name)
}

// buildProviders returns a provider for every provider name the policy
// uses, and for every provider jitbot still has live grants or memberships
// at that the policy no longer names (a policy change dropped its
// resources): the dry-run provider for all of them with --dry-run, else
// the live ones. Each of the policy's must find every group the policy
// names before jitbot starts. One kept for live records only is built from
// the environment, as it was when it served them, and its groups are not
// checked (removing from a group that was deleted is done already); when
// the environment no longer configures it, jitbot starts without it, its
// removals wait, and warnUnnamed says why (m.providerErrs).
func (m *Main) buildProviders(ctx context.Context) (map[string]approvals.Provisioner, error) {
	dry := provisioner.NewDryRun(m.DB, m.Log.Named("dryrun"))
	out := map[string]approvals.Provisioner{provisioner.NameDryRun: dry}
	groups := m.Policy.Groups()
	for _, name := range sortedKeys(groups) {
		if m.Config.DryRun || name == provisioner.NameDryRun {
			out[name] = dry
			continue
		}
		p, err := newLiveProvider(m.getenv, name, m.Policy.Directory, m.DB, m.Log.Named(name), m.Clock)
		if err != nil {
			return nil, err
		}
		if err := p.CheckGroups(ctx, groups[name]); err != nil {
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
		out[name] = p
	}
	live, err := approvals.Unnamed(ctx, m.DB, m.Policy)
	if err != nil {
		return nil, err
	}
	m.providerErrs = map[string]error{}
	for _, lg := range live {
		name := lg.Provider
		if _, ok := out[name]; ok || m.providerErrs[name] != nil {
			continue
		}
		if m.Config.DryRun {
			out[name] = dry
			continue
		}
		p, err := newLiveProvider(m.getenv, name, m.Policy.Directory, m.DB, m.Log.Named(name), m.Clock)
		if err != nil {
			m.providerErrs[name] = err
			continue
		}
		out[name] = p
	}
	return out, nil
}

// maxUnnamedGrants bounds the grants an alert names per group.
const maxUnnamedGrants = 5

// warnUnnamed logs, and alerts IT naming them, the live grants and
// memberships in groups policy p no longer names: jitbot keeps serving
// them until the last one ends — each is still removed at its own end — or
// says it cannot yet, when their provider is not configured. why begins
// the sentence ("The policy … was reloaded"). The same groups are alerted
// once per process, not at every reload.
func (m *Main) warnUnnamed(ctx context.Context, p *policies.Policy, why string) {
	lgs, err := approvals.Unnamed(ctx, m.DB, p)
	if err != nil {
		m.Log.Error("could not read which live grants the policy no longer names", zap.Error(err))
		return
	}
	var lines, names []string
	for _, lg := range lgs {
		names = append(names, lg.Provider+"/"+lg.Group)
		lines = append(lines, m.describeUnnamed(lg))
	}
	m.unnamedMu.Lock()
	seen := strings.Join(names, "\n")
	repeat := seen == m.unnamedSeen
	m.unnamedSeen = seen
	m.unnamedMu.Unlock()
	if len(lgs) == 0 || repeat {
		return
	}
	m.Log.Warn("the policy no longer names groups where jitbot's grants are live; jitbot keeps serving them until they end",
		zap.Strings("groups", names))
	if len(lines) > maxAlertProblems {
		lines = append(lines[:maxAlertProblems:maxAlertProblems], fmt.Sprintf("… and %d more groups (jitbot grants list --active)", len(lines)-maxAlertProblems))
	}
	msg := fmt.Sprintf("%s; it no longer names %d group(s) where access jitbot manages is live:\n%s", why, len(lgs), strings.Join(lines, "\n"))
	if err := m.Service.RaiseAlert(ctx, "", msg); err != nil {
		m.Log.Error("the alert about live grants the policy no longer names could not be recorded", zap.Error(err))
	}
}

// describeUnnamed is one line of warnUnnamed's alert.
func (m *Main) describeUnnamed(lg approvals.LiveGroup) string {
	var who []string
	for i, g := range lg.Grants {
		if i == maxUnnamedGrants {
			who = append(who, fmt.Sprintf("and %d more (jitbot grants list --active)", len(lg.Grants)-i))
			break
		}
		who = append(who, fmt.Sprintf("%s (request %s)", g.Person, approvals.Short(g.RequestID)))
	}
	what := fmt.Sprintf("%d live grant(s)", len(lg.Grants))
	if len(who) > 0 {
		what += ": " + strings.Join(who, ", ")
	}
	line := fmt.Sprintf("• %s group %s — %s; %d membership(s) on record", lg.Provider, lg.Group, what, lg.Records)
	if _, ok := m.Providers[lg.Provider]; ok {
		return line + ". jitbot keeps provider " + lg.Provider + " and removes each at its end."
	}
	why := fmt.Errorf("provider %s is not configured", lg.Provider)
	if err := m.providerErrs[lg.Provider]; err != nil {
		why = err
	}
	return fmt.Sprintf("%s. jitbot cannot remove them yet (%v): the removals wait, never given up on, until the variables are set and jitbot is restarted.", line, why)
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
		live, err := newLiveProvider(c.getenv, provider, p.Directory, nil, nil, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := live.CheckGroups(c.ctx, groups[provider]); err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", provider, err))
			continue
		}
		c.noteSynced(live, provider, groups[provider]) // idp.go
	}
	return errors.Join(errs...)
}
