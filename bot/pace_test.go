package bot

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Posts to one channel wait for the channel's pace; other channels do not
// wait for it.
func TestPaceChannel(t *testing.T) {
	b, err := New(Config{Service: approvals.New(approvals.Config{}), ChannelRate: 20, ChannelBurst: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for range 5 {
		if err := b.paceChannel(ctx, "C1"); err != nil {
			t.Fatal(err)
		}
	}
	// 1 at once, then 4 more at 20 a second: at least 200 ms.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("5 posts to one channel in %v; the pace allows no faster than 200ms", d)
	}
	other := time.Now()
	if err := b.paceChannel(ctx, "C2"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(other); d > 100*time.Millisecond {
		t.Errorf("another channel waited %v for C1's pace", d)
	}
}
