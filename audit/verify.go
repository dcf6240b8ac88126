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
	v, err := NewVerifier(anchors...)
	if err != nil {
		return v.res, err
	}
	if err := src.Events(ctx, time.Time{}, time.Time{}, v.Add); err != nil {
		return v.res, err
	}
	return v.Result()
}

// A Verifier checks a chain event by event, as Verify does, for a reader
// that walks the chain for its own reasons and verifies it on the way (the
// evidence pack): Add each event in chain order, then Result.
type Verifier struct {
	want     map[int64]string // anchors not yet reached
	prevHash string
	prevSeq  int64
	res      Result
	err      error
	recent   [recentHashes]string // the hashes of the last events, by seq
}

// recentHashes is how many of the last events' hashes a Verifier keeps, to
// check an anchor learnt after its event was read (an audit.anchored event
// names a head a few events before it).
const recentHashes = 4096

// NewVerifier returns a Verifier that checks every anchor too, and the
// problem of an anchor that cannot be right (the Verifier then reports it
// from Result too).
func NewVerifier(anchors ...Anchor) (*Verifier, error) {
	v := &Verifier{want: map[int64]string{}, prevHash: GenesisHash}
	for _, a := range anchors {
		v.Anchor(a)
	}
	return v, v.err
}

// Anchor adds an anchor to check: one ahead of the events read is checked
// when its event comes, one among the last events read at once. It reports
// false, checking nothing, for an anchor further back than the Verifier
// remembers: the caller verifies the chain again with it (Verify).
func (v *Verifier) Anchor(a Anchor) (bool, error) {
	switch {
	case a.Seq == 0:
		// The head of an empty chain (what `audit anchor` posts on a fresh
		// database) is seq 0 and the genesis hash: every chain begins there.
		if a.Hash != GenesisHash {
			return true, v.fail(&BrokenError{Seq: 0, Problem: "the anchor of the empty chain must have the genesis hash " + GenesisHash})
		}
	case a.Seq < 0 || a.Seq > v.prevSeq: // a negative one is never reached: not in the chain
		v.want[a.Seq] = a.Hash
	case v.prevSeq-a.Seq >= recentHashes:
		return false, nil
	case v.recent[a.Seq%recentHashes] != a.Hash:
		return true, v.fail(&BrokenError{Seq: a.Seq, Problem: "its hash differs from the anchor witnessed outside the database (the chain was rewritten)"})
	}
	return true, v.err
}

func (v *Verifier) fail(err error) error {
	if v.err == nil {
		v.err = err
	}
	return v.err
}

// Add checks the next event of the chain; after the first problem it
// checks nothing more and returns that problem again.
func (v *Verifier) Add(e *approvals.Event) error {
	if v.err != nil {
		return v.err
	}
	switch {
	case e.Seq != v.prevSeq+1 && e.Seq > v.prevSeq+1:
		return v.fail(&BrokenError{Seq: e.Seq, ID: e.ID, Problem: fmt.Sprintf("events %d to %d are missing (deleted)", v.prevSeq+1, e.Seq-1)})
	case e.Seq != v.prevSeq+1:
		return v.fail(&BrokenError{Seq: e.Seq, ID: e.ID, Problem: fmt.Sprintf("sequence number out of order after event %d", v.prevSeq)})
	}
	if !ValidText(e) {
		return v.fail(&BrokenError{Seq: e.Seq, ID: e.ID, Problem: "it holds bytes that are not UTF-8, which jitbot never writes (edited after it was written)"})
	}
	if got := Hash(e.PrevHash, e); got != e.Hash {
		return v.fail(&BrokenError{Seq: e.Seq, ID: e.ID, Problem: "its content does not match its hash (edited after it was written)"})
	}
	if e.PrevHash != v.prevHash {
		return v.fail(&BrokenError{Seq: e.Seq, ID: e.ID, Problem: fmt.Sprintf("it does not link to event %d (events inserted, deleted or reordered before it)", v.prevSeq)})
	}
	if h, ok := v.want[e.Seq]; ok {
		if h != e.Hash {
			return v.fail(&BrokenError{Seq: e.Seq, ID: e.ID, Problem: "its hash differs from the anchor witnessed outside the database (the chain was rewritten)"})
		}
		delete(v.want, e.Seq)
	}
	v.prevHash, v.prevSeq = e.Hash, e.Seq
	v.recent[e.Seq%recentHashes] = e.Hash
	v.res.Count++
	v.res.Head = Anchor{Seq: e.Seq, Hash: e.Hash}
	return nil
}

// Result returns what the events added showed: the first problem, or an
// anchor whose event never came (the chain was truncated).
func (v *Verifier) Result() (Result, error) {
	if v.err != nil {
		return v.res, v.err
	}
	for seq := range v.want {
		return v.res, &BrokenError{Seq: seq, Problem: fmt.Sprintf("the anchored event %d is not in the chain (the chain was truncated)", seq)}
	}
	return v.res, nil
}
