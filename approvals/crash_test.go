package approvals_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// crashService builds a service on the database at path whose dry-run
// provider keeps its memberships in that database, so they outlive a kill.
func crashService(t testing.TB, path string, now time.Time, hooks *approvals.Hooks) (*approvals.Service, *store.DB) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(now)
	db, err := store.Open(context.Background(), path, store.Options{Now: clock.Now, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policies.Parse("policy.yaml", []byte(testPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	dry := provisioner.NewDryRun(db, nil)
	return approvals.New(approvals.Config{Store: db, Policy: p, Clock: clock, Hooks: hooks,
		Providers: map[string]approvals.Provisioner{"jira": dry, "dryrun": dry}}), db
}

// TestCrashChild is the child process of TestCrash: it runs only when
// TestCrash starts it, does one step, says READY at the crash point and
// waits to be killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("JITBOT_CRASH_DB")
	if path == "" {
		t.Skip("child process of TestCrash; runs only when started by it")
	}
	nowMS, _ := strconv.ParseInt(os.Getenv("JITBOT_CRASH_NOW"), 10, 64)
	ready := func(*approvals.Grant) {
		os.Stdout.WriteString("READY\n")
		time.Sleep(time.Hour) // wait for SIGKILL
	}
	hooks := &approvals.Hooks{}
	mode := os.Getenv("JITBOT_CRASH_MODE")
	switch mode {
	case "after-add":
		hooks.AfterProviderAdd = ready
	case "after-remove":
		hooks.AfterProviderRemove = ready
	}
	svc, _ := crashService(t, path, time.UnixMilli(nowMS), hooks)
	ctx := context.Background()
	switch mode {
	case "after-approve", "after-add":
		if _, err := svc.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour, Reason: "crash test"}); err != nil {
			t.Fatal(err)
		}
		if mode == "after-approve" {
			ready(nil)
		}
		svc.RunJobs(ctx)
	case "after-expire":
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		ready(nil)
	case "after-remove":
		svc.Recover(ctx)
	}
	t.Fatal("the crash point was never reached")
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tests := []struct {
		mode        string
		activeFirst bool // the grant is provisioned before the child starts
		childNow    time.Duration
		wantState   approvals.State
		wantAdds    int
		wantRemoves int
	}{
		{mode: "after-approve", wantState: approvals.StateActive, wantAdds: 1},
		{mode: "after-add", wantState: approvals.StateActive, wantAdds: 1},
		{mode: "after-expire", activeFirst: true, childNow: 3 * time.Hour, wantState: approvals.StateExpired, wantAdds: 1, wantRemoves: 1},
		{mode: "after-remove", activeFirst: true, childNow: 3 * time.Hour, wantState: approvals.StateExpired, wantAdds: 1, wantRemoves: 1},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "jitbot.db")
			ctx := context.Background()
			if tt.activeFirst {
				svc, db := crashService(t, path, t0, nil)
				if _, err := svc.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour, Reason: "crash test"}); err != nil {
					t.Fatal(err)
				}
				if err := svc.Recover(ctx); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			now := t0.Add(tt.childNow)
			runChildUntilKilled(t, path, tt.mode, now)

			svc, db := crashService(t, path, now, nil)
			defer db.Close()
			if err := svc.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			rs, err := svc.List(ctx, approvals.RequestFilter{})
			if err != nil || len(rs) != 1 {
				t.Fatalf("requests: got %d (%v), want 1", len(rs), err)
			}
			wantState(t, rs[0], tt.wantState)
			adds, removes, err := db.DryRunOps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if adds != tt.wantAdds || removes != tt.wantRemoves {
				t.Errorf("membership changes: got %d adds %d removes, want %d and %d", adds, removes, tt.wantAdds, tt.wantRemoves)
			}
			var pending int
			db.ReadDB().QueryRow(`SELECT count(*) FROM jobs WHERE state='pending'`).Scan(&pending)
			if pending != 0 {
				t.Errorf("jobs left pending after recovery: %d", pending)
			}
			if next, ok, _ := svc.NextDeadline(ctx); ok && !next.After(now) {
				t.Errorf("a deadline is left past due: %s", next)
			}
		})
	}
}

// runChildUntilKilled starts this test binary as TestCrashChild, waits for
// it to reach its crash point, and kills it with SIGKILL.
func runChildUntilKilled(t *testing.T, path, mode string, now time.Time) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "JITBOT_CRASH_DB="+path, "JITBOT_CRASH_MODE="+mode,
		"JITBOT_CRASH_NOW="+strconv.FormatInt(now.UnixMilli(), 10))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	var seen []string
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("child exited before its crash point:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			ready = l == "READY"
		case <-timeout:
			cmd.Process.Kill()
			t.Fatal("child never reached its crash point")
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no clean close
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed by a signal: %v", err)
	}
	go func() {
		for range lines {
		}
	}()
}
