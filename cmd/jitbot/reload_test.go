package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// reloadBot starts the whole program on a copy of the example policy in its
// own folder, with an alert channel.
func reloadBot(t *testing.T, extraEnv ...string) (*Main, *localslack.Server, *clockwork.FakeClock, string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"policy.yaml", "people.csv"} {
		data, err := os.ReadFile(filepath.Join("../../examples", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, f), data, 0o600))
	}
	policy := filepath.Join(dir, "policy.yaml")
	m, srv, clock := reloadBotAt(t, policy, extraEnv...)
	return m, srv, clock, policy
}

// reloadBotAt starts the whole program in dry-run mode on the policy file
// at policy, with its database beside it and an alert channel.
func reloadBotAt(t *testing.T, policy string, extraEnv ...string) (*Main, *localslack.Server, *clockwork.FakeClock) {
	t.Helper()
	return botAt(t, policy, botOptions{dryRun: true}, extraEnv...)
}

// botOptions are what botAt starts the program with beyond its policy and
// environment.
type botOptions struct {
	dryRun bool
	log    *zap.Logger // nil: errors only, discarded
}

// botAt starts the whole program on the policy file at policy, with its
// database beside it and an alert channel, on a fake clock.
func botAt(t *testing.T, policy string, o botOptions, extraEnv ...string) (*Main, *localslack.Server, *clockwork.FakeClock) {
	t.Helper()
	dir := filepath.Dir(policy)
	srv := localslack.New(t, localslack.Options{})
	srv.AddChannel("C0ALERT", "it-alerts")
	srv.AddChannel("C0AUDIT", "audit")
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL(),
		"JITBOT_ALERT_CHANNEL": "C0ALERT"}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		env[extraEnv[i]] = extraEnv[i+1]
	}
	clock := clockwork.NewFakeClockAt(time.Now().UTC().Truncate(time.Second))
	m := &Main{Config: Config{Policy: policy, DB: filepath.Join(dir, "jitbot.db"), LogLevel: "error", LogFormat: "json", DryRun: o.dryRun},
		Clock: clock, Getenv: func(k string) string { return env[k] }, Log: o.log}
	ctx, cancel := context.WithCancel(context.Background())
	must(t, m.Open(ctx))
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		m.Close()
	})
	return m, srv, clock
}

// rewrite replaces the policy file as an editor does: write beside, rename.
func rewrite(t *testing.T, path, from, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	if !strings.Contains(string(data), from) {
		t.Fatalf("the policy lacks %q", from)
	}
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, []byte(strings.Replace(string(data), from, to, 1)), 0o600))
	must(t, os.Rename(tmp, path))
}

