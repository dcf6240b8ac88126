package atlassian

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const testToken = Secret("tok-SECRET-7f3a9c")

// answer is one scripted reply of the test server.
type answer struct {
	status int
	header map[string]string
	body   string
	delay  time.Duration
}

type script struct {
	mu    sync.Mutex
	list  []answer
	calls atomic.Int64
	auth  []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	a := answer{status: 200, body: `{}`}
	if len(s.list) > 0 {
		a = s.list[0]
		if len(s.list) > 1 {
			s.list = s.list[1:]
		}
	}
	s.mu.Unlock()
	if a.delay > 0 {
		time.Sleep(a.delay)
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func newTest(t *testing.T, o Options, answers ...answer) (*Client, *script) {
	t.Helper()
	s := &script{list: answers}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	o.BaseURL = srv.URL
	if o.Auth.IsZero() {
		o.Auth = Basic("bot@example.com", testToken)
	}
	if o.Name == "" {
		o.Name = "jira"
	}
	if o.Rate == 0 {
		o.Rate = -1
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = time.Millisecond
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func get(ctx context.Context, c *Client) (int, error) {
	var out map[string]any
	return c.Do(ctx, Request{Method: http.MethodGet, Path: "/rest/api/3/group/bulk"}, &out)
}

// The wait before a retry, seen through the fake clock: nothing is sent
// before it is over, and the next attempt goes as soon as it is.
func waitSeen(t *testing.T, clock *clockwork.FakeClock, s *script, before int64, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal("the client did not wait")
	}
	clock.Advance(wait - time.Millisecond)
	time.Sleep(20 * time.Millisecond) // let a wrongly early request arrive, if any
	if got := s.calls.Load(); got != before {
		t.Fatalf("requests %v before the wait was over: got %d, want %d", time.Millisecond, got, before)
	}
	clock.Advance(time.Millisecond)
}

func TestClient_RetryAfter(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"RetryAfterSeconds", 429, map[string]string{"Retry-After": "7", "X-RateLimit-Reset": "2026-11-23T09:05Z"}, 7 * time.Second},
		{"RetryAfterDate", 503, map[string]string{"Retry-After": t0.Add(12 * time.Second).Format(http.TimeFormat)}, 12 * time.Second},
		{"RateLimitResetISO", 429, map[string]string{"X-RateLimit-Reset": "2026-11-23T09:01Z"}, 30 * time.Second},
		{"RateLimitResetUnix", 429, map[string]string{"X-RateLimit-Reset": fmt.Sprint(t0.Add(4 * time.Second).Unix())}, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(t0)
			c, s := newTest(t, Options{Clock: clock}, answer{status: tc.status, header: tc.header}, answer{status: 200, body: `{"ok":true}`})
			done := make(chan error, 1)
			go func() { _, err := get(context.Background(), c); done <- err }()
			waitSeen(t, clock, s, 1, tc.want)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := s.calls.Load(); got != 2 {
				t.Errorf("requests: got %d, want 2", got)
			}
			if st := c.Stats(); st.Retries != 1 || (tc.status == 429) != (st.Throttled == 1) {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

// A 429 pauses every caller of the client, not only the one that got it.
func TestClient_ThrottlePausesEveryone(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c, s := newTest(t, Options{Clock: clock}, answer{status: 429, header: map[string]string{"Retry-After": "5"}}, answer{status: 200})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); get(context.Background(), c) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); get(context.Background(), c) }()
	if err := clock.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal("the second caller did not wait for the pause")
	}
	if got := s.calls.Load(); got != 1 {
		t.Fatalf("requests during the pause: got %d, want 1", got)
	}
	clock.Advance(5 * time.Second)
	wg.Wait()
	if got := s.calls.Load(); got != 3 {
		t.Errorf("requests: got %d, want 3", got)
	}
}

func TestClient_Backoff(t *testing.T) {
	c, _ := newTest(t, Options{BackoffBase: 100 * time.Millisecond, BackoffCap: time.Second})
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 9: time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.delay(http.Header{}, 503, attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: %d distinct delays in 200, want jitter", attempt, len(seen))
		}
	}
}

