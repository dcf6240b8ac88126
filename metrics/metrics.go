// Package metrics exports jitbot's Prometheus metrics. It observes the
// engine (approvals.Observer), the Slack front end (bot.Observer) and the
// providers (a decorator), and reads the store's counts when scraped.
// Names follow Prometheus conventions: jitbot_…, _seconds, _total.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// latencyBuckets suit calls and acks: 1 ms to 30 s.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// lagBuckets suit the time from a deadline to a removal: 10 ms to 1 h.
var lagBuckets = []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

// Metrics holds jitbot's metrics in a registry of their own.
type Metrics struct {
	reg *prometheus.Registry

	ack          prometheus.Histogram
	slackCalls   *prometheus.CounterVec
	slackSeconds *prometheus.HistogramVec
	jobs         *prometheus.CounterVec
	jobSeconds   *prometheus.HistogramVec
	expiryLag    prometheus.Histogram
	provCalls    *prometheus.CounterVec
	provSeconds  *prometheus.HistogramVec
	reviewRuns   *prometheus.CounterVec
	leader       prometheus.Gauge
}

// New returns the metrics, with Go's and the process's own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.ack = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jitbot_socket_ack_seconds",
		Help: "Time from reading a Socket Mode envelope to acknowledging it.", Buckets: latencyBuckets})
	m.slackCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitbot_slack_calls_total",
		Help: "Slack Web API calls by method and outcome (ok, error, rate_limited, unreachable; held: not made, the pace or a 429 window)."},
		[]string{"method", "outcome"})
	m.slackSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jitbot_slack_call_seconds",
		Help: "Slack Web API call latency by method.", Buckets: latencyBuckets}, []string{"method"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitbot_jobs_total",
		Help: "Outbox jobs run, by lane, kind and outcome (done, deferred, retry, failed, held)."},
		[]string{"lane", "kind", "outcome"})
	m.jobSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jitbot_job_seconds",
		Help: "Time a job took, by lane.", Buckets: latencyBuckets}, []string{"lane"})
	m.expiryLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jitbot_expiry_lag_seconds",
		Help: "Time from a grant's end (its deadline, release or revocation) to its membership being removed.", Buckets: lagBuckets})
	m.provCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitbot_provider_calls_total",
		Help: "Provider calls by provider, operation (add, remove, is_member, members, prepare) and outcome (ok, error, permanent)."},
		[]string{"provider", "operation", "outcome"})
	m.provSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jitbot_provider_call_seconds",
		Help: "Provider call latency, rate-limit waits included.", Buckets: latencyBuckets}, []string{"provider", "operation"})
	m.reviewRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitbot_review_runs_total",
		Help: "Licence review runs finished, by rule and outcome."}, []string{"rule", "outcome"})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitbot_leader",
		Help: "1 while this replica runs the expiry sweep, reconciliation, review scheduling and the anchor."})
	for _, c := range []prometheus.Collector{m.ack, m.slackCalls, m.slackSeconds, m.jobs, m.jobSeconds,
		m.expiryLag, m.provCalls, m.provSeconds, m.reviewRuns, m.leader} {
		f(c)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Acked records an ack (bot.Observer).
func (m *Metrics) Acked(took time.Duration) { m.ack.Observe(took.Seconds()) }

// SlackCall records a Web API call (bot.Observer).
func (m *Metrics) SlackCall(method, outcome string, took time.Duration) {
	m.slackCalls.WithLabelValues(method, outcome).Inc()
	if took > 0 {
		m.slackSeconds.WithLabelValues(method).Observe(took.Seconds())
	}
}

// WatchConnected makes each scrape ask whether Socket Mode is connected.
func (m *Metrics) WatchConnected(up func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jitbot_socket_connected",
		Help: "1 while the Socket Mode connection is up."}, func() float64 { return boolValue(up()) }))
}

// JobDone records a job (approvals.Observer).
func (m *Metrics) JobDone(lane approvals.Lane, kind approvals.JobKind, outcome string, took time.Duration) {
	m.jobs.WithLabelValues(string(lane), string(kind), outcome).Inc()
	m.jobSeconds.WithLabelValues(string(lane)).Observe(took.Seconds())
}

// Removed records a removal's lag after its grant ended (approvals.Observer).
func (m *Metrics) Removed(lag time.Duration) { m.expiryLag.Observe(max(lag, 0).Seconds()) }

// ReviewRun records a finished licence review run.
func (m *Metrics) ReviewRun(rule, outcome string) { m.reviewRuns.WithLabelValues(rule, outcome).Inc() }

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leading bool) { m.leader.Set(boolValue(leading)) }

var (
	_ approvals.Observer = (*Metrics)(nil)
)

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WatchStore makes each scrape read the store's counts: requests by state,
// pending jobs by lane, the age of the oldest due job, and the audit head.
// A scrape waits for the store at most timeout.
func (m *Metrics) WatchStore(src approvals.StatsReader, now func() time.Time, timeout time.Duration) {
	m.reg.MustRegister(&storeCollector{src: src, now: now, timeout: timeout})
}