func submit(t *testing.T, m *Main) *approvals.Request {
	t.Helper()
	r, err := m.Service.Submit(context.Background(), approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
		Duration: 2 * time.Hour, Reason: "month-end close"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func policyEvents(t *testing.T, m *Main, action string) []map[string]string {
	t.Helper()
	var out []map[string]string
	err := m.DB.Events(context.Background(), time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if e.Action == action {
			out = append(out, e.Data)
		}
		return nil
	})
	must(t, err)
	return out
}

// Issue 14: a SIGHUP with a valid policy changes routing for the next
// request, and the change is audited with its sha256; a request filed
// before keeps its route.
func TestReload_SIGHUPValidChangesRouting(t *testing.T) {
	m, _, _, policy := reloadBot(t)
	before := submit(t, m)
	if !before.AutoApproved {
		t.Fatalf("before the reload: got %s, want auto-approved under the example policy", before.State)
	}
	oldHash := m.Service.Policy().Hash
	// Short internal access is no longer automatic: it needs the manager.
	rewrite(t, policy, "then: {auto_approve: true, notify: [\"#access-log\"]}", "then: {approvals: [{approvers: [manager]}]}")
	must(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	waitUntil(t, func() bool { return m.Service.Policy().Hash != oldHash })
	after := submit(t, m)
	if after.AutoApproved || after.State != approvals.StatePending || len(after.Steps) != 1 || after.Steps[0].Approvers[0] != "bob@example.com" {
		t.Fatalf("after the reload: got %s auto %v steps %+v, want pending on bob", after.State, after.AutoApproved, after.Steps)
	}
	got, err := m.Service.Get(context.Background(), before.ID)
	must(t, err)
	if !got.AutoApproved || got.Rule != "short internal access is automatic" {
		t.Errorf("the request filed before: got rule %q auto %v, want the rule it was filed under", got.Rule, got.AutoApproved)
	}
	loaded := policyEvents(t, m, approvals.ActionPolicyLoaded)
	if n := len(loaded); n != 2 || loaded[1]["sha256"] != m.Service.Policy().Hash || loaded[0]["sha256"] != oldHash {
		t.Fatalf("policy.loaded events: got %v, want two with the old and the new sha256", loaded)
	}
}

// Issue 14: a SIGHUP with an invalid policy changes nothing, logs, and
// raises an alert in the alert channel naming the problem.
func TestReload_SIGHUPInvalidChangesNothingAndAlerts(t *testing.T) {
	m, srv, _, policy := reloadBot(t)
	oldHash := m.Service.Policy().Hash
	rewrite(t, policy, "provider: jira           # jira | atlassian-admin | dryrun", "provider: confluence")
	must(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	if !srv.WaitFor(10*time.Second, func() bool {
		for _, msg := range srv.Messages("C0ALERT") {
			if text := msg.AllText(); strings.Contains(text, "was not reloaded") && strings.Contains(text, "unknown provider") && strings.Contains(text, "policy.yaml:") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no alert naming the problem; alert channel: %+v", srv.Messages("C0ALERT"))
	}
	if got := m.Service.Policy().Hash; got != oldHash {
		t.Fatalf("the policy in force changed: got %s, want %s", got, oldHash)
	}
	if r := submit(t, m); !r.AutoApproved {
		t.Errorf("routing changed after a refused reload: got %s, want auto-approved", r.State)
	}
	if got := policyEvents(t, m, ActionPolicyRefused); len(got) != 1 || got[0]["sha256"] == "" {
		t.Errorf("policy.refused events: got %v, want one with the refused file's sha256", got)
	}
	if got := policyEvents(t, m, approvals.ActionPolicyLoaded); len(got) != 1 {
		t.Errorf("policy.loaded events: got %d, want only the one at start-up", len(got))
	}
}

// Issue 14: a change of the file reloads it too (fsnotify), after a short
// debounce on the injected clock.
func TestReload_FileChange(t *testing.T) {
	m, _, clock, policy := reloadBot(t)
	oldHash := m.Service.Policy().Hash
	rewrite(t, policy, "max_duration: 4h", "max_duration: 3h")
	waitUntil(t, func() bool {
		clock.Advance(reloadDebounce)
		return m.Service.Policy().Hash != oldHash
	})
	if r, _ := m.Service.Policy().Resource("jira-admins"); r.MaxDuration != 3*time.Hour {
		t.Errorf("jira-admins max: got %v, want 3h", r.MaxDuration)
	}
	// A change elsewhere in the folder (the database) reloads nothing.
	if got := m.isPolicyFile(filepath.Join(filepath.Dir(policy), "jitbot.db-wal")); got {
		t.Error("a database write counts as a policy change")
	}
	if got := m.isPolicyFile(filepath.Join(filepath.Dir(policy), "people.csv")); !got {
		t.Error("a change of the directory file does not count as a policy change")
	}
}

// Issue 10 item 13, end to end: a bot started with an audit channel posts
// the anchor at start-up (no anchor yet), not only after a day of uptime.
func TestIntegrity13_BotAnchorsAtStartUp(t *testing.T) {
	_, srv, _, _ := reloadBot(t, "JITBOT_AUDIT_CHANNEL", "C0AUDIT")
	if !srv.WaitFor(10*time.Second, func() bool {
		for _, msg := range srv.Messages("C0AUDIT") {
			if strings.Contains(msg.AllText(), "jitbot audit verify --anchor") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no anchor posted at start-up; audit channel: %+v", srv.Messages("C0AUDIT"))
	}
}

// droppingPolicy is a policy with a Jira resource (wiki) and a dry-run one;
// without wiki, no resource names the jira provider any more.
const droppingPolicy = `directory:
  people:
    - {email: alice@example.com, department: Engineering, employment: internal}
resources:
  - id: wiki
    provider: jira
    group: wiki
  - id: notes
    provider: dryrun
    group: notes
rules:
  - name: automatic
    then: {auto_approve: true}
`

// Issue 20 finding 1, end to end: a reload drops the last jira resource
// while alice's grant on it is active. The reload is accepted, and IT is
// told which grant it leaves behind. jitbot restarts (an upgrade) on that
// policy: first without the Jira settings — it starts, says the removal
// waits for them, and does not give up on it at alice's deadline — then
// with them, and alice is removed from the Jira group. Before, the
// restarted bot built no jira provider, the revocation failed for good and
// alice stayed in the group.
func TestReload_DroppedProviderStillRemovesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	policy, db := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "jitbot.db")
	must(t, os.WriteFile(policy, []byte(droppingPolicy), 0o600))
	jira := atlassianfake.New(t, atlassianfake.Options{})
	jira.AddGroup("wiki")
	jira.AddUser("alice@example.com")
	srv := localslack.New(t, localslack.Options{})
	srv.AddChannel("C0ALERT", "it-alerts")
	slackEnv := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL(),
		"JITBOT_ALERT_CHANNEL": "C0ALERT"}
	withJira := maps.Clone(slackEnv)
	maps.Copy(withJira, jiraEnv(jira))
	clock := clockwork.NewFakeClockAt(time.Now().UTC().Truncate(time.Second))
	start := func(env map[string]string) (*Main, func()) {
		t.Helper()
		m := &Main{Config: Config{Policy: policy, DB: db, LogLevel: "error", LogFormat: "json", Listen: ""}, Clock: clock,
			Getenv: func(k string) string { return env[k] }}
		ctx, cancel := context.WithCancel(context.Background())
		must(t, m.Open(ctx))
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		return m, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			m.Close()
		}
	}
	alerted := func(parts ...string) bool {
		return srv.WaitFor(10*time.Second, func() bool {
			for _, msg := range srv.Messages("C0ALERT") {
				text := msg.AllText()
				if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(text, p) }) {
					return true
				}
			}
			return false
		})
	}

	m, stop := start(withJira)
	r, err := m.Service.Submit(context.Background(), approvals.SubmitInput{Requester: "alice@example.com", Resource: "wiki",
		Duration: time.Hour, Reason: "release notes"})
	must(t, err)
	waitUntil(t, func() bool { return jira.IsMember("wiki", "alice@example.com") })
	rewrite(t, policy, `  - id: wiki
    provider: jira
    group: wiki
`, "")
	if changed, err := m.reloadPolicy(context.Background(), "test"); !changed || err != nil {
		t.Fatalf("reload dropping the jira provider: changed %v, %v; want it accepted", changed, err)
	}
	if !alerted("was reloaded", "jira group wiki", "alice@example.com (request "+approvals.Short(r.ID)+")", "keeps provider jira") {
		t.Errorf("no alert naming alice's grant left behind; alert channel: %+v", srv.Messages("C0ALERT"))
	}
	stop()

	// Restarted without the Jira settings: it starts, and says why the
	// removal will wait.
	m, stop = start(slackEnv)
	if !alerted("jitbot started on the policy", "jira group wiki", "ATLASSIAN_SITE_URL is not set", "removals wait") {
		t.Errorf("no alert saying the removal waits for the Jira settings; alert channel: %+v", srv.Messages("C0ALERT"))
	}
	grant := func(m *Main) *approvals.Grant {
		gs, err := m.Service.Grants(context.Background(), r.ID)
		must(t, err)
		return gs[0]
	}
	waitUntil(t, func() bool {
		clock.Advance(time.Minute)
		return grant(m).State == approvals.GrantRevoking && clock.Since(r.CreatedAt) > time.Hour+5*time.Minute
	})
	if g := grant(m); g.State != approvals.GrantRevoking || !jira.IsMember("wiki", "alice@example.com") {
		t.Fatalf("without the provider: grant %s (%s), alice a member %v; want the removal waiting", g.State, g.Note, jira.IsMember("wiki", "alice@example.com"))
	}
	stop()

	// Restarted with them: alice is removed.
	m, stop = start(withJira)
	defer stop()
	waitUntil(t, func() bool {
		clock.Advance(10 * time.Second)
		return !jira.IsMember("wiki", "alice@example.com") && grant(m).State == approvals.GrantEnded
	})
	if g := grant(m); g.Note != "removed" {
		t.Errorf("grant note: got %q, want removed", g.Note)
	}
	if got, err := m.Service.Get(context.Background(), r.ID); err != nil || got.State != approvals.StateExpired {
		t.Errorf("request: got %v %v, want expired", got, err)
	}
}

// replace writes data to path as an editor or a deployment does: beside it,
// then renamed over it.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, data, 0o600))
	must(t, os.Rename(tmp, path))
}

