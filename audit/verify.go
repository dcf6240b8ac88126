package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Source streams audit events in chain order (ascending seq). A zero since
// or until means unbounded. The event passed to fn is only valid during the
// call: Source implementations may reuse it, so memory stays flat.
type Source interface {
	Events(ctx context.Context, since, until time.Time, fn func(e *approvals.Event) error) error
}

// Anchor is a chain head witnessed outside the database (posted to Slack).
type Anchor struct {
	Seq  int64
	Hash string
}

// ParseAnchor reads "SEQ:HASH", the form jitbot posts.
func ParseAnchor(s string) (Anchor, error) {
	var a Anchor
	if _, err := fmt.Sscanf(s, "%d:%64s", &a.Seq, &a.Hash); err != nil || len(a.Hash) != 64 || a.Seq < 0 {
		return a, fmt.Errorf("anchor %q: expected SEQ:SHA256HEX as posted by jitbot audit anchor", s)
	}
	return a, nil
}

// String prints the anchor as ParseAnchor reads it.
func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// Result is what a successful verification found.
type Result struct {
	Count int64  // events checked
	Head  Anchor // the last event
}

// BrokenError names the first event whose content or link does not match.
type BrokenError struct {
	Seq     int64
	ID      string
	Problem string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at event %d (%s): %s", e.Seq, e.ID, e.Problem)
}

// Verify walks the whole chain and checks, for every event, that its
// sequence number follows the one before (nothing deleted or inserted), that
// its prev_hash is the hash of the event before (nothing reordered), and that
// its hash matches its content (nothing edited). Every anchor must match the
// event at its sequence number, so a chain rewritten from some point on is
// caught too. It stops at the first problem with a *BrokenError.
func Verify(ctx context.Context, src Source, anchors ...Anchor) (Result, error) {
	want := map[int64]string{}
	for _, a := range anchors {
		// The head of an empty chain (what `audit anchor` posts on a fresh
		// database) is seq 0 and the genesis hash: every chain begins there.
		if a.Seq == 0 {
			if a.Hash != GenesisHash {
				return Result{}, &BrokenError{Seq: 0, Problem: "the anchor of the empty chain must have the genesis hash " + GenesisHash}
			}
			continue
		}
		want[a.Seq] = a.Hash
	}
	var (
		res      Result
		prevHash = GenesisHash
		prevSeq  int64
	)
	err := src.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		switch {
		case e.Seq != prevSeq+1 && e.Seq > prevSeq+1:
			return &BrokenError{Seq: e.Seq, ID: e.ID, Problem: fmt.Sprintf("events %d to %d are missing (deleted)", prevSeq+1, e.Seq-1)}
		case e.Seq != prevSeq+1:
			return &BrokenError{Seq: e.Seq, ID: e.ID, Problem: fmt.Sprintf("sequence number out of order after event %d", prevSeq)}
		}
		if !ValidText(e) {
			return &BrokenError{Seq: e.Seq, ID: e.ID, Problem: "it holds bytes that are not UTF-8, which jitbot never writes (edited after it was written)"}
		}
		if got := Hash(e.PrevHash, e); got != e.Hash {
			return &BrokenError{Seq: e.Seq, ID: e.ID, Problem: "its content does not match its hash (edited after it was written)"}
		}
		if e.PrevHash != prevHash {
			return &BrokenError{Seq: e.Seq, ID: e.ID, Problem: fmt.Sprintf("it does not link to event %d (events inserted, deleted or reordered before it)", prevSeq)}
		}
		if h, ok := want[e.Seq]; ok {
			if h != e.Hash {
				return &BrokenError{Seq: e.Seq, ID: e.ID, Problem: "its hash differs from the anchor witnessed outside the database (the chain was rewritten)"}
			}
			delete(want, e.Seq)
		}
		prevHash, prevSeq = e.Hash, e.Seq
		res.Count++
		res.Head = Anchor{Seq: e.Seq, Hash: e.Hash}
		return nil
	})
	if err != nil {
		return res, err
	}
	for seq := range want {
		return res, &BrokenError{Seq: seq, Problem: fmt.Sprintf("the anchored event %d is not in the chain (the chain was truncated)", seq)}
	}
	return res, nil
}
