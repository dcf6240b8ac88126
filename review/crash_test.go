package review_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// TestCrashChild is the child of TestRunReview_KilledMidRunResumes: it
// runs the review until the first batch is committed, says READY and
// waits to be killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("JITBOT_REVIEW_CRASH_DB")
	if path == "" {
		t.Skip("child process of TestRunReview_KilledMidRunResumes")
	}
	nowMS, _ := strconv.ParseInt(os.Getenv("JITBOT_REVIEW_CRASH_NOW"), 10, 64)
	p, err := policies.Parse("policy.yaml", []byte(testPeople+suspendNow), nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := review.New(review.Config{Store: db, Policy: p, Clock: clockwork.NewFakeClockAt(time.UnixMilli(nowMS)),
		Hooks: &review.Hooks{AfterBatch: func(string, int) {
			os.Stdout.WriteString("READY\n")
			time.Sleep(time.Hour) // wait for SIGKILL
		}}})
	rule, _ := p.Review.Rule("everyone")
	eng.RunReview(context.Background(), rule, review.RunOptions{})
	t.Fatal("the crash point was never reached")
}

// TestRunReview_KilledMidRunResumes kills a process between two batches of
// a run's first pass (SIGKILL: no deferred cleanup runs), then reopens the
// database as a restart does: the run resumes once, every person gets one
// item and one suspension.
func TestRunReview_KilledMidRunResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	if onPostgres() {
		t.Skip("the child process opens a SQLite file")
	}
	e := newEnv(t, suspendNow)
	e.org.pageSize = 100
	const n = 1100
	for i := 0; i < n; i++ {
		e.org.put(review.DirectoryUser{Email: fmt.Sprintf("u%04d@example.com", i), AddedToOrg: ago(100 * day)})
	}
	e.sync()
	e.db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "JITBOT_REVIEW_CRASH_DB="+e.path, "JITBOT_REVIEW_CRASH_NOW="+strconv.FormatInt(e.clock.Now().UnixMilli(), 10))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "READY") {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("the child ended before the crash point")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child never reached the crash point")
	}
	cmd.Process.Kill()
	cmd.Wait()

	e.clock.Advance(time.Second) // a restart takes a moment
	e.open()
	ctx := context.Background()
	runs, _ := e.eng.Runs(ctx, review.RunFilter{})
	if len(runs) != 1 || runs[0].State != review.RunRunning {
		t.Fatalf("after the kill: %d runs, want one still running", len(runs))
	}
	if got := len(e.items(runs[0].ID)); got != 500 {
		t.Fatalf("items committed before the kill: got %d, want one batch (500)", got)
	}
	if err := e.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs, _ = e.eng.Runs(ctx, review.RunFilter{})
	if len(runs) != 1 || runs[0].State != review.RunOpen {
		t.Fatalf("after the restart: %d runs, first %s; want the one run, open", len(runs), runs[0].State)
	}
	if got := len(e.jobs(review.JobSuspend)); got != n {
		t.Errorf("suspension jobs: got %d, want %d", got, n)
	}
	e.drain()
	for i := 0; i < n; i++ {
		if c := e.org.suspendCalls(fmt.Sprintf("acc-u%04d", i)); c != 1 {
			t.Fatalf("u%04d: suspended %d times, want 1", i, c)
		}
	}
}
