package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// dirPolicy is a policy whose directory is sources, with max_drop.
func dirPolicy(maxDrop string, sources ...string) string {
	return fmt.Sprintf(`directory:
  sources: [%s]
  sync_every: 10m
  max_drop: %s
resources:
  - {id: eng-admins, provider: okta, group: Eng Admins}
rules:
  - {name: manager approves, then: {approvals: [{approvers: [manager]}]}}
`, strings.Join(sources, ", "), maxDrop)
}

// A reload that adds a directory source, one that changes one, one that
// removes one: each sync takes the sources of the policy in force; an
// unchanged source keeps its client; a changed source that fails keeps the
// last good directory until the clock brings the next sync; a removal that
// drops more than max_drop is refused until max_drop allows it.
func TestRun_DirectoryReloadSources(t *testing.T) {
	oktaA := idpfake.NewOkta(t, idpfake.Options{})
	oktaB := idpfake.NewOkta(t, idpfake.Options{})
	for _, f := range []*idpfake.Okta{oktaA, oktaB} {
		boss := f.AddUser(idpfake.User{ID: "00uboss", Email: "boss@example.com"})
		carol := f.AddUser(idpfake.User{ID: "00ucarol", Email: "carol@example.com"})
		mgr := boss
		if f == oktaB {
			mgr = carol // org B says alice reports to carol
		}
		f.AddUser(idpfake.User{ID: "00ualice", Email: "alice@example.com", Manager: mgr})
	}
	entra := idpfake.NewEntra(t, idpfake.Options{})
	entra.AddUser(idpfake.User{Email: "dave@example.com", Department: "Sales"})
	srcA := "{okta: {url: " + oktaA.URL() + "}}"
	srcB := "{okta: {url: " + oktaB.URL() + "}}"
	srcE := "{entra: {tenant: " + entra.Tenant() + "}}"

	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, []byte(dirPolicy("0.5", srcA)), 0o600))
	m, _, clock := reloadBotAt(t, policy, "OKTA_API_TOKEN", oktaA.Token(),
		"AZURE_CLIENT_ID", entra.ClientID(), "AZURE_CLIENT_SECRET", entra.ClientSecret(),
		"AZURE_AUTHORITY_HOST", entra.URL(), "ENTRA_GRAPH_URL", entra.URL())
	ctx := context.Background()
	stored := func() map[string]directory.Person {
		people, _, err := m.DB.(directory.Store).Directory(ctx)
		must(t, err)
		out := map[string]directory.Person{}
		for _, p := range people {
			out[p.Email] = p
		}
		return out
	}
	manager := func(email string) string {
		p, _ := m.Service.Policy().Person(email)
		if p == nil {
			return ""
		}
		return p.Manager + " from " + p.ManagerFrom
	}
	known := func(email string) bool { _, ok := m.Service.Policy().Person(email); return ok }
	reload := func(maxDrop string, sources ...string) {
		t.Helper()
		replace(t, policy, []byte(dirPolicy(maxDrop, sources...)))
		if changed, err := m.reloadPolicy(ctx, "test"); !changed || err != nil {
			t.Fatalf("reload: changed %v, %v; want it in force", changed, err)
		}
	}
	refusals := func() int { return len(policyEvents(t, m, directory.ActionRefused)) }
	waitFor(t, 30*time.Second, "the first sync from okta A", func() bool { return manager("alice@example.com") == "boss@example.com from okta" })

	t.Run("a source added", func(t *testing.T) {
		reload("0.5", srcA, srcE)
		waitFor(t, 30*time.Second, "dave from entra, without the clock", func() bool { return known("dave@example.com") })
		if d := stored()["dave@example.com"]; d.Department != "Sales" || d.Sources["department"] != "entra" || d.IDs.Get("entra") == "" {
			t.Errorf("dave: got %+v, want Sales from entra with an entra id", d)
		}
		if got := manager("alice@example.com"); got != "boss@example.com from okta" {
			t.Errorf("alice: got manager %s, want boss@example.com from okta", got)
		}
	})

	t.Run("a source changed", func(t *testing.T) {
		tokens, before := entra.TokensIssued(), refusals()
		oktaB.SetDown(true)
		reload("0.5", srcB, srcE)
		waitFor(t, 30*time.Second, "the sync from the new org refused", func() bool { return refusals() > before })
		if got := manager("alice@example.com"); got != "boss@example.com from okta" {
			t.Errorf("with the new org down: got alice's manager %s, want the last good boss@example.com from okta", got)
		}
		if oktaB.Requests() == 0 {
			t.Errorf("the changed source still reads org A: org B had no request")
		}
		oktaB.SetDown(false)
		waitFor(t, 30*time.Second, "the next sync, on the clock, from org B", func() bool {
			clock.Advance(time.Minute)
			return manager("alice@example.com") == "carol@example.com from okta"
		})
		if got := entra.TokensIssued(); got != tokens {
			t.Errorf("got %d entra tokens after %d, want none more: the unchanged source keeps its client", got, tokens)
		}
	})

	t.Run("a source removed", func(t *testing.T) {
		before := refusals()
		reload("0.1", srcB) // dave is 1 of 4: 25 % > 10 %
		waitFor(t, 30*time.Second, "the removal refused by max_drop", func() bool { return refusals() > before })
		if !known("dave@example.com") || stored()["dave@example.com"].Email == "" {
			t.Errorf("dave dropped despite max_drop 10 %%")
		}
		reload("0.5", srcB)
		waitFor(t, 30*time.Second, "dave gone with max_drop 50 %", func() bool { return !known("dave@example.com") })
		if _, ok := stored()["dave@example.com"]; ok {
			t.Errorf("dave is still in the stored directory")
		}
		if got := manager("alice@example.com"); got != "carol@example.com from okta" {
			t.Errorf("alice: got manager %s, want carol@example.com from okta", got)
		}
	})
}

