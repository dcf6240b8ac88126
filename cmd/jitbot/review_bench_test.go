package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/store"
)

// TestSyncBenchChild is the child of BenchmarkActivitySync100k: it runs
// `jitbot activity sync` against the parent's fake and prints the process's
// peak RSS.
func TestSyncBenchChild(t *testing.T) {
	if os.Getenv("JITBOT_SYNC_BENCH_URL") == "" {
		t.Skip("child process of BenchmarkActivitySync100k")
	}
	env := map[string]string{}
	for _, k := range []string{"JITBOT_POLICY", "JITBOT_DB", "ATLASSIAN_ORG_ID", "ATLASSIAN_ADMIN_API_KEY", "ATLASSIAN_DIRECTORY_ID", "ATLASSIAN_RATE"} {
		env[k] = os.Getenv(k)
	}
	env["ATLASSIAN_API_URL"] = os.Getenv("JITBOT_SYNC_BENCH_URL")
	var out, errb bytes.Buffer
	start := time.Now()
	code := Run(context.Background(), []string{"activity", "sync"}, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	if code != 0 {
		t.Fatalf("activity sync: exit %d\n%s%s", code, out.String(), errb.String())
	}
	fmt.Printf("RESULT sync_ms=%d vmhwm_kb=%d\n%s", time.Since(start).Milliseconds(), vmHWMKB(), out.String())
}

func vmHWMKB() int {
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

// BenchmarkActivitySync100k: `jitbot activity sync` of a directory of
// 100,000 users (two products each) from the local Admin API limited to R
// requests a second (JITBOT_BENCH_RATE, default 50), pages of 100, into a
// fresh database, with the settings a new user has: the pace is learnt from
// the API's answers (JITBOT_BENCH_CEILING=1 sets ATLASSIAN_RATE=R as well). The sync runs in a child
// process, so its peak RSS (VmHWM) is its own, not the fake's.
//
//	go test -run '^$' -bench BenchmarkActivitySync100k -benchtime 1x -timeout 30m ./cmd/jitbot/
func BenchmarkActivitySync100k(b *testing.B) {
	rate := 50.0
	if v, err := strconv.ParseFloat(os.Getenv("JITBOT_BENCH_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	const n = 100_000
	fake := atlassianfake.New(b, atlassianfake.Options{})
	now := time.Now()
	fake.AddUsers(n, func(i int, u *atlassianfake.User) {
		u.AddedToOrg = now.Add(-500 * 24 * time.Hour)
		u.Department = fmt.Sprintf("Dept %d", i%50)
		u.Products = []atlassianfake.Product{{Key: "jira-software", LastActive: now.Add(-time.Duration(i%90) * 24 * time.Hour)}, {Key: "confluence"}}
	})
	fake.SetFaults(atlassianfake.Faults{RateLimit: rate})
	o := fake.Options()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		pol := filepath.Join(dir, "policy.yaml")
		os.WriteFile(pol, []byte("directory: {people: []}\nresources: [{id: r, provider: dryrun, group: g}]\nrules: [{name: all, then: {auto_approve: true}}]\n"), 0o600)
		db, err := store.Open(context.Background(), filepath.Join(dir, "jitbot.db"), store.Options{}) // as jitbot run would
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSyncBenchChild$", "-test.v")
		cmd.Env = append(os.Environ(), "JITBOT_SYNC_BENCH_URL="+fake.URL(), "JITBOT_POLICY="+pol, "JITBOT_DB="+filepath.Join(dir, "jitbot.db"),
			"ATLASSIAN_ORG_ID="+o.OrgID, "ATLASSIAN_ADMIN_API_KEY="+o.APIKey, "ATLASSIAN_DIRECTORY_ID="+o.Directory)
		if os.Getenv("JITBOT_BENCH_CEILING") == "1" {
			cmd.Env = append(cmd.Env, "ATLASSIAN_RATE="+strconv.FormatFloat(rate, 'f', -1, 64))
		}
		before := fake.Requests()
		_, throttledBefore := fake.Throttled()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var syncMS, rss float64
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					f, _ := strconv.ParseFloat(v, 64)
					switch k {
					case "sync_ms":
						syncMS = f
					case "vmhwm_kb":
						rss = f
					}
				}
			}
		}
		if !strings.Contains(string(out), "synced 100000 users in 1000 pages") {
			b.Fatalf("child output:\n%s", out)
		}
		reqs := float64(fake.Requests() - before)
		_, throttled := fake.Throttled()
		b.ReportMetric(syncMS/1000, "sync-s")
		b.ReportMetric(reqs/(syncMS/1000), "requests/s")
		b.ReportMetric(reqs/(syncMS/1000)/rate, "fraction-of-R")
		b.ReportMetric(float64(throttled-throttledBefore), "429s")
		b.ReportMetric(rss/1024, "peak-RSS-MiB")
	}
}