// Issue 20 finding 4: reload watches every file the policy is read from,
// wherever it is: a directory file in a subfolder of the policy's folder,
// and the target of a policy file that is a symlink into another folder
// (a deployment's release folder). Before, only the policy's own folder
// was watched, and neither change was seen.
func TestReload_WatchesEveryFileItReads(t *testing.T) {
	waitReload := func(t *testing.T, m *Main, clock *clockwork.FakeClock, old string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for m.Service.Policy().Hash == old {
			if time.Now().After(deadline) {
				t.Fatal("the change was not seen: the policy was not reloaded")
			}
			clock.Advance(reloadDebounce)
			time.Sleep(10 * time.Millisecond)
		}
	}
	policyText := func(t *testing.T, directoryFile string) []byte {
		t.Helper()
		data, err := os.ReadFile("../../examples/policy.yaml")
		must(t, err)
		return []byte(strings.Replace(string(data), "  file: people.csv ", "  file: "+directoryFile+" ", 1))
	}
	people, err := os.ReadFile("../../examples/people.csv")
	must(t, err)

	t.Run("DirectoryFileInASubfolder", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.Mkdir(filepath.Join(dir, "people"), 0o700))
		csv := filepath.Join(dir, "people", "people.csv")
		must(t, os.WriteFile(csv, people, 0o600))
		policy := filepath.Join(dir, "policy.yaml")
		must(t, os.WriteFile(policy, policyText(t, "people/people.csv"), 0o600))
		m, _, clock := reloadBotAt(t, policy)
		old := m.Service.Policy().Hash
		replace(t, csv, []byte(strings.Replace(string(people), "carol@example.com,Finance", "carol@example.com,Treasury", 1)))
		waitReload(t, m, clock, old)
		if got := m.Service.Policy().People["carol@example.com"].Department; got != "Treasury" {
			t.Errorf("carol's department after the reload: got %q, want Treasury", got)
		}
	})
	t.Run("PolicySymlinkIntoAnotherFolder", func(t *testing.T) {
		release, conf := t.TempDir(), t.TempDir()
		must(t, os.WriteFile(filepath.Join(conf, "people.csv"), people, 0o600))
		real := filepath.Join(release, "policy.yaml")
		must(t, os.WriteFile(real, policyText(t, "people.csv"), 0o600))
		// The directory file is read beside the link, in conf; the policy
		// itself lives in release.
		policy := filepath.Join(conf, "policy.yaml")
		must(t, os.Symlink(real, policy))
		m, _, clock := reloadBotAt(t, policy)
		old := m.Service.Policy().Hash
		replace(t, real, []byte(strings.Replace(string(policyText(t, "people.csv")), "max_duration: 4h", "max_duration: 3h", 1)))
		waitReload(t, m, clock, old)
		if r, _ := m.Service.Policy().Resource("jira-admins"); r.MaxDuration != 3*time.Hour {
			t.Errorf("jira-admins max after the reload: got %v, want 3h", r.MaxDuration)
		}
	})
}

