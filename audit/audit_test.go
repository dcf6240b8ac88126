package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// chain makes a database holding n events appended the way the engine does.
func chain(t testing.TB, n int) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(context.Background(), func(tx approvals.Tx) error {
		for i := 0; i < n; i++ {
			e := &approvals.Event{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "system",
				Action: "test.event", Subject: fmt.Sprintf("user%d@example.com", i%7), Reason: fmt.Sprintf("event %d", i+1),
				Data: map[string]string{"i": fmt.Sprint(i + 1)}}
			if err := tx.Append(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, path
}

// tamper opens the file the way an attacker with file access would: the
// triggers are dropped first.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range append([]string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}, stmts...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestVerify_Intact(t *testing.T) {
	db, _ := chain(t, 50)
	res, err := audit.Verify(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := db.Head(context.Background())
	if res.Count != 50 || res.Head != head {
		t.Fatalf("got %d events head %s, want 50 head %s", res.Count, res.Head, head)
	}
	if _, err := audit.Verify(context.Background(), db, audit.Anchor{Seq: 20, Hash: hashAt(t, db, 20)}); err != nil {
		t.Fatalf("a true anchor: %v", err)
	}
}

func hashAt(t *testing.T, db *store.DB, seq int) string {
	var h string
	if err := db.ReadDB().QueryRow(`SELECT hash FROM audit_events WHERE seq = ?`, seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerify_DetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		stmts   []string
		wantSeq int64
		wantMsg string
	}{
		{"EditedField", []string{`UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 17`}, 17, "content does not match"},
		{"EditedData", []string{`UPDATE audit_events SET data = '{"i":"999"}' WHERE seq = 30`}, 30, "content does not match"},
		{"EditedTime", []string{`UPDATE audit_events SET time = time + 1 WHERE seq = 5`}, 5, "content does not match"},
		{"DeletedEvent", []string{`DELETE FROM audit_events WHERE seq = 23`}, 24, "23 to 23 are missing"},
		{"DeletedTail", []string{`DELETE FROM audit_events WHERE seq = 40`, `UPDATE audit_events SET seq = seq - 1 WHERE seq > 40`}, 40, "content does not match"},
		{"ReorderedPair", []string{
			`UPDATE audit_events SET seq = -1 WHERE seq = 11`,
			`UPDATE audit_events SET seq = 11 WHERE seq = 12`,
			`UPDATE audit_events SET seq = 12 WHERE seq = -1`}, 11, "content does not match"},
		{"InsertedEvent", []string{
			`UPDATE audit_events SET seq = seq + 1000 WHERE seq > 33`,
			`UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000`,
			`INSERT INTO audit_events (seq, id, time, actor, action, prev_hash, hash)
			 SELECT 34, 'forged', time, 'mallory', 'request.approved', hash, hash FROM audit_events WHERE seq = 33`}, 34, "content does not match"},
		{"InsertedRehashed", nil, 0, ""}, // filled below: a forger who recomputes the hash
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, path := chain(t, 50)
			stmts, wantSeq, wantMsg := tt.stmts, tt.wantSeq, tt.wantMsg
			if tt.name == "InsertedRehashed" {
				// The forger recomputes a valid hash for the inserted event,
				// so the first broken link is the event after it.
				forged := &approvals.Event{Seq: 34, ID: "forged", Time: t0, Actor: "mallory", Action: "request.approved"}
				audit.Seal(hashAt(t, db, 33), forged)
				stmts = []string{
					`UPDATE audit_events SET seq = seq + 1000 WHERE seq > 33`,
					`UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000`,
					fmt.Sprintf(`INSERT INTO audit_events (seq, id, time, actor, action, prev_hash, hash) VALUES (34, 'forged', %d, 'mallory', 'request.approved', '%s', '%s')`,
						t0.UnixMilli(), forged.PrevHash, forged.Hash)}
				wantSeq, wantMsg = 35, "content does not match"
			}
			tamper(t, path, stmts...)
			_, err := audit.Verify(context.Background(), db)
			var b *audit.BrokenError
			if !errors.As(err, &b) {
				t.Fatalf("got %v, want a BrokenError", err)
			}
			if b.Seq != wantSeq || !strings.Contains(b.Problem, wantMsg) {
				t.Fatalf("got event %d %q, want event %d %q", b.Seq, b.Problem, wantSeq, wantMsg)
			}
		})
	}
}

// A forger who rewrites every hash from some point on produces a chain that
// is consistent in itself; the anchor posted to Slack catches it.
func TestVerify_AnchorCatchesRewrite(t *testing.T) {
	db, path := chain(t, 20)
	anchor := audit.Anchor{Seq: 15, Hash: hashAt(t, db, 15)}
	var stmts []string
	prev := hashAt(t, db, 9)
	for seq := 10; seq <= 20; seq++ {
		e := &approvals.Event{Seq: int64(seq), ID: fmt.Sprintf("rewritten-%d", seq), Time: t0, Actor: "mallory", Action: "test.event"}
		audit.Seal(prev, e)
		prev = e.Hash
		stmts = append(stmts, fmt.Sprintf(`UPDATE audit_events SET id='%s', time=%d, actor='mallory', subject='', reason='', data='{}', prev_hash='%s', hash='%s' WHERE seq=%d`,
			e.ID, t0.UnixMilli(), e.PrevHash, e.Hash, seq))
	}
	tamper(t, path, stmts...)
	if _, err := audit.Verify(context.Background(), db); err != nil {
		t.Fatalf("without the anchor the rewritten chain is self-consistent: got %v", err)
	}
	_, err := audit.Verify(context.Background(), db, anchor)
	var b *audit.BrokenError
	if !errors.As(err, &b) || b.Seq != 15 || !strings.Contains(b.Problem, "anchor") {
		t.Fatalf("got %v, want event 15 to differ from its anchor", err)
	}
}

func TestExport_Formats(t *testing.T) {
	db, _ := chain(t, 30)
	ctx := context.Background()
	var buf bytes.Buffer
	n, err := audit.Export(ctx, db, &buf, "jsonl", t0.Add(10*time.Minute), t0.Add(20*time.Minute))
	if err != nil || n != 10 {
		t.Fatalf("jsonl: got %d events (%v), want 10", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first audit.Record
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Seq != 11 || first.Hash == "" {
		t.Fatalf("first jsonl record: %+v %v", first, err)
	}
	buf.Reset()
	n, err = audit.Export(ctx, db, &buf, "csv", time.Time{}, time.Time{})
	if err != nil || n != 30 {
		t.Fatalf("csv: got %d events (%v), want 30", n, err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 31 || strings.Join(recs[0], ",") != strings.Join(audit.Columns, ",") {
		t.Fatalf("csv: got %d rows, header %v", len(recs), recs[0])
	}
	if _, err := audit.Export(ctx, db, &buf, "xml", time.Time{}, time.Time{}); err == nil {
		t.Fatal("an unknown format must be refused")
	}
}

func TestExport_CSVDefusesFormulas(t *testing.T) {
	db, _ := chain(t, 0)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Time: t0, Actor: "x", Action: "request.submitted", Reason: "=HYPERLINK(\"http://evil\")"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := audit.Export(ctx, db, &buf, "csv", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	recs, _ := csv.NewReader(&buf).ReadAll()
	if got := recs[1][9]; !strings.HasPrefix(got, "'=") {
		t.Fatalf("reason cell: got %q, want it prefixed with a quote", got)
	}
}

// A Verifier checks anchors learnt while it walks the chain: one among the
// events just read at once, one ahead when its event comes; one further
// back than it remembers it declines, for the caller to verify again.
func TestVerifier_AnchorsLearntOnTheWay(t *testing.T) {
	const n = 5000
	db, _ := chain(t, n)
	walk := func(at int64, anchors ...audit.Anchor) (checked []bool, res audit.Result, err error) {
		v, err := audit.NewVerifier()
		if err != nil {
			t.Fatal(err)
		}
		err = db.Events(context.Background(), time.Time{}, time.Time{}, func(e *approvals.Event) error {
			if err := v.Add(e); err != nil {
				return err
			}
			if e.Seq == at {
				for _, a := range anchors {
					ok, err := v.Anchor(a)
					checked = append(checked, ok)
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return checked, res, err
		}
		res, err = v.Result()
		return checked, res, err
	}
	good := func(seq int) audit.Anchor { return audit.Anchor{Seq: int64(seq), Hash: hashAt(t, db, seq)} }
	wrong := func(seq int) audit.Anchor { return audit.Anchor{Seq: int64(seq), Hash: hashAt(t, db, seq+1)} }

	checked, res, err := walk(4200, good(4199), good(50), good(4600))
	if err != nil || res.Count != n || fmt.Sprint(checked) != "[true false true]" {
		t.Fatalf("true anchors: checked %v, %d events, %v; want [true false true], %d, nil", checked, res.Count, err, n)
	}
	var b *audit.BrokenError
	if _, _, err := walk(4200, wrong(4150)); !errors.As(err, &b) || b.Seq != 4150 {
		t.Errorf("a wrong anchor among the events just read: %v, want event 4150 to differ", err)
	}
	if _, _, err := walk(4200, wrong(4600)); !errors.As(err, &b) || b.Seq != 4600 {
		t.Errorf("a wrong anchor ahead: %v, want event 4600 to differ", err)
	}
	if _, _, err := walk(4200, audit.Anchor{Seq: -3, Hash: "x"}); !errors.As(err, &b) || !strings.Contains(b.Problem, "not in the chain") {
		t.Errorf("a negative anchor: %v, want it not in the chain", err)
	}
	if _, err := audit.NewVerifier(audit.Anchor{Seq: 0, Hash: "x"}); !errors.As(err, &b) || !strings.Contains(b.Problem, "genesis") {
		t.Errorf("an empty chain's anchor with another hash: %v", err)
	}
}
