// Package audit is jitbot's tamper-evident evidence: the hash chain over the
// audit events, its verification, exports and the access reports auditors ask
// for.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// GenesisHash is the PrevHash of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Canonical returns the canonical encoding of e that its hash covers: a
// JSON array of every field but the hashes, in a fixed order, with times in
// UTC at millisecond precision and data keys sorted.
func Canonical(e *approvals.Event) []byte {
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	b, err := json.Marshal([]any{
		e.Seq, e.ID, e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), e.Actor, e.Action,
		e.Subject, e.Resource, e.RequestID, e.GrantID, e.Reason, e.Rule, e.CorrelationID, data,
	})
	if err != nil {
		panic("audit: canonical encoding: " + err.Error()) // strings and ints only: cannot happen
	}
	return b
}

// Hash returns the chain hash of e given the hash of the event before it:
// hex(SHA-256(prev || "\n" || Canonical(e))).
func Hash(prev string, e *approvals.Event) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(Canonical(e))
	return hex.EncodeToString(h.Sum(nil))
}

// Seal sets e's PrevHash and Hash so that it follows prev.
func Seal(prev string, e *approvals.Event) {
	if prev == "" {
		prev = GenesisHash
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.PrevHash = prev
	e.Hash = Hash(prev, e)
}
