package bot_test

import (
	"io"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/metrics"
)

// BenchmarkAckLatencyMetrics is BenchmarkAckLatency's load (200
// interactions in flight: /access list, App Home openings, refused clicks,
// /access help) three ways: without metrics, with metrics observed, and with
// metrics observed and /metrics scraped every second (the store's counts
// read at each scrape). It reports ack p50/p99 as the local Slack measured
// them, so the cost of the metrics on the ack path shows.
//
//	go test -run '^$' -bench BenchmarkAckLatencyMetrics -benchtime 20x ./bot/
func BenchmarkAckLatencyMetrics(b *testing.B) {
	for _, mode := range []string{"none", "observed", "scraped-1s"} {
		b.Run(mode, func(b *testing.B) {
			var m *metrics.Metrics
			o := envOptions{slack: localslack.Options{Spread: true}} // over the bot's two connections, as Slack does
			if mode != "none" {
				m = metrics.New()
				o.botConfig = func(c *bot.Config) { c.Observer = m }
			}
			e := newEnvWith(b, o)
			if !e.srv.WaitConnections(2, 5*time.Second) {
				b.Fatal("the bot did not open its two Socket Mode connections")
			}
			if m != nil {
				m.WatchStore(e.db, e.clock.Now, time.Second)
			}
			stop := make(chan struct{})
			var scrapes int
			var wg sync.WaitGroup
			if mode == "scraped-1s" {
				srv := httptest.NewServer(m.Handler())
				defer srv.Close()
				wg.Go(func() {
					t := time.NewTicker(time.Second)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							if resp, err := srv.Client().Get(srv.URL); err == nil {
								io.Copy(io.Discard, resp.Body)
								resp.Body.Close()
								scrapes++
							}
						}
					}
				})
			}
			e.cmd(uAlice, "confluence-finance 10d quarter close")
			r := e.waitRequest("alice@example.com")
			card := e.dmWith(uBob, approvals.Short(r.ID))
			var lat []time.Duration
			var mu sync.Mutex
			round := func() {
				var rw sync.WaitGroup
				for i := range 200 {
					rw.Go(func() {
						var ack localslack.Ack
						var err error
						switch i % 4 {
						case 0:
							ack, err = e.srv.SlashCommand(uAlice, cGen, "/access", "list")
						case 1:
							ack, err = e.srv.AppHomeOpened(uBob)
						case 2:
							ack, err = e.srv.ClickButton(uCarol, card.Channel, card.TS, "approve")
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
				rw.Wait()
			}
			round() // warm-up
			lat = lat[:0]
			b.ResetTimer()
			for range b.N {
				round()
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(scrapes), "scrapes")
		})
	}
}