// X-RateLimit-Reset is advice for a 429 only, and a reset already past in
// the minute-precision form is no advice: backoff applies.
func TestClient_RateLimitResetIgnored(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 30, 0, time.UTC))
	c, _ := newTest(t, Options{Clock: clock, BackoffBase: 100 * time.Millisecond})
	for _, tc := range []struct {
		status int
		reset  string
	}{{503, "2026-11-23T09:05Z"}, {429, "2026-11-23T09:00Z"}} {
		h := http.Header{"X-Ratelimit-Reset": {tc.reset}}
		if d := c.delay(h, tc.status, 1); d < 50*time.Millisecond || d > 100*time.Millisecond {
			t.Errorf("%d with reset %s: delay %s, want backoff in [50ms, 100ms]", tc.status, tc.reset, d)
		}
	}
	// With seconds or milliseconds, a reset just past means the window has
	// reset: no wait; one just ahead is waited for exactly.
	for reset, want := range map[string]time.Duration{"2026-11-23T09:00:29.995Z": 0, "2026-11-23T09:00:30Z": 0,
		"2026-11-23T09:00:30.004Z": 4 * time.Millisecond, "2026-11-23T09:00:31+0000": time.Second} {
		if d := c.delay(http.Header{"X-Ratelimit-Reset": {reset}}, 429, 1); d != want {
			t.Errorf("429 with reset %s: delay %s, want %s", reset, d, want)
		}
	}
	// Going at once did not help: the next attempt backs off.
	if d := c.delay(http.Header{"X-Ratelimit-Reset": {"2026-11-23T09:00:29.995Z"}}, 429, 2); d < 100*time.Millisecond || d > 200*time.Millisecond {
		t.Errorf("second 429 with a past reset: delay %s, want backoff in [100ms, 200ms]", d)
	}
}

func TestClient_BoundedAttempts(t *testing.T) {
	c, s := newTest(t, Options{MaxAttempts: 4}, answer{status: 503, body: `{"errorMessages":["down"],"errors":{}}`})
	_, err := get(context.Background(), c)
	e, ok := AsError(err)
	if !ok || e.Status != 503 || e.Attempts != 4 {
		t.Fatalf("err: %v", err)
	}
	if approvals.IsPermanent(err) {
		t.Error("a 503 must stay retryable for the worker")
	}
	if got := s.calls.Load(); got != 4 {
		t.Errorf("requests: got %d, want 4", got)
	}
}

func TestClient_BoundedWait(t *testing.T) {
	c, s := newTest(t, Options{MaxWait: time.Minute}, answer{status: 429, header: map[string]string{"Retry-After": "3600"}})
	start := time.Now()
	_, err := get(context.Background(), c)
	if e, ok := AsError(err); !ok || e.Status != 429 || e.RetryAfter != time.Hour {
		t.Fatalf("err: %v", err)
	}
	if s.calls.Load() != 1 || time.Since(start) > 2*time.Second {
		t.Errorf("waited for a Retry-After beyond MaxWait: %d requests in %s", s.calls.Load(), time.Since(start))
	}
}

