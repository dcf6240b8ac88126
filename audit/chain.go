// Package audit is jitbot's tamper-evident evidence: the hash chain over the
// audit events, its verification, exports and the access reports auditors ask
// for.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

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

// ValidText reports whether every text of e is valid UTF-8. The canonical
// encoding goes through encoding/json, which turns invalid bytes into
// U+FFFD, so two events whose texts differ only in invalid bytes would hash
// alike: Seal normalises such text, and Verify refuses a stored event that
// is not valid.
func ValidText(e *approvals.Event) bool {
	for _, s := range texts(e) {
		if !utf8.ValidString(*s) {
			return false
		}
	}
	for k, v := range e.Data {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

func texts(e *approvals.Event) []*string {
	return []*string{&e.ID, &e.Actor, &e.Action, &e.Subject, &e.Resource, &e.RequestID, &e.GrantID, &e.Reason, &e.Rule, &e.CorrelationID}
}

// normalise replaces invalid UTF-8 in e's texts with U+FFFD, so that what
// is stored is exactly what the hash covers.
func normalise(e *approvals.Event) {
	for _, s := range texts(e) {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	if ValidText(e) {
		return
	}
	data := make(map[string]string, len(e.Data))
	for k, v := range e.Data {
		data[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
	}
	e.Data = data
}

// Seal sets e's PrevHash and Hash so that it follows prev. Invalid UTF-8 in
// its texts is replaced with U+FFFD first (the stored event is the one that
// was hashed).
func Seal(prev string, e *approvals.Event) {
	if prev == "" {
		prev = GenesisHash
	}
	normalise(e)
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.PrevHash = prev
	e.Hash = Hash(prev, e)
}