// storeCollector reads approvals.Stats at scrape time.
type storeCollector struct {
	src     approvals.StatsReader
	now     func() time.Time
	timeout time.Duration
}

var (
	descRequests = prometheus.NewDesc("jitbot_requests", "Access requests by state.", []string{"state"}, nil)
	descPending  = prometheus.NewDesc("jitbot_jobs_pending", "Pending outbox jobs by lane.", []string{"lane"}, nil)
	descOldest   = prometheus.NewDesc("jitbot_jobs_oldest_due_seconds", "Age of the oldest due job by lane (0 when none is due).", []string{"lane"}, nil)
	descHead     = prometheus.NewDesc("jitbot_audit_head_seq", "Sequence number of the last audit event.", nil, nil)
	descUp       = prometheus.NewDesc("jitbot_store_up", "1 when the last scrape could read the store.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descPending, descOldest, descHead, descUp} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	now := c.now()
	st, err := c.src.Stats(ctx, now)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	for _, s := range approvals.AllStates() {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.GaugeValue, float64(st.Requests[s]), string(s))
	}
	for _, lane := range []approvals.Lane{approvals.LaneAccess, approvals.LaneMessage} {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending[lane]), string(lane))
		age := 0.0
		if t, ok := st.OldestDue[lane]; ok {
			age = max(now.Sub(t).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, string(lane))
	}
	ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(st.AuditHead))
}

// Provider wraps p so that its calls are counted and timed under name.
func (m *Metrics) Provider(name string, p approvals.Provisioner) approvals.Provisioner {
	if lister, ok := p.(approvals.MemberLister); ok {
		return &listingProvider{provider: provider{m: m, name: name, p: p}, lister: lister}
	}
	return &provider{m: m, name: name, p: p}
}

type provider struct {
	m    *Metrics
	name string
	p    approvals.Provisioner
}

var (
	_ approvals.Adder    = (*provider)(nil)
	_ approvals.Preparer = (*provider)(nil)
)

func (w *provider) observe(op string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case approvals.IsPermanent(err):
		outcome = "permanent"
	case err != nil:
		outcome = "error"
	}
	w.m.provCalls.WithLabelValues(w.name, op, outcome).Inc()
	w.m.provSeconds.WithLabelValues(w.name, op).Observe(time.Since(start).Seconds())
}

func (w *provider) AddMember(ctx context.Context, mb approvals.Membership) error {
	start := time.Now()
	err := w.p.AddMember(ctx, mb)
	w.observe("add", start, err)
	return err
}

// Add keeps the provider's one-call add (approvals.Adder) and counts it as
// an add; a provider without one is asked IsMember, then AddMember, each
// counted.
func (w *provider) Add(ctx context.Context, mb approvals.Membership) (bool, error) {
	a, ok := w.p.(approvals.Adder)
	if !ok {
		return approvals.AddAsking(ctx, w, mb)
	}
	start := time.Now()
	already, err := a.Add(ctx, mb)
	w.observe("add", start, err)
	return already, err
}

// Prepare keeps the provider's look-ups ahead of approval
// (approvals.Preparer), counted as "prepare"; without one there is nothing
// to do.
func (w *provider) Prepare(ctx context.Context, mb approvals.Membership) error {
	p, ok := w.p.(approvals.Preparer)
	if !ok {
		return nil
	}
	start := time.Now()
	err := p.Prepare(ctx, mb)
	w.observe("prepare", start, err)
	return err
}

func (w *provider) RemoveMember(ctx context.Context, mb approvals.Membership) error {
	start := time.Now()
	err := w.p.RemoveMember(ctx, mb)
	w.observe("remove", start, err)
	return err
}

func (w *provider) IsMember(ctx context.Context, mb approvals.Membership) (bool, error) {
	start := time.Now()
	ok, err := w.p.IsMember(ctx, mb)
	w.observe("is_member", start, err)
	return ok, err
}

// Unwrap returns the provider it counts, for callers that look for
// optional abilities.
func (w *provider) Unwrap() approvals.Provisioner { return w.p }

// listingProvider keeps the optional MemberLister ability visible.
type listingProvider struct {
	provider
	lister approvals.MemberLister
}

func (w *listingProvider) Members(ctx context.Context, group string) ([]string, error) {
	start := time.Now()
	ms, err := w.lister.Members(ctx, group)
	w.observe("members", start, err)
	return ms, err
}

// Upstream is what metrics read from one upstream API's transport.
type Upstream interface {
	Rate() float64      // the pace it has learnt, requests a second
	Throttled() float64 // 429 answers so far
}

// WatchUpstream exports an upstream API's learnt pace and its 429s, read
// at each scrape, by api.
func (m *Metrics) WatchUpstream(api string, u Upstream) {
	labels := prometheus.Labels{"api": api}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jitbot_upstream_rate",
		Help: "The pace learnt for an upstream API from its answers, in requests a second (+Inf: pacing off).", ConstLabels: labels}, u.Rate))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitbot_provider_rate_limited_total",
		Help: "429 answers from an upstream API.", ConstLabels: labels}, u.Throttled))
}

var _ review.Observer = (*Metrics)(nil)
