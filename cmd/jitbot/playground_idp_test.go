package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// managerCell is the JavaScript for the manager the Directory panel shows
// for a person ("" when the row is missing).
func managerCell(email string) string {
	return fmt.Sprintf(`(() => { const c = document.querySelector('#part-directory tr[data-email=%q] td.manager'); return c ? c.textContent : ""; })()`, email)
}

// Issue 24 in the playground, in a real browser: the bot's directory
// syncs from the local Okta. From the Directory panel, alice's manager is
// changed at Okta from bob to dave: the panel keeps bob until a sync; Sync
// now syncs, the panel shows dave, the sync's events say what changed;
// alice's request then goes to dave in the local Slack, not to bob. Then
// carol's department is changed at Okta and the clock skipped an hour:
// the bot's scheduled sync (sync_every 1h, on the simulated clock) picks
// it up without a button. Last, frank is suspended at Okta and back.
func TestPlayground_BrowserDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test starts chromium")
	}
	ctx := browser(t)
	url, stderr := startPlayground(t, "--start", "2026-12-08T10:00:00Z")
	p := &page{t: t, ctx: ctx, url: url, shot: t.TempDir()}
	if dir := os.Getenv("JITBOT_PLAYGROUND_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p.shot = dir
	}
	defer func() {
		if t.Failed() {
			t.Logf("the playground's log:\n%s", stderr.String())
		}
	}()

	p.run("open the page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#composer-text")))
	p.waitText("the first sync", "#directory-synced", "last synced")
	p.waitJS("alice's manager is bob, from okta", `(() => {
		const r = document.querySelector('#part-directory tr[data-email="alice@example.com"]');
		return !!r && r.querySelector("td.manager").textContent === "bob" && r.textContent.includes("okta"); })()`)
	p.noOverflow("1280×800 with the Directory panel")

	// Change alice's manager at Okta: nothing changes for jitbot yet.
	p.choose("choose alice", "#idp-person", "alice@example.com")
	p.choose("choose dave as her manager", "#idp-manager", "dave@example.com")
	p.click("change at Okta", "#idp-change")
	p.waitText("the panel says Okta changed", "#idp-status", "Okta now has alice: manager dave@example.com")
	if got := eval[string](p, "alice's manager before the sync", managerCell("alice@example.com")); got != "bob" {
		t.Errorf("before a sync the panel shows alice's manager %q, want bob (the last sync's)", got)
	}

	// Sync now: the panel follows Okta and says what changed.
	p.click("sync now", "#idp-sync")
	p.waitJS("alice's manager is dave after the sync", managerCell("alice@example.com")+` === "dave"`)
	p.waitText("the sync's event names the change", "#part-directory .directory-events", "alice's manager: bob@example.com → dave@example.com")
	p.screenshot("directory-synced")

	// alice asks; the default rule's manager step goes to dave.
	p.run("alice asks for confluence-finance for 3 days",
		chromedp.SendKeys(chromedp.CSS("#composer-text"), "/access confluence-finance 3d quarter close\r"))
	p.waitText("alice's DM says it waits", "#part-main", "Your access request")
	p.actAs("U0DAVE")
	p.waitText("dave sees alice's card", "#part-main", "asks for Confluence Finance space")
	p.click("dave approves", `#part-main button[data-action="approve"]`)
	p.waitText("dave's card says approved", "#part-main", "approved by dave@example.com")
	p.actAs("U0BOB")
	p.waitText("bob's DM is shown", ".main-title", "jitbot")
	if n := eval[int](p, "bob's cards", `document.querySelectorAll('#part-main button[data-action="approve"]').length`); n != 0 {
		t.Errorf("bob, alice's manager before the sync, has %d approve buttons, want 0", n)
	}

	// The schedule: carol moves to IT at Okta; an hour later the bot's
	// own sync has it.
	p.choose("choose carol", "#idp-person", "carol@example.com")
	p.run("type IT", chromedp.SendKeys(chromedp.CSS("#idp-department"), "IT"))
	p.click("change at Okta", "#idp-change")
	p.waitText("the panel says Okta changed", "#idp-status", "Okta now has carol: department IT")
	dept := `(() => { const c = document.querySelector('#part-directory tr[data-email="carol@example.com"] td.department'); return c ? c.textContent : ""; })()`
	if got := eval[string](p, "carol's department before the hour", dept); got != "Finance" {
		t.Errorf("before the scheduled sync the panel shows carol in %q, want Finance", got)
	}
	p.click("skip an hour", `button[data-skip="1h"]`)
	p.waitJS("carol is in IT after the scheduled sync", dept+` === "IT"`)
	p.screenshot("directory-scheduled")

	// Suspend frank at Okta, then undo it: the panel marks him.
	frank := `document.querySelector('#part-directory tr[data-email="frank@example.com"]').textContent.includes("suspended at Okta")`
	p.choose("choose frank", "#idp-person", "frank@example.com")
	p.click("suspend at Okta", "#idp-suspend")
	p.waitJS("frank marked suspended at Okta", frank)
	p.click("unsuspend at Okta", "#idp-unsuspend")
	p.waitJS("frank no longer marked", "!"+frank)
}

// A policy with a resource on an Okta group runs in the playground: the
// group is made at the local Okta, the bot's okta provider reaches it
// there (the directory source's URL, the token from the environment),
// and an approved request puts the requester in it, as the Directory
// panel shows.
func TestPlayground_OktaResource(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	must(t, os.WriteFile(policy, []byte(`directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
resources:
  - {id: eng-admins, name: Eng admins, provider: okta, group: Eng Admins, max_duration: 1h}
rules:
  - name: manager approves
    then:
      approvals:
        - approvers: [manager]
`), 0o600))
	url, stderr := startPlayground(t, "--start", "2026-12-08T10:00:00Z", "--policy", policy, "--db", filepath.Join(dir, "j.db"))
	g := pg{t: t, url: url}
	defer func() {
		if t.Failed() {
			t.Logf("the playground's log:\n%s", stderr.String())
		}
	}()
	g.post("api/command", `{"as": "U0ALICE", "channel": "D0ALICE", "text": "/access eng-admins 1h on call"}`)
	g.waitMain("bob's card", "U0BOB", "D0BOB", `data-action="approve"`)
	m := regexp.MustCompile(`data-channel="([^"]+)" data-ts="([^"]+)" data-block="[^"]*" data-action="approve"`).FindStringSubmatch(g.main("U0BOB", "D0BOB"))
	if m == nil {
		t.Fatalf("no approve button on bob's card:\n%s", g.main("U0BOB", "D0BOB"))
	}
	g.post("api/action", fmt.Sprintf(`{"as": "U0BOB", "channel": %q, "ts": %q, "action": "approve"}`, m[1], m[2]))
	member := `data-okta-group="Eng Admins" data-email="alice@example.com"`
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.parts("U0BOB", "D0BOB")["directory"], member) {
		if time.Now().After(deadline) {
			t.Fatalf("the Directory panel never showed alice in Eng Admins at Okta:\n%s", g.parts("U0BOB", "D0BOB")["directory"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.waitMain("alice's DM says active", "U0ALICE", "D0ALICE", "Active until")
}
