package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
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
	DriftReported      = "drift.reported"      // only reported
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

// ReconcileOptions override what the policy says per group.
type ReconcileOptions struct {
	// Mode returns policies.ReconcileRemove, ReconcileRepair or
	// ReconcileReport for a group; nil: the resource's `reconcile:` in the
	// policy in force (remove by default).
	Mode func(provider, group string) string
}

// modeOf returns the reconcile mode of a group: the strictest its
// resources ask for (report over remove over repair), since one group may
// back several resources; remove for a group no resource names any more.
func (s *Service) modeOf(opt ReconcileOptions, provider, group string) string {
	if opt.Mode != nil {
		return opt.Mode(provider, group)
	}
	mode := ""
	rank := map[string]int{policies.ReconcileRepair: 1, policies.ReconcileRemove: 2, policies.ReconcileReport: 3}
	for _, r := range s.Policy().Resources {
		if r.Provider == provider && r.Group == group && rank[r.Reconcile] > rank[mode] {
			mode = r.Reconcile
		}
	}
	if mode == "" {
		mode = policies.ReconcileRemove
	}
	return mode
}

// Reconcile compares every group the policy manages, and every group
// jitbot has live records in that the policy no longer names, with the
// grants. A
// member the bot added whose grant has ended is removed (`reconcile:
// remove`, the default, or `repair`); a live grant whose membership vanished
// upstream — IT may have removed it in an emergency — is reported, and added
// back only under `reconcile: repair`; under `report` nothing changes.
// Members the bot never added are left alone. Each finding is re-checked
// under the membership's lock before anything is changed, and recorded in
// the audit trail. Providers that cannot list members are skipped.
func (s *Service) Reconcile(ctx context.Context, opt ReconcileOptions) ([]DriftFinding, error) {
	var findings []DriftFinding
	groups, err := s.liveGroups(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, g := range groups {
		fs, err := s.reconcileGroup(ctx, g.Provider, g.Group, s.modeOf(opt, g.Provider, g.Group))
		findings = append(findings, fs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s/%s: %w", g.Provider, g.Group, err))
		}
	}
	return findings, errors.Join(errs...)
}

// RunReconcile reconciles at once and then every interval, on the engine's
// clock, until ctx ends. A non-positive interval turns it off.
func (s *Service) RunReconcile(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := s.clock.NewTicker(every)
	defer t.Stop()
	for {
		fs, err := s.Reconcile(ctx, ReconcileOptions{})
		if err != nil && ctx.Err() == nil {
			s.log.Error("reconcile", zap.Error(err))
		}
		if len(fs) > 0 {
			s.log.Warn("drift found", zap.Int("findings", len(fs)))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

func (s *Service) reconcileGroup(ctx context.Context, provider, group, mode string) ([]DriftFinding, error) {
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
	records, live, err := s.groupRecords(ctx, provider, group)
	if err != nil {
		return nil, err
	}
	if s.hooks != nil && s.hooks.AfterReconcileSnapshot != nil {
		s.hooks.AfterReconcileSnapshot(provider, group)
	}
	covered := map[string]*Grant{}
	for _, g := range live {
		covered[g.Person] = g
	}
	var out []DriftFinding
	for _, rec := range records {
		if rec.Origin != OriginBot || covered[rec.Person] != nil || !present[rec.Person] {
			continue
		}
		f := DriftFinding{Kind: DriftLeftover, Provider: provider, Group: group, Person: rec.Person,
			Detail: "added by jitbot, no active grant covers it"}
		if f, ok := s.repair(ctx, prov, f, mode, rec.Membership); ok {
			out = append(out, f)
		}
	}
	for _, g := range live {
		if g.State != GrantActive || present[g.Person] {
			continue
		}
		f := DriftFinding{Kind: DriftVanished, Provider: provider, Group: group, Person: g.Person, GrantID: g.ID,
			Detail: "an active grant's membership was removed outside jitbot"}
		if f, ok := s.repair(ctx, prov, f, mode, g.Membership()); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// stillDrifted re-reads, under the membership's lock, whether a finding made
// from the snapshot still holds: a grant may have ended, or another begun,
// since (and the provider is asked again).
func (s *Service) stillDrifted(ctx context.Context, prov Provisioner, f DriftFinding, m Membership) (bool, error) {
	var (
		rec      *MembershipRecord
		live     []*Grant
		revoking bool
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if rec, err = membershipRecord(tx, m); err != nil {
			return err
		}
		if live, err = tx.CoveringGrants(m, ""); err != nil {
			return err
		}
		revoking, err = tx.Revoking(m)
		return err
	})
	if err != nil {
		return false, err
	}
	member, err := prov.IsMember(ctx, m)
	if err != nil {
		return false, err
	}
	switch f.Kind {
	case DriftLeftover:
		// A grant being revoked has its removal queued: that job removes it
		// and records the grant's end; drift would only race it.
		return rec != nil && rec.Origin == OriginBot && len(live) == 0 && !revoking && member, nil
	default:
		for _, g := range live {
			if g.ID == f.GrantID && g.State == GrantActive {
				return !member, nil
			}
		}
		return false, nil
	}
}

// repair acts on one finding under the membership's lock — removes a
// leftover, adds back a vanished membership (repair mode), or only reports —
// and records it. It reports false when the finding no longer held once
// re-checked under the lock, and then changes and records nothing.
func (s *Service) repair(ctx context.Context, prov Provisioner, f DriftFinding, mode string, m Membership) (DriftFinding, bool) {
	defer s.lockKey(m.Key())()
	if ok, err := s.stillDrifted(ctx, prov, f, m); err != nil || !ok {
		if err != nil {
			s.log.Warn("drift re-check failed; nothing done", zap.String("group", f.Group), zap.String("person", f.Person), zap.Error(err))
		}
		return f, false
	}
	switch {
	case mode == policies.ReconcileReport:
		f.Action = DriftReported
	case f.Kind == DriftLeftover:
		f.Action = DriftRemoved
		if err := prov.RemoveMember(ctx, m); err != nil {
			f.Action, f.Detail = DriftFailed, f.Detail+"; removal failed: "+err.Error()
		}
	case mode == policies.ReconcileRepair:
		f.Action = DriftReprovisioned
		if err := prov.AddMember(ctx, m); err != nil {
			f.Action, f.Detail = DriftFailed, f.Detail+"; adding it back failed: "+err.Error()
		}
	default:
		f.Action = DriftReported
		f.Detail += "; left as it is (the resource's reconcile: repair would add it back)"
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
			if _, err := tx.InsertMembership(&MembershipRecord{Membership: m, Origin: OriginBot, Since: s.now()}); err != nil {
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
	} else {
		s.poke()
	}
	s.log.Warn("drift", zap.String("kind", f.Kind), zap.String("action", f.Action), zap.String("group", f.Group), zap.String("person", f.Person))
	return f, true
}

// groupRecords reads, in one view, jitbot's membership records of a group
// and its live grants: what reconciliation and the standing population
// compare with the provider's member list.
func (s *Service) groupRecords(ctx context.Context, provider, group string) (records []*MembershipRecord, live []*Grant, err error) {
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		if records, err = tx.Memberships(provider, group); err != nil {
			return err
		}
		live, err = tx.LiveGrants(provider, group)
		return err
	})
	return records, live, err
}
