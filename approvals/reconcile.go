package approvals

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap"
)

// MemberLister is an optional ability of a Provisioner: list the members
// of a group (as directory emails). Drift reconciliation needs it.
type MemberLister interface {
	Members(ctx context.Context, group string) ([]string, error)
}

// Drift finding kinds, also the audit actions they are recorded under.
const (
	DriftLeftover      = "drift.leftover"      // the bot added it, no live grant covers it, it is still there
	DriftVanished      = "drift.vanished"      // a live grant's membership is gone upstream
	DriftRemoved       = "drift.removed"       // a leftover was removed
	DriftReprovisioned = "drift.reprovisioned" // a vanished membership was added back
	DriftFailed        = "drift.failed"        // the repair failed
	DriftReported      = "drift.reported"      // reconcile: report — only reported
)

// DriftFinding is one difference between the provider and the grants.
type DriftFinding struct {
	Kind     string // DriftLeftover or DriftVanished
	Action   string // what was done: DriftRemoved, DriftReprovisioned, DriftReported, DriftFailed
	Provider string
	Group    string
	Person   string
	GrantID  string // the live grant, for DriftVanished
	Detail   string
}

// ReconcileOptions says, per resource group, whether to repair or only report.
type ReconcileOptions struct {
	// ReportOnly returns true for groups whose resource says `reconcile: report`.
	ReportOnly func(provider, group string) bool
}

// Reconcile compares every group the policy manages with the grants: a
// member the bot added whose grant has ended is removed (or reported), a live
// grant whose membership vanished is provisioned again (or reported), and
// members the bot never added are left alone. Each finding is recorded in
// the audit trail. Providers that cannot list members are skipped.
func (s *Service) Reconcile(ctx context.Context, opt ReconcileOptions) ([]DriftFinding, error) {
	var findings []DriftFinding
	groups := map[[2]string]bool{}
	for _, r := range s.Policy().Resources {
		if !r.IsBundle() {
			groups[[2]string{r.Provider, r.Group}] = true
		}
	}
	keys := make([][2]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	var errs []error
	for _, k := range keys {
		fs, err := s.reconcileGroup(ctx, k[0], k[1], opt)
		findings = append(findings, fs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s/%s: %w", k[0], k[1], err))
		}
	}
	return findings, errors.Join(errs...)
}

func (s *Service) reconcileGroup(ctx context.Context, provider, group string, opt ReconcileOptions) ([]DriftFinding, error) {
	prov, err := s.provider(provider)
	if err != nil {
		return nil, err
	}
	lister, ok := prov.(MemberLister)
	if !ok {
		return nil, nil
	}
	members, err := lister.Members(ctx, group)
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, m := range members {
		present[strings.ToLower(m)] = true
	}
	var (
		records []*MembershipRecord
		live    []*Grant
	)
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		if records, err = tx.Memberships(provider, group); err != nil {
			return err
		}
		live, err = tx.LiveGrants(provider, group)
		return err
	})
	if err != nil {
		return nil, err
	}
	covered := map[string]*Grant{}
	for _, g := range live {
		covered[g.Person] = g
	}
	report := opt.ReportOnly != nil && opt.ReportOnly(provider, group)
	var out []DriftFinding
	for _, rec := range records {
		if rec.Origin != OriginBot {
			continue
		}
		if covered[rec.Person] != nil || !present[rec.Person] {
			continue
		}
		f := DriftFinding{Kind: DriftLeftover, Provider: provider, Group: group, Person: rec.Person,
			Detail: "added by jitbot, no active grant covers it"}
		out = append(out, s.repair(ctx, prov, f, report, rec.Membership))
	}
	for _, g := range live {
		if g.State != GrantActive || present[g.Person] {
			continue
		}
		f := DriftFinding{Kind: DriftVanished, Provider: provider, Group: group, Person: g.Person, GrantID: g.ID,
			Detail: "an active grant's membership was removed outside jitbot"}
		out = append(out, s.repair(ctx, prov, f, report, g.Membership()))
	}
	return out, nil
}

// repair removes a leftover or re-adds a vanished membership, under the
// membership's lock, and records the finding. A failed repair alerts IT.
func (s *Service) repair(ctx context.Context, prov Provisioner, f DriftFinding, report bool, m Membership) DriftFinding {
	f, _ = s.repairLocked(ctx, prov, f, report, m)
	return f
}

// repairLocked is repair under the membership's lock; it returns the reason
// of the alert.raised event it committed, if any.
func (s *Service) repairLocked(ctx context.Context, prov Provisioner, f DriftFinding, report bool, m Membership) (DriftFinding, string) {
	defer s.lockKey(m.Key())()
	switch {
	case report:
		f.Action = DriftReported
	case f.Kind == DriftLeftover:
		f.Action = DriftRemoved
		if err := prov.RemoveMember(ctx, m); err != nil {
			f.Action, f.Detail = DriftFailed, f.Detail+"; removal failed: "+err.Error()
		}
	default:
		f.Action = DriftReprovisioned
		if err := prov.AddMember(ctx, m); err != nil {
			f.Action, f.Detail = DriftFailed, f.Detail+"; adding it back failed: "+err.Error()
		}
	}
	alert := ""
	if f.Action == DriftFailed {
		alert = fmt.Sprintf("drift in %s/%s for %s: %s", f.Provider, f.Group, f.Person, f.Detail)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		if f.Action == DriftRemoved {
			if err := tx.DeleteMembership(m); err != nil {
				return err
			}
		}
		if f.Action == DriftReprovisioned {
			if err := tx.PutMembership(&MembershipRecord{Membership: m, Origin: OriginBot, Since: s.now()}); err != nil {
				return err
			}
		}
		data := map[string]string{"finding": f.Kind, "provider": f.Provider, "group": f.Group}
		if err := tx.Append(&Event{Time: s.now(), Actor: ActorSystem, Action: f.Action, Subject: f.Person,
			GrantID: f.GrantID, Reason: f.Detail, Data: data}); err != nil {
			return err
		}
		if alert != "" {
			return s.RaiseAlertTx(tx, "", f.Person, alert, map[string]string{"grant_id": f.GrantID})
		}
		return nil
	})
	if err != nil {
		s.log.Error("record drift finding", zap.Error(err))
		alert = "" // not recorded: nothing committed to alert about
	} else {
		s.poke()
	}
	s.log.Warn("drift", zap.String("kind", f.Kind), zap.String("action", f.Action), zap.String("group", f.Group), zap.String("person", f.Person))
	return f, alert
}
