package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store/postgres"
)

// BenchmarkSerialisedWrites measures write transactions through the chain
// head lock from 8 goroutines: each locks, makes 6 more statements (reads
// and writes of a request, one event, one job) and commits — the shape of
// a revocation's last transaction. Reported: transactions per second.
func BenchmarkSerialisedWrites(b *testing.B) {
	url := func() string { u, _ := pgtestSchema(b); return u }()
	db := openBench(b, url)
	ctx := context.Background()
	r := &approvals.Request{ID: "r1", Requester: "a@x", Resource: "wiki", Duration: time.Hour, Reason: "x", Rule: "r",
		Steps: []approvals.Step{}, CorrelationID: "c", State: approvals.StateActive}
	if err := db.Update(ctx, func(tx approvals.Tx) error { return tx.InsertRequest(r) }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/8 + 1
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				err := db.Update(ctx, func(tx approvals.Tx) error {
					if _, err := tx.GetRequest("r1"); err != nil {
						return err
					}
					if _, err := tx.GrantsOf("r1"); err != nil {
						return err
					}
					if err := tx.DeleteMembership(approvals.Membership{Provider: "p", Group: "g", Person: "x"}); err != nil {
						return err
					}
					if err := tx.Append(&approvals.Event{Actor: "a", Action: "b"}); err != nil {
						return err
					}
					return tx.EnqueueJob(&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r1", Note: "x", Coalesce: true})
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(8*per)/time.Since(start).Seconds(), "tx/s")
}

func pgtestSchema(b *testing.B) (string, string) { return pgtest.Schema(b) }

func openBench(b *testing.B, url string) *postgres.DB {
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}
