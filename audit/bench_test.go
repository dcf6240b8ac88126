package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store"
)

// seedFast writes n realistic chained events straight into the table, in
// large transactions, so that benchmarks can build a million-event chain in
// seconds. The events are sealed exactly as the store seals them.
func seedFast(tb testing.TB, n int) *store.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "j.db")
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	prev := audit.GenesisHash
	const batch = 50000
	for start := 0; start < n; start += batch {
		tx, err := db.WriteDB().Begin()
		if err != nil {
			tb.Fatal(err)
		}
		stmt, err := tx.Prepare(`INSERT INTO audit_events (seq, id, time, actor, action, subject, resource, request_id,
			grant_id, reason, rule, correlation_id, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			tb.Fatal(err)
		}
		for i := start; i < start+batch && i < n; i++ {
			req := fmt.Sprintf("%08x-1111-4222-8333-%012x", i/6, i/6)
			e := &approvals.Event{Seq: int64(i + 1), ID: fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012x", i, i),
				Time: t0.Add(time.Duration(i) * time.Second), Actor: "bob@example.com", Action: "request.approved",
				Subject: fmt.Sprintf("user%d@example.com", i%5000), Resource: "confluence-finance", RequestID: req,
				Reason: "quarter-end close needs the finance space", Rule: "default", CorrelationID: req,
				Data: map[string]string{"step": "1", "quorum": "1"}}
			audit.Seal(prev, e)
			prev = e.Hash
			data, _ := json.Marshal(e.Data)
			if _, err := stmt.Exec(e.Seq, e.ID, e.Time.UnixMilli(), e.Actor, e.Action, e.Subject, e.Resource, e.RequestID,
				e.GrantID, e.Reason, e.Rule, e.CorrelationID, string(data), e.PrevHash, e.Hash); err != nil {
				tb.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// peakHeap samples the live heap while fn runs and returns the peak in MiB.
func peakHeap(fn func()) float64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return float64(peak.Load()) / (1 << 20)
}

// BenchmarkVerify walks chains of 100k and 1M events; the peak heap must
// not grow with the count.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			db := seedFast(b, n)
			b.ResetTimer()
			var heap float64
			for i := 0; i < b.N; i++ {
				heap = peakHeap(func() {
					res, err := audit.Verify(context.Background(), db)
					if err != nil || res.Count != int64(n) {
						b.Fatalf("verify: %d %v", res.Count, err)
					}
				})
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(heap, "peak-heap-MiB")
		})
	}
}

// BenchmarkExportCSV streams chains of 100k and 1M events as CSV.
func BenchmarkExportCSV(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			db := seedFast(b, n)
			b.ResetTimer()
			var (
				heap  float64
				bytes countWriter
			)
			for i := 0; i < b.N; i++ {
				heap = peakHeap(func() {
					if _, err := audit.Export(context.Background(), db, &bytes, "csv", time.Time{}, time.Time{}); err != nil {
						b.Fatal(err)
					}
				})
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
			b.ReportMetric(heap, "peak-heap-MiB")
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
