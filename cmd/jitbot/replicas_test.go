package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/store/postgres"
)

// syncBuffer is a bytes.Buffer safe for a child's stderr and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// replica is one `jitbot run` process: this test binary run as the CLI.
type replica struct {
	name   string
	listen string // where it serves /healthz and /metrics
	cmd    *exec.Cmd
	logs   *syncBuffer
	done   chan error
}

// startReplica starts `jitbot run` in a child process with env.
func startReplica(t *testing.T, name string, env map[string]string) *replica {
	t.Helper()
	argv, _ := json.Marshal([]string{"run"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{"JITBOT_TEST_RUN_CLI=" + string(argv), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	listen := freeAddr(t)
	cmd.Env = append(cmd.Env, "JITBOT_LISTEN="+listen)
	r := &replica{name: name, listen: listen, cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("replica %s (pid %d) logs:\n%s", r.name, cmd.Process.Pid, tail(r.logs.String(), 60))
		}
	})
	return r
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// leaderGauge scrapes the replica's /metrics and returns jitbot_leader.
func (r *replica) leaderGauge(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + r.listen + "/metrics")
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "jitbot_leader "); ok {
			return v
		}
	}
	return "absent"
}

// id is the replica's name in the leader row (replicaID).
func (r *replica) id() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, r.cmd.Process.Pid)
}

