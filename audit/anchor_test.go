package audit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jonboulle/clockwork"
)

// posts records what the anchorer posted.
type posts struct {
	mu   sync.Mutex
	msgs []string
	ch   chan string
	fail error
}

func newPosts() *posts { return &posts{ch: make(chan string, 16)} }

func (p *posts) Post(ctx context.Context, channel, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.msgs = append(p.msgs, channel+" "+text)
	p.ch <- text
	return nil
}

func (p *posts) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

func (p *posts) wait(t *testing.T) string {
	t.Helper()
	select {
	case s := <-p.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no anchor was posted")
		return ""
	}
}

// Issue 10 item 13: `audit anchor` on a fresh database prints 0:000…0, and
// verifying with it said the chain was truncated.
func TestIntegrity13_EmptyChainAnchorVerifies(t *testing.T) {
	db, _ := chain(t, 0)
	ctx := context.Background()
	head, err := db.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.ParseAnchor(head.String())
	if err != nil {
		t.Fatalf("ParseAnchor(%s): %v", head, err)
	}
	if _, err := audit.Verify(ctx, db, a); err != nil {
		t.Fatalf("the empty chain with its own anchor %s: got %v, want ok", a, err)
	}
	// Still true once the chain has grown.
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Time: t0, Actor: "x", Action: "test.event"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(ctx, db, a); err != nil {
		t.Fatalf("a grown chain with the empty chain's anchor: got %v, want ok", err)
	}
	var b *audit.BrokenError
	if _, err := audit.Verify(ctx, db, audit.Anchor{Seq: 0, Hash: strings.Repeat("1", 64)}); !errors.As(err, &b) {
		t.Fatalf("seq 0 with a hash that is not the genesis hash: got %v, want a BrokenError", err)
	}
	if _, err := audit.ParseAnchor("-1:" + audit.GenesisHash); err == nil {
		t.Error("ParseAnchor of a negative seq: got no error")
	}
}

// Issue 10 item 13: the first anchor came only after 24 h of uptime, so a
// bot restarted daily never anchored. Run anchors at start-up when the last
// posted anchor is older than a day, reads that time back from the chain,
// and then anchors a day after the last one.
func TestIntegrity13_AnchorAtStartUp(t *testing.T) {
	db, _ := chain(t, 3)
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
	p := newPosts()
	a := &audit.Anchorer{Chain: db, Poster: p, Channel: "#audit", Clock: clock}
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: got %v, want nil when ctx ends", err)
			}
		}
	}

	// No anchor yet: one at once.
	stop := start()
	if got := p.wait(t); !strings.Contains(got, "`3:") {
		t.Errorf("first anchor: got %q, want the head 3:…", got)
	}
	ctx := context.Background()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stop()

	// Restarted 23 h later: the last anchor is recent, so none at start…
	clock.Advance(23 * time.Hour)
	stop = start()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := p.count(); got != 1 {
		t.Fatalf("restart 23 h after an anchor: got %d anchors, want still 1", got)
	}
	// …but one a day after the last.
	clock.Advance(59 * time.Minute)
	if got := p.count(); got != 1 {
		t.Fatalf("23h59m after the anchor: got %d anchors, want 1", got)
	}
	clock.Advance(time.Minute)
	p.wait(t)
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stop()

	// Down for two days: an anchor at start-up.
	clock.Advance(48 * time.Hour)
	stop = start()
	p.wait(t)
	stop()

	// Each anchor is in the chain, with the seq and hash posted, and the
	// chain still verifies.
	var anchored []*approvals.Event
	err := db.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if e.Action == audit.ActionAnchored {
			c := *e
			anchored = append(anchored, &c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(anchored) != 3 || anchored[0].Data["seq"] != "3" || anchored[0].Data["channel"] != "#audit" || len(anchored[0].Data["hash"]) != 64 {
		t.Fatalf("anchored events: got %d, first %+v; want 3 with seq 3, the hash and the channel", len(anchored), anchored[0])
	}
	if _, err := audit.Verify(ctx, db, audit.Anchor{Seq: 3, Hash: anchored[0].Data["hash"]}); err != nil {
		t.Fatalf("verify with the posted anchor: %v", err)
	}
}

// A post that fails records nothing and is retried.
func TestAnchorer_RetriesAFailedPost(t *testing.T) {
	db, _ := chain(t, 1)
	clock := clockwork.NewFakeClockAt(t0)
	p := newPosts()
	p.fail = errors.New("channel_not_found")
	a := &audit.Anchorer{Chain: db, Poster: p, Channel: "#audit", Clock: clock, RetryAfter: 10 * time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.LastPosted(ctx); ok || err != nil {
		t.Fatalf("after a failed post: got an anchor recorded (%v), want none", err)
	}
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()
	clock.Advance(10 * time.Minute)
	p.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
