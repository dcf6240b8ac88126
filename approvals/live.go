package approvals

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/policies"
)

// A policy change may drop a resource, or every resource of a provider,
// while jitbot still has business in its group: grants being provisioned or
// active, memberships it added and must remove at the end, standing ones it
// must leave. None of that is abandoned. Every grant and membership record
// carries its provider and group, so provisioning, revocation and
// reconciliation work from them, not from the catalogue; the process keeps a
// provider for every provider with live records (cmd/jitbot builds them
// from the environment, policy or not); a revocation whose provider is not
// configured waits for it instead of failing; and reconciliation covers
// every group with live records. Nothing is kept longer than before: each
// grant still ends at its own deadline.

// LiveGroup is a group jitbot still has business in.
type LiveGroup struct {
	GroupRef
	Grants  []*Grant // provisioning or active, by person
	Records int      // membership records: added by jitbot (to remove), or standing
}

// Unnamed returns the groups with live records that policy p names no
// resource for: what a policy change left behind, which the running
// process keeps serving until the last of it ends.
func Unnamed(ctx context.Context, st Store, p *policies.Policy) ([]LiveGroup, error) {
	named := p.Groups()
	var out []LiveGroup
	err := st.View(ctx, func(tx Tx) error {
		out = out[:0]
		refs, err := tx.LiveGroups()
		if err != nil {
			return err
		}
		for _, ref := range refs {
			if slices.Contains(named[ref.Provider], ref.Group) {
				continue
			}
			lg := LiveGroup{GroupRef: ref}
			if lg.Grants, err = tx.LiveGrants(ref.Provider, ref.Group); err != nil {
				return err
			}
			recs, err := tx.Memberships(ref.Provider, ref.Group)
			if err != nil {
				return err
			}
			lg.Records = len(recs)
			out = append(out, lg)
		}
		return nil
	})
	return out, err
}

// liveGroups returns the groups reconciliation compares: every group the
// policy in force names, and every group with live records it does not.
func (s *Service) liveGroups(ctx context.Context) ([]GroupRef, error) {
	var refs []GroupRef
	for provider, groups := range s.Policy().Groups() {
		for _, g := range groups {
			refs = append(refs, GroupRef{Provider: provider, Group: g})
		}
	}
	var live []GroupRef
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		live, err = tx.LiveGroups()
		return err
	}); err != nil {
		return nil, err
	}
	for _, ref := range live {
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	slices.SortFunc(refs, func(a, b GroupRef) int {
		return cmp.Or(strings.Compare(a.Provider, b.Provider), strings.Compare(a.Group, b.Group))
	})
	return refs, nil
}
