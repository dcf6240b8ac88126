package review_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// benchUsers is the size of the benchmark's directory.
const benchUsers = 100_000

// benchPolicy covers everyone with one rule of the given action; its
// directory (a CSV of 100,000 people, 1,000 managers) gives everyone a manager.
func benchPolicy(dir, action string) string {
	return fmt.Sprintf(`directory: {file: people.csv}
resources:
  - {id: r, provider: dryrun, group: g}
rules:
  - {name: all, then: {auto_approve: true}}
reviews:
  - {name: everyone, inactive_for: 30d, schedule: "@daily", action: %s}
`, action)
}

// seedBench writes a database of benchUsers users, a fifth of them
// inactive, and the policy's people file, into dir.
func seedBench(tb testing.TB, dir string) {
	tb.Helper()
	var csv strings.Builder
	csv.WriteString("email,department,manager,employment\n")
	for m := 0; m < 1000; m++ {
		fmt.Fprintf(&csv, "m%04d@example.com,Dept %d,,internal\n", m, m%50)
	}
	for i := 0; i < benchUsers; i++ {
		fmt.Fprintf(&csv, "u%06d@example.com,Dept %d,m%04d@example.com,internal\n", i, i%50, i%1000)
	}
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "jitbot.db"), store.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	page := make([]review.DirectoryUser, 0, 1000)
	flush := func() {
		if err := db.UpdateReview(ctx, func(tx review.Tx) error { _, err := tx.PutUsers(page, t0); return err }); err != nil {
			tb.Fatal(err)
		}
		page = page[:0]
	}
	for i := 0; i < benchUsers; i++ {
		last := ago(time.Duration(i%10) * day) // active
		if i%5 == 0 {
			last = ago(time.Duration(31+i%300) * day) // inactive
		}
		page = append(page, review.DirectoryUser{AccountID: fmt.Sprintf("acc-%06d", i), Email: fmt.Sprintf("u%06d@example.com", i),
			Name: fmt.Sprintf("User %d", i), AccountType: "atlassian", AccountStatus: "active", MembershipStatus: "active",
			ManagementSource: "invited", Department: fmt.Sprintf("Dept %d", i%50), AddedToOrg: ago(500 * day),
			Products: []review.ProductActivity{used("jira-software", last), used("confluence", last.Add(-day))}})
		if len(page) == cap(page) {
			flush()
		}
	}
	flush()
}

// TestBenchReviewChild is the child process of BenchmarkRunReview100k: it
// runs one review over the prepared database and prints its time and the
// process's peak RSS (VmHWM from /proc/self/status).
func TestBenchReviewChild(t *testing.T) {
	dir := os.Getenv("JITBOT_BENCH_DIR")
	if dir == "" {
		t.Skip("child process of BenchmarkRunReview100k")
	}
	action := os.Getenv("JITBOT_BENCH_ACTION")
	start := time.Now()
	p, err := policies.Parse(filepath.Join(dir, "policy.yaml"), []byte(benchPolicy(dir, action)), nil)
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(start)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng := review.New(review.Config{Store: db, Policy: p, Clock: clockwork.NewFakeClockAt(t0)})
	rule, _ := p.Review.Rule("everyone")
	if path := os.Getenv("JITBOT_BENCH_CPUPROFILE"); path != "" {
		f, _ := os.Create(path)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start = time.Now()
	run, err := eng.RunReview(ctx, rule, review.RunOptions{})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("RESULT run_ms=%d policy_ms=%d items=%d covered=%d vmhwm_kb=%d\n", took.Milliseconds(), loaded.Milliseconds(),
		run.Counts.Items, run.Counts.Covered, vmHWM())
}

// vmHWM returns the process's peak resident set size in kB.
func vmHWM() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return -1
}

// BenchmarkRunReview100k: one review run over the stored data of 100,000
// users (a fifth inactive: 20,000 items), in a child process so that the
// peak RSS is the run's own (policy load included), not the seeding's.
//
//	go test -run '^$' -bench BenchmarkRunReview100k -benchtime 1x ./review/
func BenchmarkRunReview100k(b *testing.B) {
	for _, action := range []string{"report", "prompt_manager", "suspend"} {
		b.Run(action, func(b *testing.B) {
			base := b.TempDir()
			seedBench(b, base)
			b.ResetTimer()
			var runMS, rssKB, policyMS float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(base, strconv.Itoa(i))
				os.MkdirAll(dir, 0o700)
				for _, f := range []string{"jitbot.db", "people.csv"} {
					data, _ := os.ReadFile(filepath.Join(base, f))
					os.WriteFile(filepath.Join(dir, f), data, 0o600)
				}
				b.StartTimer()
				cmd := exec.Command(os.Args[0], "-test.run=^TestBenchReviewChild$", "-test.v")
				cmd.Env = append(os.Environ(), "JITBOT_BENCH_DIR="+dir, "JITBOT_BENCH_ACTION="+action)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				for _, line := range strings.Split(string(out), "\n") {
					if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
						for _, kv := range strings.Fields(rest) {
							k, v, _ := strings.Cut(kv, "=")
							n, _ := strconv.ParseFloat(v, 64)
							switch k {
							case "run_ms":
								runMS += n
							case "vmhwm_kb":
								rssKB = max(rssKB, n)
							case "policy_ms":
								policyMS += n
							case "items":
								if n != benchUsers/5+1000 { // and the 1,000 managers, in jitbot's directory only
									b.Fatalf("items: got %v, want %d", n, benchUsers/5+1000)
								}
							}
						}
					}
				}
			}
			b.ReportMetric(runMS/float64(b.N), "run-ms")
			b.ReportMetric(policyMS/float64(b.N), "policy-load-ms")
			b.ReportMetric(rssKB/1024, "peak-RSS-MiB")
		})
	}
}

// TestBenchSeed writes the benchmark's database into $JITBOT_BENCH_SEED,
// for profiling the child by hand:
//
//	JITBOT_BENCH_SEED=/tmp/b go test -run TestBenchSeed ./review/
//	JITBOT_BENCH_DIR=/tmp/b JITBOT_BENCH_ACTION=suspend JITBOT_BENCH_CPUPROFILE=cpu.out go test -run TestBenchReviewChild -v ./review/
func TestBenchSeed(t *testing.T) {
	dir := os.Getenv("JITBOT_BENCH_SEED")
	if dir == "" {
		t.Skip("set JITBOT_BENCH_SEED to a directory")
	}
	seedBench(t, dir)
}
