package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
)

// groupCheckers check, per provider, that the groups a policy names exist.
var groupCheckers = map[string]func(ctx context.Context, getenv func(string) string, groups []string) error{}

// checkOnline asks every provider the policy uses whether its groups exist.
func (c *cli) checkOnline(p *policies.Policy, cfg *Config) error {
	var errs []error
	for _, provider := range sortedKeys(p.Groups()) {
		if provider == provisioner.NameDryRun {
			continue
		}
		check, ok := groupCheckers[provider]
		if !ok {
			errs = append(errs, fmt.Errorf("provider %s: no online check in this build", provider))
			continue
		}
		if err := check(c.ctx, c.getenv, p.Groups()[provider]); err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", provider, err))
		}
	}
	return errors.Join(errs...)
}
