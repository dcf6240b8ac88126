package idp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/entra"
	"github.com/jitbot/jitbot/provisioner/google"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
	"github.com/jitbot/jitbot/provisioner/okta"
	"github.com/jitbot/jitbot/store"
)

// TestMain serves a fake IdP in a child process for the benchmark, so
// that the benchmark's peak RSS is the client's alone.
func TestMain(m *testing.M) {
	if kind := os.Getenv("IDPFAKE_SERVE"); kind != "" {
		serveFake(kind)
		return
	}
	os.Exit(m.Run())
}

// fakeInfo is what the child tells the parent: where the fake is and the
// credentials it accepts.
type fakeInfo struct {
	URL, Token, Tenant, ClientID, Secret, Subject string
	ServiceAccount                                []byte
}

// serveFake starts the fake of kind with IDPFAKE_PEOPLE people (managers
// named by id, Google's by email) and IDPFAKE_RATE requests a second (a
// second's worth of burst: the IdPs count per window), prints a fakeInfo
// line, serves until its standard input closes, then prints how many
// answers the rate limit throttled.
func serveFake(kind string) {
	n, _ := strconv.Atoi(os.Getenv("IDPFAKE_PEOPLE"))
	r, _ := strconv.ParseFloat(os.Getenv("IDPFAKE_RATE"), 64)
	var (
		f    idptest.Fake
		info fakeInfo
		err  error
	)
	ref := func(i int) string { return idptest.ID(i - 1) }
	switch kind {
	case "okta":
		var o *idpfake.Okta
		o, err = idpfake.StartOkta(idpfake.Options{})
		if err == nil {
			f, info = o, fakeInfo{URL: o.URL(), Token: o.Token()}
		}
	case "entra":
		var e *idpfake.Entra
		e, err = idpfake.StartEntra(idpfake.Options{})
		if err == nil {
			f, info = e, fakeInfo{URL: e.URL(), Tenant: e.Tenant(), ClientID: e.ClientID(), Secret: e.ClientSecret()}
		}
	case "google":
		var g *idpfake.Google
		g, err = idpfake.StartGoogle(idpfake.Options{})
		if err == nil {
			f, info = g, fakeInfo{URL: g.URL(), Subject: g.Subject(), ServiceAccount: g.ServiceAccountJSON()}
			ref = func(i int) string { return idptest.Email(i - 1) }
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	idptest.Fill(f, n, ref)
	f.SetRateLimit(r, int(r))
	b, _ := json.Marshal(info)
	fmt.Println(string(b))
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Println(f.Throttled())
}

// benchPeople is the size of the directory synced (JITBOT_BENCH_PEOPLE
// overrides it, for a quick run).
func benchPeople() int {
	if n, err := strconv.Atoi(os.Getenv("JITBOT_BENCH_PEOPLE")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkDirectorySync syncs 100,000 people from each local IdP, served
// by a child process at the IdP's rate limit, with the defaults a new user
// has (no rate set: the pace is learnt from the IdP's answers), into a
// SQLite store. It reports the listing's time over the rate limit's own
// floor (the pages beyond the first second's burst, at the rate), the
// whole sync's time (listing, merge, manager resolution, the store's
// write) and this process's peak RSS (the fake runs in the child).
//
//	go test -run '^$' -bench DirectorySync -benchtime 1x ./provisioner/idp/
func BenchmarkDirectorySync(b *testing.B) {
	n := benchPeople()
	cases := []struct {
		name    string
		perPage int
		rate    float64 // requests a second the fake allows
		source  func(b *testing.B, in fakeInfo) directory.Source
	}{
		{"okta", 200, 50, func(b *testing.B, in fakeInfo) directory.Source {
			p, err := okta.New(okta.Config{URL: in.URL, Token: atlassian.Secret(in.Token)})
			must(b, err)
			return p
		}},
		{"entra", 999, 10, func(b *testing.B, in fakeInfo) directory.Source {
			p, err := entra.New(entra.Config{Tenant: in.Tenant, ClientID: in.ClientID, ClientSecret: atlassian.Secret(in.Secret),
				Authority: in.URL, GraphURL: in.URL})
			must(b, err)
			return p
		}},
		{"google", 500, 20, func(b *testing.B, in fakeInfo) directory.Source {
			p, err := google.New(google.Config{Credentials: in.ServiceAccount, Subject: in.Subject, APIURL: in.URL})
			must(b, err)
			return p
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
				cmd.Env = append(os.Environ(), "IDPFAKE_SERVE="+c.name, "IDPFAKE_PEOPLE="+strconv.Itoa(n), "IDPFAKE_RATE="+strconv.FormatFloat(c.rate, 'f', -1, 64))
				stdin, _ := cmd.StdinPipe()
				stdout, _ := cmd.StdoutPipe()
				cmd.Stderr = os.Stderr
				must(b, cmd.Start())
				out := bufio.NewScanner(stdout)
				out.Buffer(make([]byte, 1<<20), 1<<20)
				var in fakeInfo
				if !out.Scan() || json.Unmarshal(out.Bytes(), &in) != nil {
					b.Fatalf("the fake did not start: %q", out.Text())
				}
				db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "j.db"), store.Options{})
				must(b, err)
				var last time.Time
				s := &directory.Syncer{Sources: []directory.Source{c.source(b, in)}, Store: db, MaxDrop: 0.1,
					Values:   map[string]string{"Employee": "internal", "Contractor": "external"},
					Progress: func(string, int) { last = time.Now() }}
				runtime.GC()
				start := time.Now()
				res, err := s.Sync(context.Background())
				must(b, err)
				total := time.Since(start)
				stdin.Close()
				throttled := -1
				if out.Scan() {
					throttled, _ = strconv.Atoi(out.Text())
				}
				_ = cmd.Wait()
				db.Close()
				listing := last.Sub(start)
				pages := int(math.Ceil(float64(n) / float64(c.perPage)))
				floor := time.Duration(float64(max(pages-int(c.rate), 0)) / c.rate * float64(time.Second))
				if len(res.People) != n {
					b.Fatalf("got %d people, want %d", len(res.People), n)
				}
				over := 100 * (listing.Seconds()/floor.Seconds() - 1)
				b.ReportMetric(listing.Seconds(), "listing-s")
				b.ReportMetric(floor.Seconds(), "floor-s")
				b.ReportMetric(over, "%over-floor")
				b.ReportMetric(total.Seconds(), "sync-s")
				b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
				b.ReportMetric(float64(throttled), "429s")
				b.Logf("%s: %d people in %d pages at %.0f req/s: listing %.2fs, floor %.2fs (%+.1f%%), whole sync %.2fs, %d answers throttled, peak RSS %d MB",
					c.name, n, pages, c.rate, listing.Seconds(), floor.Seconds(), over, total.Seconds(), throttled, peakRSS()>>20)
			}
		})
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// peakRSS reads the process's peak resident set (VmHWM), in bytes.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
