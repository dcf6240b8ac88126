package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/metrics"
	"gopkg.in/yaml.v3"
)

type stats struct{ err error }

func (s stats) Stats(context.Context, time.Time) (approvals.Stats, error) {
	return approvals.Stats{
		Requests:  map[approvals.State]int{approvals.StateActive: 3, approvals.StatePending: 2},
		Pending:   map[approvals.Lane]int{approvals.LaneAccess: 1, approvals.LaneMessage: 7},
		OldestDue: map[approvals.Lane]time.Time{approvals.LaneMessage: time.Unix(100, 0)},
		AuditHead: 42,
	}, s.err
}

type nopProvider struct{}

func (nopProvider) AddMember(context.Context, approvals.Membership) error { return nil }
func (nopProvider) RemoveMember(context.Context, approvals.Membership) error {
	return approvals.Permanent(errors.New("403"))
}
func (nopProvider) IsMember(context.Context, approvals.Membership) (bool, error) { return true, nil }

type upstream struct{}

func (upstream) Rate() float64      { return 47.5 }
func (upstream) Throttled() float64 { return 2 }

// exercised returns metrics with every family observed once, and their text.
func exercised(t *testing.T) (*metrics.Metrics, string) {
	t.Helper()
	m := metrics.New()
	m.Acked(3 * time.Millisecond)
	m.SlackCall("chat.postMessage", "ok", 20*time.Millisecond)
	m.SlackCall("chat.postMessage", "held", 0)
	m.WatchConnected(func() bool { return true })
	m.JobDone(approvals.LaneAccess, approvals.JobRevoke, approvals.OutcomeDone, time.Millisecond)
	m.Removed(400 * time.Millisecond)
	m.ReviewRun("employees", "finished")
	m.SetLeader(true)
	m.WatchUpstream("jira", upstream{})
	m.WatchStore(stats{}, func() time.Time { return time.Unix(160, 0) }, time.Second)
	p := m.Provider("jira", nopProvider{})
	p.AddMember(context.Background(), approvals.Membership{})
	p.RemoveMember(context.Background(), approvals.Membership{})
	return m, scrape(t, m)
}

// scrape returns what /metrics serves.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestMetrics_Exposition(t *testing.T) {
	_, text := exercised(t)
	for _, want := range []string{
		`jitbot_socket_ack_seconds_count 1`,
		`jitbot_slack_calls_total{method="chat.postMessage",outcome="held"} 1`,
		`jitbot_jobs_total{kind="revoke",lane="access",outcome="done"} 1`,
		`jitbot_expiry_lag_seconds_count 1`,
		`jitbot_requests{state="active"} 3`,
		`jitbot_jobs_pending{lane="message"} 7`,
		`jitbot_jobs_oldest_due_seconds{lane="message"} 60`,
		`jitbot_audit_head_seq 42`,
		`jitbot_provider_calls_total{operation="remove",outcome="permanent",provider="jira"} 1`,
		`jitbot_provider_rate_limited_total{api="jira"} 2`,
		`jitbot_upstream_rate{api="jira"} 47.5`,
		`jitbot_leader 1`,
		`jitbot_store_up 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the exposition lacks %q", want)
		}
	}
}

// metricNames returns the metric names an exposition defines.
func metricNames(text string) map[string]bool {
	names := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	return names
}

// referenced returns the jitbot_ metric names an expression uses, without
// the _bucket/_sum/_count of histograms.
var metricRe = regexp.MustCompile(`jitbot_[a-z_]+`)

func referenced(expr string) []string {
	var out []string
	for _, n := range metricRe.FindAllString(expr, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, suf) && !strings.HasSuffix(n, "_total") {
				n = strings.TrimSuffix(n, suf)
			}
		}
		out = append(out, n)
	}
	return out
}

// The alert rules and the dashboard only use metrics jitbot exports, and
// the rules pass promtool where it is installed (.ci/run installs it).
func TestDeploy_AlertRulesAndDashboard(t *testing.T) {
	_, text := exercised(t)
	names := metricNames(text)

	raw, err := os.ReadFile("../deploy/prometheus/jitbot-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q lacks an expression, a severity or a summary", r.Alert)
			}
			for _, n := range referenced(r.Expr) {
				if !names[n] {
					t.Errorf("rule %q uses %s, which jitbot does not export", r.Alert, n)
				}
			}
		}
	}
	for _, want := range []string{"JitbotRevocationOverdue", "JitbotSlackDisconnected", "JitbotJobsFailing", "JitbotAuditAnchorMissing"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	raw, err = os.ReadFile("../deploy/grafana/jitbot-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if len(dash.Panels) < 8 {
		t.Errorf("dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range referenced(tg.Expr) {
				if !names[n] {
					t.Errorf("panel %q uses %s, which jitbot does not export", p.Title, n)
				}
			}
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: the rules were parsed, not checked by Prometheus (.ci/run installs it from Debian's prometheus package)")
		return
	}
	out, err := exec.Command(promtool, "check", "rules", "../deploy/prometheus/jitbot-alerts.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// adderProvider answers its add with whether the person was a member, and
// looks ahead (approvals.Adder, approvals.Preparer).
type adderProvider struct{ nopProvider }

func (adderProvider) Add(context.Context, approvals.Membership) (bool, error) { return true, nil }
func (adderProvider) Prepare(context.Context, approvals.Membership) error     { return nil }

// The counting wrapper keeps a provider's one-call add and its look-ups
// ahead: provisioning through it makes one add, no membership read. A
// provider without them is asked IsMember, then AddMember, each counted.
func TestMetrics_ProviderKeepsAbilities(t *testing.T) {
	m := metrics.New()
	ctx := context.Background()
	one := m.Provider("jira", adderProvider{}).(approvals.Adder)
	if already, err := one.Add(ctx, approvals.Membership{}); err != nil || !already {
		t.Fatalf("Add through the wrapper: %v %v", already, err)
	}
	if err := m.Provider("jira", adderProvider{}).(approvals.Preparer).Prepare(ctx, approvals.Membership{}); err != nil {
		t.Fatal(err)
	}
	asking := m.Provider("dryrun", nopProvider{}).(approvals.Adder)
	if already, err := asking.Add(ctx, approvals.Membership{}); err != nil || !already {
		t.Fatalf("Add through the wrapper of a provider that asks first: %v %v", already, err)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`jitbot_provider_calls_total{operation="add",outcome="ok",provider="jira"} 1`,
		`jitbot_provider_calls_total{operation="prepare",outcome="ok",provider="jira"} 1`,
		`jitbot_provider_calls_total{operation="is_member",outcome="ok",provider="dryrun"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `operation="is_member",outcome="ok",provider="jira"`) {
		t.Error("the one-call add asked IsMember too")
	}
}