// logged returns the log entries with message msg.
func (r *replica) logged(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 20 ms for up to d; explain, if given, says
// what there was instead.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			why := ""
			for _, e := range explain {
				why += ": " + e()
			}
			t.Fatalf("timed out after %s waiting for %s%s", d, what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// twoReplicas is the setting of the replica tests: one PostgreSQL schema,
// the local Slack spreading envelopes over both replicas' connections, the
// local Jira, an approver (bob) and n requesters, each bob's report.
type twoReplicas struct {
	url   string
	srv   *localslack.Server
	jira  *atlassianfake.Server
	env   map[string]string
	db    *postgres.DB // the test's own view of the database
	users []localslack.User
}

func newTwoReplicas(t *testing.T, n int, lease time.Duration) *twoReplicas {
	t.Helper()
	url, _ := pgtest.Schema(t)
	x := &twoReplicas{url: url}
	// Two replicas built with -race on two shared cores, beside the other
	// test packages: acks may take longer than Slack's 3 s. Ack latency is
	// the bot's benchmark; here the decisions are what is tested.
	x.srv = localslack.New(t, localslack.Options{Spread: true, PostRate: -1, AckTimeout: 15 * time.Second})
	x.srv.AddUser(localslack.User{ID: "U0BOB", Name: "bob", Email: "bob@example.com"})
	x.srv.AddChannel("C0GENERAL", "general")
	x.jira = atlassianfake.New(t, atlassianfake.Options{})
	x.jira.AddGroup("wiki")
	var people strings.Builder
	people.WriteString("    - {email: bob@example.com, department: Engineering, employment: internal}\n")
	for i := range n {
		u := localslack.User{ID: fmt.Sprintf("U%04d", i), Name: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.com", i)}
		x.srv.AddUser(u)
		x.jira.AddUser(u.Email)
		x.users = append(x.users, u)
		fmt.Fprintf(&people, "    - {email: %s, department: Engineering, manager: bob@example.com, employment: internal}\n", u.Email)
	}
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, []byte(`directory:
  people:
`+people.String()+`resources:
  - id: wiki
    name: Engineering wiki
    provider: jira
    group: wiki
    max_duration: 1h
rules:
  - name: manager approves
    then:
      approvals:
        - approvers: [manager]
limits:
  pending_per_requester: 1000
`), 0o600))
	x.env = jiraEnv(x.jira)
	for k, v := range map[string]string{
		"JITBOT_DB": url, "JITBOT_POLICY": policy, "JITBOT_LOG_FORMAT": "json", "JITBOT_LOG_LEVEL": "info",
		"JITBOT_LEADER_LEASE": lease.String(), "JITBOT_RECONCILE_INTERVAL": "0",
		"SLACK_BOT_TOKEN": x.srv.BotToken(), "SLACK_APP_TOKEN": x.srv.AppToken(), "SLACK_API_URL": x.srv.APIURL(),
		// One connection each, so that a connection names its replica.
		"JITBOT_SOCKET_CONNECTIONS": "1",
	} {
		x.env[k] = v
	}
	// The schema is made before the replicas start, so that they do not
	// race to create it in the test's first second.
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	x.db = db
	return x
}

// start starts both replicas, a first so that it leads, and waits until
// both are connected to Slack.
func (x *twoReplicas) start(t *testing.T) (a, b *replica) {
	t.Helper()
	a = startReplica(t, "A", x.env)
	waitFor(t, 30*time.Second, "replica A to lead", func() bool { return x.leader(t) == a.id() })
	b = startReplica(t, "B", x.env)
	if !x.srv.WaitConnections(2, 30*time.Second) {
		t.Fatal("the replicas did not both connect to Slack")
	}
	waitFor(t, 30*time.Second, "both replicas connected", func() bool { return x.srv.OpenConnections() == 2 })
	return a, b
}

// leader returns the holder of a running lease, "" if none.
func (x *twoReplicas) leader(t *testing.T) string {
	holder, _, running, err := x.db.Leader(context.Background(), "engine")
	if err != nil {
		t.Fatal(err)
	}
	if !running {
		return ""
	}
	return holder
}

// requests returns every request, newest first.
func (x *twoReplicas) requests(t *testing.T) []*approvals.Request {
	t.Helper()
	var rs []*approvals.Request
	must(t, x.db.View(context.Background(), func(tx approvals.Tx) error {
		var err error
		rs, err = tx.ListRequests(approvals.RequestFilter{})
		return err
	}))
	return rs
}

// file has every requester ask for the wiki for d, through Slack: the
// slash commands are spread over both replicas.
func (x *twoReplicas) file(t *testing.T, d time.Duration) map[string]*approvals.Request {
	t.Helper()
	var wg sync.WaitGroup
	for _, u := range x.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := x.srv.SlashCommand(u.ID, "C0GENERAL", "/access", "wiki "+d.String()+" release notes"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	byEmail := map[string]*approvals.Request{}
	waitFor(t, 30*time.Second, "every request filed", func() bool {
		for _, r := range x.requests(t) {
			byEmail[r.Requester] = r
		}
		return len(byEmail) == len(x.users)
	})
	return byEmail
}

// cards waits for a message to bob with an Approve button of every
// request: a card of its own (action "approve", the request id as its
// value) or a row of a page that lists several ("approve.ID").
func (x *twoReplicas) cards(t *testing.T, rs map[string]*approvals.Request) map[string]card {
	t.Helper()
	out := map[string]card{}
	ids := map[string]bool{}
	for _, r := range rs {
		ids[r.ID] = true
	}
	waitFor(t, 60*time.Second, "bob's card for every request", func() bool {
		for _, m := range x.srv.DMsTo("U0BOB") {
			for _, b := range approveButtons(m) {
				if ids[b.value] {
					out[b.value] = card{m: m, action: b.action}
				}
			}
		}
		return len(out) == len(rs)
	}, func() string {
		msgs := x.srv.DMsTo("U0BOB")
		nb := 0
		for _, m := range msgs {
			nb += len(approveButtons(m))
		}
		return fmt.Sprintf("%d of %d requests have a button (%d messages to bob, %d buttons)", len(out), len(rs), len(msgs), nb)
	})
	return out
}

// card is where bob approves one request: a message and the action id.
type card struct {
	m      localslack.Message
	action string
}

type button struct{ action, value string }

// approveButtons returns the Approve buttons of a message.
func approveButtons(m localslack.Message) []button {
	var walk func(v any, out *[]button)
	walk = func(v any, out *[]button) {
		switch v := v.(type) {
		case map[string]any:
			if id, _ := v["action_id"].(string); v["type"] == "button" && (id == "approve" || strings.HasPrefix(id, "approve.")) {
				val, _ := v["value"].(string)
				*out = append(*out, button{action: id, value: val})
			}
			for _, e := range v {
				walk(e, out)
			}
		case []any:
			for _, e := range v {
				walk(e, out)
			}
		}
	}
	var blocks any
	_ = json.Unmarshal(m.Blocks, &blocks)
	var out []button
	walk(blocks, &out)
	return out
}

// approve clicks bob's Approve button of request id.
func (x *twoReplicas) approve(t *testing.T, id string, c card) localslack.Ack {
	t.Helper()
	ack, err := x.srv.ClickButton("U0BOB", c.m.Channel, c.m.TS, c.action)
	if err != nil {
		t.Fatalf("approve %s: %v", approvals.Short(id), err)
	}
	return ack
}

// The failover: two `jitbot run` processes on one PostgreSQL
// schema with the local Slack and Jira; grants approved through either
// replica; the leader killed with SIGKILL just before the first grant
// expires; the other replica takes the lease over and revokes every grant
// within the lease plus one second of its deadline; no membership added or
// removed twice; the audit chain verifies. The leader change is read from
// the leader row, from both replicas' logs, and from both replicas'
// /metrics (jitbot_leader).
func TestFailover_LeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("the failover test runs two processes for half a minute")
	}
	const (
		n     = 8
		lease = 3 * time.Second
		dur   = 12 * time.Second
	)
	x := newTwoReplicas(t, n, lease)
	a, b := x.start(t)

	rs := x.file(t, dur)
	cards := x.cards(t, rs)
	conns := map[int]int{} // acks of approve clicks by connection
	for id, m := range cards {
		conns[x.approve(t, id, m).Conn]++
	}
	if len(conns) != 2 {
		t.Errorf("approve clicks by connection: %v, want both replicas to have taken some", conns)
	}
	var active []*approvals.Request
	waitFor(t, 30*time.Second, "every grant provisioned and active", func() bool {
		active = active[:0]
		for _, r := range x.requests(t) {
			if r.State == approvals.StateActive {
				active = append(active, r)
			}
		}
		return len(active) == n
	})
	first := active[0].EndsAt
	for _, r := range active {
		if r.EndsAt.Before(first) {
			first = r.EndsAt
		}
		if !x.jira.IsMember("wiki", r.Requester) {
			t.Fatalf("%s is active but not in the group", r.Requester)
		}
	}
	if wait := time.Until(first.Add(-time.Second)); wait > 0 {
		time.Sleep(wait)
	} else {
		t.Fatalf("the grants were active too late to kill the leader before the first deadline (%s ago)", -wait)
	}

	if got := x.leader(t); got != a.id() {
		t.Fatalf("leader before the kill: got %q, want A (%s)", got, a.id())
	}
	if ga, gb := a.leaderGauge(t), b.leaderGauge(t); ga != "1" || gb != "0" {
		t.Errorf("jitbot_leader before the kill: A %s, B %s; want 1 and 0", ga, gb)
	}
	killed := time.Now()
	must(t, a.cmd.Process.Signal(syscall.SIGKILL))
	<-a.done

	waitFor(t, lease+5*time.Second, "B to take the lease over", func() bool { return x.leader(t) == b.id() })
	tookOver := time.Since(killed)
	waitFor(t, 2*time.Second, "B's /metrics to show it leads", func() bool { return b.leaderGauge(t) == "1" })
	waitFor(t, dur+lease+10*time.Second, "every grant revoked", func() bool {
		for _, r := range x.requests(t) {
			if r.State != approvals.StateExpired {
				return false
			}
		}
		for _, r := range active {
			if x.jira.IsMember("wiki", r.Requester) {
				return false
			}
		}
		return true
	})

	removed := map[string]time.Time{}
	adds, removes := map[string]int{}, map[string]int{}
	for _, c := range x.jira.Changes() {
		switch c.Op {
		case "add":
			adds[c.Email]++
		case "remove":
			removes[c.Email]++
			removed[c.Email] = c.Wall
		}
	}
	var worst time.Duration
	for _, r := range active {
		if adds[r.Requester] != 1 || removes[r.Requester] != 1 {
			t.Errorf("%s: added %d times and removed %d times, want once each", r.Requester, adds[r.Requester], removes[r.Requester])
		}
		late := removed[r.Requester].Sub(r.EndsAt)
		worst = max(worst, late)
		if late > lease+time.Second {
			t.Errorf("%s: removed %s after its deadline, want within the lease (%s) plus 1s", r.Requester, late.Round(time.Millisecond), lease)
		}
	}
	t.Logf("leader A killed %s before the first deadline; B led %s later; the latest removal came %s after its deadline",
		first.Sub(killed).Round(time.Millisecond), tookOver.Round(time.Millisecond), worst.Round(time.Millisecond))

	// The logs tell the same story: A led and never said it stopped (it
	// was killed); B led after it.
	if len(a.logged("leader: this replica leads")) != 1 || len(a.logged("leader: this replica no longer leads")) != 0 {
		t.Errorf("A's logs: %d times leader, %d times stepped down; want 1 and 0", len(a.logged("leader: this replica leads")), len(a.logged("leader: this replica no longer leads")))
	}
	bl := b.logged("leader: this replica leads")
	if len(bl) != 1 || bl[0]["replica"] != b.id() || bl[0]["term"].(float64) != 2 {
		t.Errorf("B's logs: leader entries %v, want one, term 2", bl)
	}
	if _, term, _, _ := x.db.Leader(context.Background(), "engine"); term != 2 {
		t.Errorf("leader term: got %d, want 2", term)
	}

	if code, out, errOut := runCLI(t, map[string]string{"JITBOT_DB": x.url}, "audit", "verify"); code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("audit verify: exit %d %s%s", code, out, errOut)
	}
	must(t, b.cmd.Process.Signal(syscall.SIGTERM))
	if err := <-b.done; err != nil {
		t.Errorf("B after SIGTERM: %v", err)
	}
	if got := x.leader(t); got != "" {
		t.Errorf("after B stopped cleanly the lease is still held by %q", got)
	}
}