// A bot started with no directory sources syncs once a reload adds one.
func TestRun_DirectoryReloadFirstSource(t *testing.T) {
	okta := idpfake.NewOkta(t, idpfake.Options{})
	boss := okta.AddUser(idpfake.User{Email: "boss@example.com"})
	okta.AddUser(idpfake.User{Email: "alice@example.com", Manager: boss})
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	own := `resources:
  - {id: eng-admins, provider: okta, group: Eng Admins}
rules:
  - {name: boss approves, then: {approvals: [{approvers: [boss@example.com]}]}}
`
	must(t, os.WriteFile(policy, []byte("directory:\n  people: [{email: boss@example.com}]\n"+own), 0o600))
	m, _, _ := reloadBotAt(t, policy, "OKTA_API_TOKEN", okta.Token())
	if _, ok := m.Service.Policy().Person("alice@example.com"); ok {
		t.Fatal("alice known before any source")
	}
	replace(t, policy, []byte("directory:\n  people: [{email: boss@example.com}]\n  sources: [{okta: {url: "+okta.URL()+"}}]\n"+own))
	if changed, err := m.reloadPolicy(context.Background(), "test"); !changed || err != nil {
		t.Fatalf("reload: changed %v, %v", changed, err)
	}
	waitFor(t, 30*time.Second, "alice from okta", func() bool {
		p, ok := m.Service.Policy().Person("alice@example.com")
		return ok && p.Manager == "boss@example.com" && p.ManagerFrom == "okta"
	})
}

// A source that cannot be set up (here a plain-http org away from
// loopback) is alerted once, not at every sync: three syncs, one alert,
// each sync still refused and recorded; the log says each time that IT
// was alerted already. Fixed, the log says it recovered; broken another
// way, a second alert names the new problem.
func TestRun_DirectoryUnbuiltSourceAlertsOnce(t *testing.T) {
	okta := idpfake.NewOkta(t, idpfake.Options{})
	okta.AddUser(idpfake.User{Email: "alice@example.com"})
	core, logs := observer.New(zap.InfoLevel)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	broken := func(host string) string { return dirPolicy("0.5", "{okta: {url: http://"+host+"}}") }
	must(t, os.WriteFile(policy, []byte(broken("okta-a.example.com")), 0o600))
	m, _, clock := botAt(t, policy, botOptions{dryRun: true, log: zap.New(core)}, "OKTA_API_TOKEN", okta.Token())
	ctx := context.Background()
	refusals := func() int { return len(policyEvents(t, m, directory.ActionRefused)) }
	alerts := func() []string {
		var out []string
		must(t, m.DB.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
			if e.Action == approvals.ActionAlert && strings.Contains(e.Reason, "okta") {
				out = append(out, e.Reason)
			}
			return nil
		}))
		return out
	}
	logged := func(msg string) int { return logs.FilterMessage(msg).Len() }
	const (
		alerted = "a directory source cannot be set up; IT was alerted, once until the problem changes"
		quiet   = "a directory source still cannot be set up; IT was alerted when this problem began, and is not alerted again until it changes"
		healed  = "the directory sources are set up again: the problem IT was alerted to is gone"
	)
	// The loop sets its timer after each sync: a minute at a time until
	// the clock has brought two more.
	waitFor(t, 30*time.Second, "three syncs with the broken source", func() bool {
		if refusals() < 3 {
			clock.Advance(time.Minute)
		}
		return refusals() >= 3
	})
	if got := alerts(); len(got) != 1 || !strings.Contains(got[0], "okta-a.example.com") {
		t.Fatalf("after %d syncs: got alerts %q, want one naming okta-a.example.com", refusals(), got)
	}
	if a, q := logged(alerted), logged(quiet); a != 1 || q < 2 {
		t.Errorf("got %d logs of the alert and %d of the quiet syncs, want 1 and at least 2", a, q)
	}

	replace(t, policy, []byte(dirPolicy("0.5", "{okta: {url: "+okta.URL()+"}}")))
	if changed, err := m.reloadPolicy(ctx, "test"); !changed || err != nil {
		t.Fatalf("reload: changed %v, %v", changed, err)
	}
	waitFor(t, 30*time.Second, "the sync from the fixed source", func() bool {
		_, ok := m.Service.Policy().Person("alice@example.com")
		return ok
	})
	if got := logged(healed); got != 1 {
		t.Errorf("got %d logs of the recovery, want 1", got)
	}

	before := refusals()
	replace(t, policy, []byte(broken("okta-b.example.com")))
	if changed, err := m.reloadPolicy(ctx, "test"); !changed || err != nil {
		t.Fatalf("reload: changed %v, %v", changed, err)
	}
	waitFor(t, 30*time.Second, "two syncs with the source broken another way", func() bool {
		if refusals() < before+2 {
			clock.Advance(time.Minute)
		}
		return refusals() >= before+2
	})
	if got := alerts(); len(got) != 2 || !strings.Contains(got[1], "okta-b.example.com") {
		t.Errorf("got alerts %q, want a second naming okta-b.example.com", got)
	}
	if got := logged(alerted); got != 2 {
		t.Errorf("got %d logs of an alert, want 2", got)
	}
}
