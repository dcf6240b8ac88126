// Package provisioner holds the providers that add and remove group
// memberships: the dryrun provider here, Atlassian's in subpackages.
package provisioner

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// Names of the providers a policy may name; policies holds the list.
const (
	NameJira           = policies.ProviderJira
	NameAtlassianAdmin = policies.ProviderAtlassianAdmin
	NameDryRun         = policies.ProviderDryRun
)

// Ledger keeps the dry-run provider's memberships somewhere that outlives
// the process (the store), so a restarted bot sees what it "did".
type Ledger interface {
	DryRunAdd(ctx context.Context, m approvals.Membership) (changed bool, err error)
	DryRunRemove(ctx context.Context, m approvals.Membership) (changed bool, err error)
	DryRunIsMember(ctx context.Context, m approvals.Membership) (bool, error)
}

// DryRun is a provider that changes nothing outside jitbot: it records what
// it would do in its ledger and in the log.
type DryRun struct {
	ledger Ledger
	log    *zap.Logger
}

var (
	_ approvals.Provisioner  = (*DryRun)(nil)
	_ approvals.MemberLister = (*DryRun)(nil)
	_ approvals.Adder        = (*DryRun)(nil)
)

// NewDryRun returns a dry-run provider. A nil ledger keeps memberships in memory.
func NewDryRun(l Ledger, log *zap.Logger) *DryRun {
	if l == nil {
		l = NewMemoryLedger()
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &DryRun{ledger: l, log: log}
}

// AddMember records that m would be added.
func (d *DryRun) AddMember(ctx context.Context, m approvals.Membership) error {
	_, err := d.Add(ctx, m)
	return err
}

// Add records that m would be added and reports whether the ledger held it
// already (approvals.Adder).
func (d *DryRun) Add(ctx context.Context, m approvals.Membership) (already bool, err error) {
	changed, err := d.ledger.DryRunAdd(ctx, m)
	if err != nil {
		return false, err
	}
	d.log.Info("dry run: would add member", zap.String("provider", m.Provider), zap.String("group", m.Group),
		zap.String("person", m.Person), zap.Bool("changed", changed))
	return !changed, nil
}

// RemoveMember records that m would be removed.
func (d *DryRun) RemoveMember(ctx context.Context, m approvals.Membership) error {
	changed, err := d.ledger.DryRunRemove(ctx, m)
	if err != nil {
		return err
	}
	d.log.Info("dry run: would remove member", zap.String("provider", m.Provider), zap.String("group", m.Group),
		zap.String("person", m.Person), zap.Bool("changed", changed))
	return nil
}

// IsMember reports whether m is in the ledger.
func (d *DryRun) IsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	return d.ledger.DryRunIsMember(ctx, m)
}

// memberLister is the optional Ledger ability behind DryRun.Members.
type memberLister interface {
	DryRunMembers(ctx context.Context, provider, group string) ([]string, error)
}

// Members lists the ledger's members of a group, so drift reconciliation
// works in dry-run mode too.
func (d *DryRun) Members(ctx context.Context, group string) ([]string, error) {
	l, ok := d.ledger.(memberLister)
	if !ok {
		return nil, fmt.Errorf("dry run: the ledger cannot list members")
	}
	return l.DryRunMembers(ctx, "", group)
}

// MemoryLedger is an in-memory Ledger that also counts changes (tests).
type MemoryLedger struct {
	mu      sync.Mutex
	members map[approvals.Membership]bool
	adds    int
	removes int
}

// NewMemoryLedger returns an empty ledger.
func NewMemoryLedger() *MemoryLedger {
	return &MemoryLedger{members: map[approvals.Membership]bool{}}
}

// DryRunAdd adds m.
func (l *MemoryLedger) DryRunAdd(_ context.Context, m approvals.Membership) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.members[m] {
		return false, nil
	}
	l.members[m] = true
	l.adds++
	return true, nil
}

// DryRunRemove removes m.
func (l *MemoryLedger) DryRunRemove(_ context.Context, m approvals.Membership) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.members[m] {
		return false, nil
	}
	delete(l.members, m)
	l.removes++
	return true, nil
}

// DryRunIsMember reports whether m is present.
func (l *MemoryLedger) DryRunIsMember(_ context.Context, m approvals.Membership) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.members[m], nil
}

// DryRunMembers lists the members of group (at any provider when provider is empty).
func (l *MemoryLedger) DryRunMembers(_ context.Context, provider, group string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for m := range l.members {
		if m.Group == group && (provider == "" || m.Provider == provider) {
			out = append(out, m.Person)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Counts returns how many adds and removes changed something.
func (l *MemoryLedger) Counts() (adds, removes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.adds, l.removes
}

// Members returns the current memberships as sorted strings "group/person".
func (l *MemoryLedger) Members() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for m := range l.members {
		out = append(out, fmt.Sprintf("%s/%s", m.Group, m.Person))
	}
	sort.Strings(out)
	return out
}