func TestClient_ContextCancelsWait(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c, _ := newTest(t, Options{Clock: clock}, answer{status: 429, header: map[string]string{"Retry-After": "30"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := get(ctx, c); done <- err }()
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	if err := clock.BlockUntilContext(bctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return when its context ended")
	}
}

func TestClient_TimeoutPerAttempt(t *testing.T) {
	c, s := newTest(t, Options{Timeout: 50 * time.Millisecond, MaxAttempts: 2}, answer{status: 200, delay: 300 * time.Millisecond})
	_, err := get(context.Background(), c)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("err: %v", err)
	}
	if s.calls.Load() != 2 {
		t.Errorf("requests: got %d, want 2 (a timed-out attempt is retried)", s.calls.Load())
	}
}

func TestClient_Permanent(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
		reason    string
	}{
		{401, true, "the API token was rejected"},
		{403, true, "the API token's user is not a site admin"},
		{404, true, ""},
		{400, true, ""},
		{409, false, ""},
		{500, false, ""},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c, s := newTest(t, Options{Reasons: map[int]string{401: "the API token was rejected", 403: "the API token's user is not a site admin"}},
				answer{status: tc.status, body: `{"errorMessages":["nope"],"errors":{}}`})
			_, err := get(context.Background(), c)
			if approvals.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent: got %v, want %v (%v)", !tc.permanent, tc.permanent, err)
			}
			if s.calls.Load() != 1 {
				t.Errorf("requests: got %d, want 1 (not retried)", s.calls.Load())
			}
			if e, _ := AsError(err); e == nil || e.Status != tc.status || e.Reason != tc.reason {
				t.Fatalf("error: %#v", e)
			}
			if tc.reason != "" && !strings.HasPrefix(err.Error(), tc.reason+" (jira GET /rest/api/3/group/bulk: ") {
				t.Errorf("message: got %q, want the reason first", err.Error())
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Error
	}{
		{"Jira", `{"errorMessages":["Specified group does not exist."],"errors":{"groupId":"bad id"}}`,
			Error{Messages: []string{"Specified group does not exist."}, Fields: map[string]string{"groupId": "bad id"}}},
		{"Admin", `{"errors":[{"code":"ADMIN-UAM-4041","status":"404","title":"Not Found","detail":"group not found"},{"code":"ADMIN-X","title":"Other"}]}`,
			Error{Messages: []string{"Not Found: group not found", "Other"}, Codes: []string{"ADMIN-UAM-4041", "ADMIN-X"}}},
		{"AdminNumericStatus", `{"errors":[{"code":"ADMIN-1","status":403,"detail":"no"}]}`,
			Error{Messages: []string{"no"}, Codes: []string{"ADMIN-1"}}},
		{"Message", `{"code":401,"message":"Unauthorized"}`, Error{Messages: []string{"Unauthorized"}}},
		{"Text", "Client must be authenticated\n to access this resource.", Error{Messages: []string{"Client must be authenticated to access this resource."}}},
		{"Empty", "", Error{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Error
			parseErrorBody(&got, []byte(tc.body))
			if fmt.Sprint(got.Messages) != fmt.Sprint(tc.want.Messages) || fmt.Sprint(got.Fields) != fmt.Sprint(tc.want.Fields) ||
				fmt.Sprint(got.Codes) != fmt.Sprint(tc.want.Codes) {
				t.Errorf("got %q %v %q, want %q %v %q", got.Messages, got.Fields, got.Codes, tc.want.Messages, tc.want.Fields, tc.want.Codes)
			}
		})
	}
}

// The token must not leave: not in errors however they are formatted, not
// in logs, not when the client or its options are printed, not even when
// the API echoes it back.
func TestClient_SecretsNeverLeave(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	basic := Basic("bot@example.com", testToken)
	header, _ := basic.header()
	encoded := strings.TrimPrefix(header, "Basic ")
	echo := fmt.Sprintf(`{"errorMessages":["bad credentials %s for %s"],"errors":{"token":"%s"}}`, testToken.Reveal(), header, testToken.Reveal())
	o := Options{Auth: basic, Log: zap.New(core), MaxAttempts: 2}
	c, s := newTest(t, o, answer{status: 503, body: echo}, answer{status: 401, body: echo})
	_, err := get(context.Background(), c)
	if err == nil {
		t.Fatal("want an error")
	}
	if got := s.auth[0]; got != header {
		t.Fatalf("the server did not get the credential: %q", got)
	}
	// A network error too.
	c2, err2 := New(Options{Name: "jira", BaseURL: "http://127.0.0.1:1", Auth: basic, MaxAttempts: 1, Log: zap.New(core)})
	if err2 != nil {
		t.Fatal(err2)
	}
	_, netErr := get(context.Background(), c2)
	var texts []string
	for _, v := range []any{err, netErr, c, struct{ c *Client }{c}, o, basic, testToken, Request{Body: testToken}} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			texts = append(texts, fmt.Sprintf(f, v))
		}
	}
	for _, e := range logs.All() {
		texts = append(texts, e.Message)
		for k, v := range e.ContextMap() {
			texts = append(texts, k+"="+fmt.Sprint(v))
		}
	}
	if len(logs.All()) == 0 {
		t.Fatal("no log lines to check")
	}
	for _, text := range texts {
		for _, secret := range []string{testToken.Reveal(), encoded} {
			if strings.Contains(text, secret) {
				t.Fatalf("credential in %q", text)
			}
		}
	}
	if !strings.Contains(err.Error(), "bad credentials [redacted]") {
		t.Errorf("the echo was not scrubbed but dropped: %q", err.Error())
	}
	func() {
		defer func() {
			if r := recover(); r == nil || strings.Contains(fmt.Sprint(r), testToken.Reveal()) {
				t.Errorf("panic value: %v", r)
			}
		}()
		panic(fmt.Sprintf("boom: %+v %v", c, o))
	}()
}

