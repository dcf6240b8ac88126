package approvals

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Standing access: members of a managed group that no live grant covers.
// The certification of standing access (package certify) lists them with
// Standing and removes them with RemoveStanding, which keeps a revocation's
// guarantees: under the membership's lock, re-checked, the intent and the
// outcome recorded with the caller's own writes in one transaction.

// StandingMember is a member of a group at its provider that no
// provisioning or active grant covers.
type StandingMember struct {
	Membership
	// Record is the bot's record of the membership, if any: OriginStanding
	// when a grant found it there before jitbot added it; OriginBot for a
	// leftover reconciliation has not removed yet.
	Record *MembershipRecord
}

// ErrNoMemberList is returned by Standing for a provider that cannot list
// a group's members.
var ErrNoMemberList = Errorf(EInvalid, "the provider cannot list group members")

// Standing lists the members of provider's group that no live grant
// covers, sorted by person.
func (s *Service) Standing(ctx context.Context, provider, group string) ([]StandingMember, error) {
	prov, err := s.provider(provider)
	if err != nil {
		return nil, err
	}
	lister, ok := prov.(MemberLister)
	if !ok {
		return nil, fmt.Errorf("%s: %w", provider, ErrNoMemberList)
	}
	members, err := lister.Members(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", provider, group, err)
	}
	records, live, err := s.groupRecords(ctx, provider, group)
	if err != nil {
		return nil, err
	}
	covered := map[string]bool{}
	for _, g := range live {
		covered[g.Person] = true
	}
	recs := map[string]*MembershipRecord{}
	for _, r := range records {
		recs[r.Person] = r
	}
	seen := map[string]bool{}
	var out []StandingMember
	for _, m := range members {
		p := strings.ToLower(strings.TrimSpace(m))
		if p == "" || covered[p] || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, StandingMember{Membership: Membership{Provider: provider, Group: group, Person: p}, Record: recs[p]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Person < out[j].Person })
	return out, nil
}

// Outcomes of RemoveStanding.
const (
	StandingRemoved = "removed" // the provider removed the member
	StandingGone    = "gone"    // the person was no longer a member
	// StandingCovered: a grant covers the membership now; it was not
	// removed, and its record now says the bot owns it, so the grant's end
	// removes it.
	StandingCovered = "covered"
)

// RemoveStanding removes a standing membership the way a revocation
// removes one: under the membership's lock, re-checking that no live grant
// covers it, through the provider (idempotent), and then, in one
// transaction with whatever record writes (the caller's outcome, its audit
// event, its job's completion), the bot's record of it is deleted. A
// provider that is not configured makes it wait (Later), never fail.
func (s *Service) RemoveStanding(ctx context.Context, m Membership, record func(tx Tx, outcome string) error) (string, error) {
	defer s.lockKey(m.Key())()
	covering, rec, err := s.coverage(ctx, m, "")
	if err != nil {
		return "", err
	}
	outcome := StandingRemoved
	if len(covering) > 0 {
		outcome = StandingCovered
	} else {
		prov, err := s.provider(m.Provider)
		if err != nil {
			return "", Later(s.now().Add(noProviderWait), err.Error()+": the removal waits until it is configured (then restart jitbot)")
		}
		member, err := prov.IsMember(ctx, m)
		if err != nil {
			return "", err
		}
		if !member {
			outcome = StandingGone
		} else if err := prov.RemoveMember(ctx, m); err != nil {
			return "", err
		}
	}
	err = s.record(ctx, func(tx Tx) error {
		switch {
		case outcome == StandingCovered && rec != nil && rec.Origin == OriginStanding:
			if err := tx.DeleteMembership(m); err != nil {
				return err
			}
			if _, err := tx.InsertMembership(&MembershipRecord{Membership: m, Origin: OriginBot, Since: rec.Since}); err != nil {
				return err
			}
		case outcome != StandingCovered && rec != nil:
			if err := tx.DeleteMembership(m); err != nil {
				return err
			}
		}
		return record(tx, outcome)
	})
	if err != nil {
		return "", err
	}
	s.poke()
	return outcome, nil
}

// GroupMembers resolves a user group through the front end attached
// (policies.GroupResolver): engines built before the front end (the
// certification's group:HANDLE reviewers) resolve through the Service.
func (s *Service) GroupMembers(ctx context.Context, handle string) ([]string, error) {
	r := s.resolver()
	if r == nil {
		return nil, fmt.Errorf("no front end resolves user group %s", handle)
	}
	return r.GroupMembers(ctx, handle)
}

// coverage reads, from one snapshot, the live grants other than excludeID
// that cover m, and the bot's record of m (nil when none): what a removal
// decides on, under m's lock.
func (s *Service) coverage(ctx context.Context, m Membership, excludeID string) (covering []*Grant, rec *MembershipRecord, err error) {
	err = s.store.View(ctx, func(tx Tx) error {
		if covering, err = tx.CoveringGrants(m, excludeID); err != nil {
			return err
		}
		rec, err = membershipRecord(tx, m)
		return err
	})
	return covering, rec, err
}
