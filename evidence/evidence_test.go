package evidence_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/evidence"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
)

type groups map[string][]string

func (g groups) GroupMembers(_ context.Context, handle string) ([]string, error) {
	return g[handle], nil
}

// slowRemoval is the dry-run provider, with removals failing while down.
type slowRemoval struct {
	approvals.Provisioner
	down atomic.Bool
}

func (s *slowRemoval) RemoveMember(ctx context.Context, m approvals.Membership) error {
	if s.down.Load() {
		return errors.New("the site answered 503")
	}
	return s.Provisioner.RemoveMember(ctx, m)
}

var (
	period0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	period1 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

// seeded is a quarter of a small company's access, made by the real
// engine on a fake clock: an automatic grant, an admin escalation in two
// steps, a decline, an external's grant revoked by IT, a removal an outage
// held up for 40 minutes, licence review answers (one of them someone
// answering about themself, as the bug issue 21 fixed allowed), an anchor
// posted to Slack.
func seeded(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jitbot.db")
	var jira *slowRemoval
	te := testenv.New(t, testenv.Options{Policy: testenv.Policy(testenv.PolicyParts{}), At: period0.Add(-12 * time.Hour), Path: path,
		Providers: func(db *store.DB) map[string]approvals.Provisioner {
			jira = &slowRemoval{Provisioner: provisioner.NewDryRun(db, nil)}
			return map[string]approvals.Provisioner{"dryrun": jira}
		},
		Config: func(c *approvals.Config) {
			c.Groups = groups{"it-leads": {"dave@example.com", "frank@example.com"}}
			c.Retry = approvals.RetryPolicy{Base: 10 * time.Minute, Cap: 10 * time.Minute, MaxAttempts: 20}
		}})
	ctx, svc, clock := te.Ctx, te.Svc, te.Clock
	if err := svc.SetPolicy(ctx, te.Policy); err != nil { // as jitbot run records it
		t.Fatal(err)
	}
	settle := func() { testenv.Settle(t, ctx, svc) }
	advance := func(d time.Duration) {
		t.Helper()
		clock.Advance(d)
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		settle()
	}
	submit := func(who, what string, d time.Duration, reason, ticket string) *approvals.Request {
		t.Helper()
		r, err := svc.Submit(ctx, approvals.SubmitInput{Requester: who, Resource: what, Duration: d, Reason: reason, Ticket: ticket})
		if err != nil {
			t.Fatal(err)
		}
		settle()
		return r
	}
	decide := func(id, who string, yes bool) {
		t.Helper()
		var err error
		if yes {
			_, err = svc.Approve(ctx, id, who, "")
		} else {
			_, err = svc.Decline(ctx, id, who, "not this week")
		}
		if err != nil {
			t.Fatal(err)
		}
		settle()
	}
	advance(13 * time.Hour) // into the period: 2026-10-01 01:00
	submit("alice@example.com", "confluence-finance", 2*time.Hour, `month-end <script>alert("x")</script>`, "")
	advance(3 * time.Hour)
	admin := submit("alice@example.com", "jira-admins", time.Hour, `deploy fix <script>alert("x")</script>`, "OPS-7")
	decide(admin.ID, "bob@example.com", true)
	decide(admin.ID, "dave@example.com", true)
	declined := submit("carol@example.com", "jira-admins", time.Hour, "curious", "OPS-8")
	decide(declined.ID, "bob@example.com", true)
	decide(declined.ID, "frank@example.com", false)
	advance(2 * time.Hour) // alice's admin access expires and is removed
	ext := submit("erin@partner.io", "confluence-finance", 24*time.Hour, "audit support", "")
	decide(ext.ID, "bob@example.com", true)
	decide(ext.ID, "carol@example.com", true)
	if _, err := svc.Revoke(ctx, ext.ID, "dave@example.com", "engagement over"); err != nil {
		t.Fatal(err)
	}
	settle()
	late := submit("carol@example.com", "confluence-finance", time.Hour, "close the books", "")
	jira.down.Store(true)
	advance(time.Hour) // expired; the removal fails and is retried in 10 minutes …
	advance(20 * time.Minute)
	jira.down.Store(false)
	advance(20 * time.Minute) // … and succeeds 40 minutes after the deadline
	if gs, _ := svc.Grants(ctx, late.ID); len(gs) != 1 || gs[0].State != approvals.GrantEnded {
		t.Fatalf("the late removal did not happen: %+v", gs)
	}
	// Licence review answers, as the review engine records them.
	err := te.DB.Update(ctx, func(tx approvals.Tx) error {
		now := clock.Now()
		for _, e := range []*approvals.Event{
			{Time: now, Actor: approvals.ActorSystem, Action: review.ActionRunStarted, Rule: "employees"},
			{Time: now, Actor: "bob@example.com", Action: review.ActionDecided, Subject: "carol@example.com", Rule: "employees",
				Reason: "=HYPERLINK(\"x\") quarter close", Data: map[string]string{"decision": "keep"}},
			{Time: now, Actor: "bob@example.com", Action: review.ActionDecided, Subject: "erin@partner.io", Rule: "employees",
				Data: map[string]string{"decision": "suspend"}},
			{Time: now, Actor: approvals.ActorSystem, Action: review.ActionSuspended, Subject: "erin@partner.io", Rule: "employees"},
			{Time: now, Actor: "dave@example.com", Action: review.ActionDecided, Subject: "dave@example.com", Rule: "employees",
				Reason: "I still need it", Data: map[string]string{"decision": "keep"}},
		} {
			if err := tx.Append(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&audit.Anchorer{Chain: te.DB, Poster: poster{}, Channel: "C0AUDIT", Clock: clock}).Anchor(ctx); err != nil {
		t.Fatal(err)
	}
	return te.DB, path
}

type poster struct{}

func (poster) Post(context.Context, string, string) error { return nil }

func build(t *testing.T, src evidence.Source) *evidence.Pack {
	t.Helper()
	p, err := evidence.Build(context.Background(), src, evidence.Options{From: period0, To: period1,
		Generated: time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC), Command: "jitbot evidence pack --from 2026-10-01 --to 2026-12-31 --out q4"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The pack of a seeded quarter: the populations counted, each auditor's
// test passing or failing as the quarter deserves, every file there, the
// CSVs' headers, what people typed escaped, the manifest verifying, the
// PDF a PDF.
func TestPack(t *testing.T) {
	db, path := seeded(t)
	db.Close()
	ro, err := store.Open(context.Background(), path, store.Options{ReadOnly: true}) // the pack only reads
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	p := build(t, ro)

	s := p.Stats()
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"grants", s.Grants, 4}, {"privileged", s.Privileged, 1}, {"auto", s.Auto, 2},
		{"decisions", s.Decisions, 6}, {"declines", s.Declines, 1}, {"removals", s.Removals, 4}, {"late", s.Late, 1},
		{"answers", s.Answers, 3}, {"kept", s.Kept, 2}, {"self answers", len(s.SelfAnswered), 1},
		{"ineligible", len(s.Ineligible), 0}, {"policies", len(p.Policies), 1}, {"review runs", p.ReviewRuns, 1},
		{"anchors", len(p.Chain.Anchors), 1}, {"account events", len(p.Lifecycle), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if !p.Chain.Verified || len(p.Policies) == 0 || !p.Policies[0].InForceAtStart {
		t.Fatalf("chain verified %v (%s), policies %+v", p.Chain.Verified, p.Chain.Problem, p.Policies)
	}
	results := map[string]bool{}
	for _, c := range p.Controls() {
		for _, ch := range c.Checks {
			results[c.ID+"/"+ch.Name] = ch.Pass
		}
	}
	want := map[string]bool{
		"sox-removal/Every membership was removed within 15 min of its grant's end":                                      false,
		"dora-9-4-c/Every decision was made by one of the step's approvers, none by the requester":                       true,
		"sox-provisioning/Every membership was approved before it was provisioned (or approved automatically by a rule)": true,
		"sox-review/Nobody answered a review about themselves":                                                           false,
		"iso-a-8-2/Every privileged grant had a person's approval":                                                       true,
		"chain/The audit chain verifies, and meets every anchor witnessed outside the database":                          true,
		"iso-a-5-15/A reviewed policy was in force throughout the period":                                                true,
	}
	for k, v := range want {
		if got, ok := results[k]; !ok || got != v {
			t.Errorf("%s: got pass=%v (present %v), want %v", k, got, ok, v)
		}
	}

	dir := filepath.Join(t.TempDir(), "q4")
	if err := evidence.Write(dir, p); err != nil {
		t.Fatal(err)
	}
	for _, f := range evidence.Files {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	html := read(t, dir, "index.html")
	for _, want := range []string{`id="dora-9-4-c"`, `id="iso-a-5-15"`, `id="iso-a-5-16"`, `id="iso-a-5-18"`, `id="iso-a-8-2"`,
		`id="sox-provisioning"`, `id="sox-removal"`, `id="sox-review"`, `id="chain"`, `<img src="removal-lag.png"`,
		"2026-10-01 to 2026-12-31", "dave@example.com answered keep about themselves",
		"alice@example.com", "approved by bob@example.com, dave@example.com"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>alert") || !strings.Contains(html, "&lt;script&gt;alert") {
		t.Error("what people typed reaches the page as HTML")
	}
	headers := map[string]string{
		"grants.csv":          "request_id,grant_id,person,resource,group,privileged,rule,reason,ticket,approved_by,approved,provisioned,deadline,ended,how_it_ended,removed,kept_standing,failed",
		"decisions.csv":       "time,request_id,step,approver,decision,requester,resource,eligible,self,reason",
		"removals.csv":        "request_id,grant_id,person,group,privileged,ended,how_it_ended,removed,minutes_after_end,late",
		"review-answers.csv":  "time,person,rule,decision,answered_by,reason,self",
		"accounts.csv":        "time,person,what,by,reason",
		"failures.csv":        "time,what,request_id,subject,reason,how_it_ended",
		"policy-versions.csv": "loaded,sha256,file,in_force_when_the_period_began",
	}
	for f, h := range headers {
		rows := readCSV(t, dir, f)
		if strings.Join(rows[0], ",") != h {
			t.Errorf("%s header: %v", f, rows[0])
		}
	}
	if rows := readCSV(t, dir, "removals.csv"); len(rows) != 5 {
		t.Errorf("removals.csv: %d rows, want a header and 4", len(rows))
	}
	if answers := read(t, dir, "review-answers.csv"); !strings.Contains(answers, `'=HYPERLINK`) {
		t.Errorf("a reason a spreadsheet would run as a formula is not escaped:\n%s", answers)
	}
	if !strings.Contains(read(t, dir, "chain.txt"), "result: ok") || !strings.Contains(read(t, dir, "REGENERATE.txt"), "--from 2026-10-01") {
		t.Error("chain.txt or REGENERATE.txt says the wrong thing")
	}
	checkManifest(t, dir)
	pdf := read(t, dir, "evidence.pdf")
	if !strings.HasPrefix(pdf, "%PDF-") {
		t.Fatal("evidence.pdf is not a PDF")
	}
	if _, err := exec.LookPath("pdftoppm"); err != nil && os.Getenv("JITBOT_REQUIRE_PDFTOPPM") != "" {
		t.Errorf("pdftoppm is not installed and JITBOT_REQUIRE_PDFTOPPM is set: the PDF must be rendered")
	} else if err != nil {
		t.Logf("pdftoppm not installed (Debian's poppler-utils; .ci/run installs it): the PDF was not rendered")
	} else if out, err := exec.Command("pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", filepath.Join(dir, "evidence.pdf"), filepath.Join(t.TempDir(), "page")).CombinedOutput(); err != nil {
		t.Errorf("pdftoppm could not render the PDF: %v\n%s", err, out)
	}
	if err := evidence.Write(dir, p); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("writing into the pack's folder again: %v, want a refusal", err)
	}
}

// A chain edited after the fact: the pack is still written, and says so.
func TestPack_EditedChain(t *testing.T) {
	db, _ := seeded(t)
	if _, err := db.WriteDB().Exec(`DROP TRIGGER IF EXISTS audit_events_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteDB().Exec(`UPDATE audit_events SET reason = 'nothing to see' WHERE action = 'request.declined'`); err != nil {
		t.Skipf("the store refuses edits to the chain (%v): nothing to check", err)
	}
	p := build(t, db)
	if p.Chain.Verified || !strings.Contains(p.Chain.Problem, "edited") {
		t.Fatalf("an edited chain: verified %v, problem %q", p.Chain.Verified, p.Chain.Problem)
	}
	for _, c := range p.Controls() {
		if c.ID == "chain" && c.Checks[0].Pass {
			t.Error("the chain check passed on an edited chain")
		}
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readCSV(t *testing.T, dir, name string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(read(t, dir, name))).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %v", name, err)
	}
	return rows
}

// checkManifest verifies MANIFEST.sha256 as sha256sum -c would, and with
// sha256sum itself where it is installed.
func checkManifest(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("manifest line %q is not SUM  NAME", sc.Text())
		}
		got := sha256.Sum256([]byte(read(t, dir, name)))
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("manifest: %s does not match", name)
		}
		listed++
	}
	if listed != len(evidence.Files)-1 {
		t.Errorf("manifest lists %d files, want %d", listed, len(evidence.Files)-1)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "--quiet", "MANIFEST.sha256")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
}

// TestPack_Look writes the seeded pack where JITBOT_EVIDENCE_OUT says, to
// look at by hand.
func TestPack_Look(t *testing.T) {
	out := os.Getenv("JITBOT_EVIDENCE_OUT")
	if out == "" {
		t.Skip("set JITBOT_EVIDENCE_OUT to a new folder to write the seeded pack there")
	}
	db, _ := seeded(t)
	if err := evidence.Write(out, build(t, db)); err != nil {
		t.Fatal(err)
	}
}

// An anchor posted long ago (more events back than the one pass remembers)
// is still checked: a true one verifies, a false one is the pack's finding.
func TestPack_AnchorFarBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		true bool
	}{{"True", true}, {"Rewritten", false}} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := seeded(t)
			var hash string
			if err := db.ReadDB().QueryRow(`SELECT hash FROM audit_events WHERE seq = 3`).Scan(&hash); err != nil {
				t.Fatal(err)
			}
			if !tc.true {
				hash = strings.Repeat("0", 64)
			}
			err := db.Update(context.Background(), func(tx approvals.Tx) error {
				for i := range 5000 {
					if err := tx.Append(&approvals.Event{Time: period1.Add(-3*time.Hour + time.Duration(i)*time.Millisecond), Actor: approvals.ActorSystem, Action: "test.filler"}); err != nil {
						return err
					}
				}
				return tx.Append(&approvals.Event{Time: period1.Add(-time.Hour), Actor: approvals.ActorSystem, Action: audit.ActionAnchored,
					Data: map[string]string{"seq": "3", "hash": hash, "channel": "C0AUDIT"}})
			})
			if err != nil {
				t.Fatal(err)
			}
			p := build(t, db)
			if p.Chain.Verified != tc.true || !tc.true && !strings.Contains(p.Chain.Problem, "anchor") {
				t.Fatalf("verified %v, problem %q; want verified %v", p.Chain.Verified, p.Chain.Problem, tc.true)
			}
		})
	}
}