// Issue 21: a reload that makes a rule auto-approve an admin escalation
// is refused, the alert naming the rule and the resource; one with
// warnings only comes into force, and the warnings are posted.
func TestReload_Findings(t *testing.T) {
	m, srv, _, policy := reloadBot(t)
	oldHash := m.Service.Policy().Hash
	alerted := func(parts ...string) bool {
		return srv.WaitFor(10*time.Second, func() bool {
			for _, msg := range srv.Messages("C0ALERT") {
				text := msg.AllText()
				all := true
				for _, p := range parts {
					all = all && strings.Contains(text, p)
				}
				if all {
					return true
				}
			}
			return false
		})
	}
	// Admin escalation is for externals only; short internal access
	// loses its resource filter: alice gets jira-admins automatically.
	rewrite(t, policy, "if: {resource_kind: admin}", "if: {resource_kind: admin, requester: {employment: external}}")
	rewrite(t, policy, "resource: [confluence-finance], duration_at_most: 8h}", "duration_at_most: 8h}")
	must(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	if !alerted("was not reloaded", `rule "short internal access is automatic" auto-approves jira-admins, an admin escalation`) {
		t.Fatalf("no alert naming the rule and the resource; alert channel: %+v", srv.Messages("C0ALERT"))
	}
	if got := m.Service.Policy().Hash; got != oldHash {
		t.Fatalf("the policy in force changed: got %s, want %s", got, oldHash)
	}
	// Back to the example, with a max_duration the resources never give.
	rewrite(t, policy, "if: {resource_kind: admin, requester: {employment: external}}", "if: {resource_kind: admin}")
	rewrite(t, policy, "duration_at_most: 8h}", "resource: [confluence-finance], duration_at_most: 8h}")
	rewrite(t, policy, "      request_ttl: 24h", "      max_duration: 90d\n      request_ttl: 24h")
	must(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	if !alerted("was reloaded with 1 warning(s); it is in force", `warning: max_duration 90d of rule "default" is longer than anything it grants can be given: the effective maximum is 30d`) {
		t.Fatalf("no alert with the warning; alert channel: %+v", srv.Messages("C0ALERT"))
	}
	if got := m.Service.Policy().Hash; got == oldHash {
		t.Error("a policy with warnings only was not put in force")
	}
}

// Issue 21: jitbot run --dry-run touches no Atlassian, so it does not warn
// that the Admin API settings (ATLASSIAN_ORG_ID…) are missing.
func TestRun_DryRunQuietAboutAdminAPI(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"policy.yaml", "people.csv"} {
		data, err := os.ReadFile(filepath.Join("../../examples", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, f), data, 0o600))
	}
	srv := localslack.New(t, localslack.Options{})
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL()}
	var logs syncBuffer
	m := &Main{Config: Config{Policy: filepath.Join(dir, "policy.yaml"), DB: filepath.Join(dir, "jitbot.db"), LogLevel: "info", LogFormat: "json", DryRun: true},
		Clock: clockwork.NewFakeClock(), Getenv: func(k string) string { return env[k] }, Stderr: &logs}
	must(t, m.Open(context.Background()))
	m.Close()
	out := logs.String()
	if !strings.Contains(out, "dry run: licence reviews run on the stored directory only") {
		t.Errorf("no info line saying the reviews use the stored directory:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "ATLASSIAN_") {
			t.Errorf("a dry run warns about Atlassian settings: %s", line)
		}
	}
}