func TestClient_RateLimit(t *testing.T) {
	c, s := newTest(t, Options{Rate: 50})
	start := time.Now()
	var wg sync.WaitGroup
	for range 21 {
		wg.Add(1)
		go func() { defer wg.Done(); get(context.Background(), c) }()
	}
	wg.Wait()
	// 21 requests at 50/s with a bucket of 1: the last leaves 400 ms after the first.
	if d := time.Since(start); d < 380*time.Millisecond {
		t.Errorf("21 requests at 50/s took %s, want at least 400ms", d)
	}
	if s.calls.Load() != 21 {
		t.Errorf("requests: %d", s.calls.Load())
	}
}

func TestClient_SendsJSON(t *testing.T) {
	var got struct{ method, path, query, ctype, body string }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.path, got.query, got.ctype, got.body = r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)
		w.WriteHeader(201)
		io.WriteString(w, `{"name":"g"}`)
	}))
	defer srv.Close()
	c, err := New(Options{Name: "admin", BaseURL: srv.URL + "/base/", Auth: Bearer("k-0123456789"), Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Name string }
	status, err := c.Do(context.Background(), Request{Method: "POST", Path: "/x/a%2Fb", Query: map[string][]string{"q": {"a b"}}, Body: map[string]string{"accountId": "1"}}, &out)
	if err != nil || status != 201 || out.Name != "g" {
		t.Fatalf("Do: %d %v %+v", status, err, out)
	}
	if got.method != "POST" || got.path != "/base/x/a%2Fb" || got.query != "q=a+b" || got.ctype != "application/json" || got.body != `{"accountId":"1"}` {
		t.Errorf("request: %+v", got)
	}
	for _, bad := range []string{"", "ftp://x", "https://user:pw@x.atlassian.net"} {
		if _, err := New(Options{BaseURL: bad, Auth: Bearer("k")}); err == nil {
			t.Errorf("New(%q): want an error", bad)
		}
	}
}

// The pace is learnt from the answers: clean answers while callers queue
// raise it from its start, a 429 lowers it, and a ceiling (ATLASSIAN_RATE)
// holds it down. Every retry takes its turn at the pace.
func TestClient_LearntPace(t *testing.T) {
	t.Run("429Lowers", func(t *testing.T) {
		c, s := newTest(t, Options{Rate: 100}, answer{status: 429, header: map[string]string{"Retry-After": "0"}}, answer{status: 200, body: `{}`})
		before := c.Rate()
		if _, err := get(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if s.calls.Load() != 2 || c.Rate() >= before {
			t.Errorf("after a 429 and its retry (%d calls) the pace is %.1f/s, was %.1f/s: want lower", s.calls.Load(), c.Rate(), before)
		}
	})
	t.Run("CeilingHolds", func(t *testing.T) {
		var answers []answer
		for range 40 {
			answers = append(answers, answer{status: 200, body: `{}`})
		}
		c, _ := newTest(t, Options{Rate: 40}, answers...)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 10 {
					if _, err := get(context.Background(), c); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if r := c.Rate(); r != 40 {
			t.Errorf("after 40 clean answers to callers queued at the pace, it is %.1f/s; want the ceiling, 40", r)
		}
	})
}