// 200 clicks spread over two replicas make exactly one decision each: 100
// requests to one approver, each of whose Approve buttons is clicked twice
// at the same instant (a double click), 100 such pairs over four seconds;
// the local Slack hands the
// envelopes to the two replicas' connections in turn, so both replicas
// take half the clicks and most double clicks reach both. Each request
// ends with one decision, one approval event and one membership added.
func TestReplicas_200ClicksOneDecisionEach(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two processes")
	}
	const n = 100
	x := newTwoReplicas(t, n, 3*time.Second)
	x.start(t)
	rs := x.file(t, time.Hour)
	cards := x.cards(t, rs)

	var (
		mu        sync.Mutex
		delivered int
		conns     = map[int]int{}
		wg        sync.WaitGroup
		gate      = make(chan struct{})
	)
	i := 0
	for id, c := range cards {
		// The double clicks come 40 ms apart, over four seconds in all;
		// the two clicks of one pair at the same instant.
		at := time.Duration(i) * 40 * time.Millisecond
		i++
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				time.Sleep(at)
				ack, err := x.srv.ClickButton("U0BOB", c.m.Channel, c.m.TS, c.action)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					// The card was already updated (its buttons gone): the
					// second click never left Slack.
					t.Logf("click on %s not delivered: %v", approvals.Short(id), err)
					return
				}
				delivered++
				conns[ack.Conn]++
			}()
		}
	}
	// Slack holds back message updates while the clicks land (429 with
	// Retry-After), so that every click finds the button it clicks, as
	// two clicks of one person a moment apart do; the bot sends the
	// updates when it may.
	x.srv.RateLimitFor(time.Minute, 1, "chat.update")
	close(gate)
	wg.Wait()
	x.srv.Heal()
	t.Logf("%d of %d clicks delivered, by connection %v", delivered, 2*n, conns)
	if delivered != 2*n || len(conns) != 2 {
		t.Fatalf("delivered %d of %d clicks over %d connections; want all, over both replicas", delivered, 2*n, len(conns))
	}
	waitFor(t, 60*time.Second, "every request active", func() bool {
		for _, r := range x.requests(t) {
			if r.State != approvals.StateActive {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	approvalsRecorded := map[string]int{}
	must(t, x.db.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if e.Action == approvals.ActionApprovalRecorded {
			approvalsRecorded[e.RequestID]++
		}
		return nil
	}))
	for _, r := range rs {
		var ds []*approvals.Decision
		must(t, x.db.View(ctx, func(tx approvals.Tx) error {
			var err error
			ds, err = tx.Decisions(r.ID)
			return err
		}))
		if len(ds) != 1 || !ds[0].Approve || ds[0].Approver != "bob@example.com" || approvalsRecorded[r.ID] != 1 {
			t.Errorf("request %s: %d decisions, %d approval events; want exactly one of each", approvals.Short(r.ID), len(ds), approvalsRecorded[r.ID])
		}
	}
	adds := map[string]int{}
	for _, c := range x.jira.Changes() {
		if c.Op == "add" {
			adds[c.Email]++
		}
	}
	for _, u := range x.users {
		if adds[u.Email] != 1 {
			t.Errorf("%s added %d times, want once", u.Email, adds[u.Email])
		}
	}
	if code, out, errOut := runCLI(t, map[string]string{"JITBOT_DB": x.url}, "audit", "verify"); code != exitOK {
		t.Fatalf("audit verify: exit %d %s%s", code, out, errOut)
	}
}
