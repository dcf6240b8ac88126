package bot_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/localslack"
)

// percentile returns the p-th percentile (0–100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// BenchmarkAckLatency sends 200 interactions at once through the local
// Slack (slash commands that read the database and answer by response_url,
// App Home openings that publish a view, and approver clicks), and reports
// how long the bot took to ack each envelope, as the emulator measured it.
// Target: p99 under 50 ms.
//
//	go test -run '^$' -bench BenchmarkAckLatency -benchtime 20x ./bot/
func BenchmarkAckLatency(b *testing.B) {
	// Slack spreads envelopes over the bot's Socket Mode connections
	// (JITBOT_BENCH_CONNECTIONS, default the bot's 2).
	conns := benchEnvInt("JITBOT_BENCH_CONNECTIONS", 0)
	e := newEnvWith(b, envOptions{slack: localslack.Options{Spread: true}, botConfig: func(c *bot.Config) { c.Connections = conns }})
	want := conns
	if want == 0 {
		want = 2
	}
	if !e.srv.WaitConnections(want, 5*time.Second) {
		b.Fatal("the bot did not open its Socket Mode connections")
	}
	// Work for the clicks: pending requests with a card each.
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	card := e.dmWith(uBob, approvals.Short(r.ID))
	const inFlight = 200
	var lat []time.Duration
	round := func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range inFlight {
			wg.Go(func() {
				var ack localslack.Ack
				var err error
				switch i % 4 {
				case 0:
					ack, err = e.srv.SlashCommand(uAlice, cGen, "/access", "list")
				case 1:
					ack, err = e.srv.AppHomeOpened(uBob)
				case 2:
					ack, err = e.srv.ClickButton(uCarol, card.Channel, card.TS, "approve") // refused: not an approver
				default:
					ack, err = e.srv.SlashCommand(uBob, cGen, "/access", "help")
				}
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, ack.Latency)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	// The first round opens connections and fills caches; it is reported
	// apart (cold-max-ms) and the steady state is measured after it.
	round()
	slices.Sort(lat)
	cold := lat[len(lat)-1]
	lat = lat[:0]
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-max-ms")
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(lat)), "acks")
	slow := 0
	for _, l := range lat {
		if l > 100*time.Millisecond {
			slow++
		}
	}
	b.ReportMetric(float64(slow), "acks-over-100ms")
	if e.state(r.ID) != approvals.StatePending {
		b.Fatal("a refused click changed the request")
	}
}

// BenchmarkClickToProvisioned measures, per request, the time from an
// approver's click on Approve (the envelope written by the local Slack) to
// the membership being in the dryrun provider. Target: p50 under 100 ms.
// The local Slack's chat.postMessage pace is off here: the test clock
// stands still, so with it on the approver's fifth card would wait for a
// clock that never moves (the pace is measured by BenchmarkBurstJiraRateLimited).
//
//	go test -run '^$' -bench BenchmarkClickToProvisioned -benchtime 200x ./bot/
func BenchmarkClickToProvisioned(b *testing.B) {
	e := newEnvWith(b, envOptions{slack: localslack.Options{PostRate: -1}})
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// Each request is for a fresh membership so that "provisioned" is
		// unambiguous: alternate requesters and release before the next.
		r, err := e.svc.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
			Duration: 10 * 24 * time.Hour, Reason: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		card := e.dmWith(uBob, approvals.Short(r.ID))
		b.StartTimer()
		start := time.Now()
		e.click(uBob, card, "approve")
		for !e.member("confluence-finance", "alice@example.com") {
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if _, err := e.svc.Release(ctx, r.ID, "alice@example.com"); err != nil {
			b.Fatal(err)
		}
		e.wait("removal", func() bool { return !e.member("confluence-finance", "alice@example.com") })
		_ = i
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}
