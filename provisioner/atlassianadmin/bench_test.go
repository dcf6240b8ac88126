package atlassianadmin_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/atlassianadmin"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

func envList(name, def string) []float64 {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []float64
	for _, s := range strings.Split(v, ",") {
		if r, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && r > 0 {
			out = append(out, r)
		}
	}
	return out
}

func envString(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// vmHWM reads the process's peak resident set size (VmHWM), in MiB, from
// /proc/self/status; 0 where there is none.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// resetHWM sets VmHWM back to the current RSS (Linux: clear_refs 5), so
// each run reports its own peak.
func resetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkEachUser100kAtRateLimit pages through every user of a directory
// of 100,000 (JITBOT_BENCH_USERS) with their product activity, 100 a page,
// against a fake Admin API that allows R requests per second (a token
// bucket of JITBOT_BENCH_FAKE_BURST tokens, default one second's worth)
// and answers 429 with X-RateLimit-Reset beyond it. R runs through
// JITBOT_BENCH_RATES (default 20,50,100), each in the modes of
// JITBOT_BENCH_MODES (default learnt):
//   - learnt: the defaults a new user has: the client learns the pace
//     from the API's answers;
//   - ceiling: ATLASSIAN_RATE=R, a setting a new user would not know;
//   - headers: no pacing at all, only the pauses the 429s ask for.
//
// Reported: pages (requests answered 200) per second between the first
// and the last page, that as a fraction of R, wall time from the first
// request to the last user, the 429s, the peak RSS of the whole test
// process (VmHWM; the fake and its 100,000 users live in it too) and, to
// tell the client's share, the fake's RSS before paging and the live Go
// heap half-way (runtime.MemStats.HeapAlloc right after a forced GC at
// page 500, less the same before paging): what paging holds, as opposed
// to garbage the collector has not reclaimed yet.
func BenchmarkEachUser100kAtRateLimit(b *testing.B) {
	n := envInt("JITBOT_BENCH_USERS", 100_000)
	burst := envInt("JITBOT_BENCH_FAKE_BURST", 0) // 0: the fake's default, R
	for _, r := range envList("JITBOT_BENCH_RATES", "20,50,100") {
		for _, mode := range strings.Split(envString("JITBOT_BENCH_MODES", "learnt"), ",") {
			b.Run(fmt.Sprintf("R=%g/%s", r, mode), func(b *testing.B) {
				for range b.N {
					benchEachUser(b, n, r, burst, mode)
				}
			})
		}
	}
}

func benchEachUser(b *testing.B, n int, r float64, burst int, mode string) {
	b.StopTimer()
	f := atlassianfake.New(b, atlassianfake.Options{})
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.AddUsers(n, func(i int, u *atlassianfake.User) {
		u.Products = []atlassianfake.Product{{Key: "jira-software", LastActive: since.Add(time.Duration(i) * time.Minute)}, {Key: "confluence"}}
	})
	o := f.Options()
	tr := atlassian.Options{HTTPClient: f.Client()}
	switch mode {
	case "learnt":
	case "ceiling":
		tr.Rate = r
	case "headers":
		tr.Rate = -1
	default:
		b.Fatalf("JITBOT_BENCH_MODES: %q is not learnt, ceiling or headers", mode)
	}
	p, err := atlassianadmin.New(atlassianadmin.Config{APIURL: f.URL(), OrgID: o.OrgID, APIKey: atlassian.Secret(o.APIKey), Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	f.SetFaults(atlassianfake.Faults{RateLimit: r, RateBurst: burst})
	time.Sleep(time.Second) // the fake's bucket fills, as after a quiet second
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseLive := float64(ms.HeapAlloc) / (1 << 20)
	resetHWM()
	baseRSS := vmHWM()

	b.StartTimer()
	start := time.Now()
	var first, last time.Time
	users, pages, used := 0, 0, 0
	midLive := baseLive
	err = p.EachUser(ctx, atlassianadmin.UserQuery{Products: true}, func(u atlassianadmin.User) error {
		if users%100 == 0 { // the first user of a page
			last = time.Now()
			if pages == 0 {
				first = last
			}
			pages++
			if pages == 500 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				midLive = float64(ms.HeapAlloc) / (1 << 20)
			}
		}
		users++
		if len(u.Products) == 2 && !u.Products[0].LastActive.IsZero() && u.Products[1].LastActive.IsZero() {
			used++
		}
		return nil
	})
	wall := time.Since(start)
	b.StopTimer()
	if err != nil || users != n || used != n {
		b.Fatalf("read %d users (%d with the products right) of %d: %v", users, used, n, err)
	}
	perSec := float64(pages-1) / last.Sub(first).Seconds()
	throttled, limited := f.Throttled()
	b.ReportMetric(perSec, "pages/s")
	b.ReportMetric(perSec/r, "fraction_of_R")
	b.ReportMetric(wall.Seconds(), "s_wall")
	b.ReportMetric(float64(throttled), "429s")
	b.ReportMetric(vmHWM(), "MiB_peak_RSS")
	b.ReportMetric(baseRSS, "MiB_RSS_before")
	b.ReportMetric(midLive-baseLive, "MiB_live_heap_growth")
	b.Logf("R=%g/s %s, fake burst %d: %d users in %d pages, %.2f pages/s (%.3f R), wall %s, 429s %d (rate limit %d), "+
		"VmHWM %.0f MiB (%.0f MiB before paging), live heap %.1f MiB before paging, %.1f MiB half-way, client %+v",
		r, mode, burst, users, pages, perSec, perSec/r, wall.Round(time.Millisecond), throttled, limited,
		vmHWM(), baseRSS, baseLive, midLive, p.Client().Stats())
}
