package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/review"
)

// Files lists what Write puts in the folder, MANIFEST.sha256 last.
var Files = []string{"index.html", "evidence.pdf", "removal-lag.png", "grants.csv", "decisions.csv", "removals.csv",
	"review-answers.csv", "certifications.csv", "break-glass.csv", "accounts.csv", "failures.csv", "policy-versions.csv", "chain.txt", "REGENERATE.txt", "MANIFEST.sha256"}

// Write puts the pack in dir, which must be empty or not exist yet (so that
// the manifest lists exactly what is there): the files of Files.
func Write(dir string, p *Pack) error {
	if err := emptyDir(dir); err != nil {
		return err
	}
	chart, err := lagChart(p)
	if err != nil {
		return fmt.Errorf("the removal chart: %w", err)
	}
	files := map[string][]byte{"removal-lag.png": chart}
	for name, fn := range map[string]func(*Pack) ([][]string, error){
		"grants.csv": grantRows, "decisions.csv": decisionRows, "removals.csv": removalRows, "review-answers.csv": reviewRows,
		"certifications.csv": certRows, "break-glass.csv": breakGlassRows,
		"accounts.csv": accountRows, "failures.csv": failureRows, "policy-versions.csv": policyRows,
	} {
		rows, err := fn(p)
		if err != nil {
			return err
		}
		files[name] = csvBytes(rows)
	}
	files["chain.txt"] = chainText(p)
	files["REGENERATE.txt"] = []byte("The command that made this pack, run against the same database, makes it again:\n\n    " + p.Command + "\n\nCheck that no file was changed since:\n\n    sha256sum -c MANIFEST.sha256\n")
	if files["index.html"], err = htmlPage(p); err != nil {
		return err
	}
	if files["evidence.pdf"], err = pdfDocument(p, chart); err != nil {
		return fmt.Errorf("the PDF: %w", err)
	}
	var manifest bytes.Buffer
	for _, name := range Files[:len(Files)-1] {
		sum := sha256.Sum256(files[name])
		fmt.Fprintf(&manifest, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	files["MANIFEST.sha256"] = manifest.Bytes()
	for _, name := range Files {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// emptyDir makes dir, or checks that it is empty.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: name a new folder, so that the pack's manifest lists everything in it", dir)
	}
	return nil
}

func csvBytes(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for _, r := range rows {
		for i := range r {
			r[i] = review.CSVCell(r[i]) // no cell a spreadsheet would run as a formula
		}
		_ = w.Write(r)
	}
	w.Flush()
	return b.Bytes()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func grantRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"request_id", "grant_id", "person", "resource", "group", "privileged", "rule", "reason", "ticket",
		"approved_by", "approved", "provisioned", "deadline", "ended", "how_it_ended", "removed", "kept_standing", "failed"}}
	for _, g := range p.Grants {
		approvers := strings.Join(g.Approvers, " ")
		if g.Auto {
			approvers = "auto: " + g.Rule
		}
		rows = append(rows, []string{g.RequestID, g.GrantID, g.Person, g.Resource, g.Group, yes(g.Privileged), g.Rule, g.Reason, g.Ticket,
			approvers, stamp(g.Approved), stamp(g.Provisioned), stamp(g.Deadline), stamp(g.Ended), g.EndedHow, stamp(g.Removed), yes(g.Kept), g.Failed})
	}
	return rows, nil
}

func decisionRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"time", "request_id", "step", "approver", "decision", "requester", "resource", "eligible", "self", "reason"}}
	for _, d := range p.Decisions {
		what := "decline"
		if d.Approved {
			what = "approve"
		}
		rows = append(rows, []string{stamp(d.Time), d.RequestID, fmt.Sprint(d.Step), d.Approver, what, d.Requester, d.Resource, yes(d.Eligible), yes(d.Self), d.Reason})
	}
	return rows, nil
}

func removalRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"request_id", "grant_id", "person", "group", "privileged", "ended", "how_it_ended", "removed", "minutes_after_end", "late"}}
	for _, g := range p.Grants {
		lag, ok := g.RemovalLag()
		if !ok || !inPeriod(g.Removed, p.From, p.To) {
			continue
		}
		rows = append(rows, []string{g.RequestID, g.GrantID, g.Person, g.Group, yes(g.Privileged), stamp(g.Ended), g.EndedHow, stamp(g.Removed),
			fmt.Sprintf("%.2f", lag.Minutes()), yes(lag > LateAfter)})
	}
	return rows, nil
}

func reviewRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"time", "person", "rule", "decision", "answered_by", "reason", "self"}}
	for _, a := range p.Reviews {
		rows = append(rows, []string{stamp(a.Time), a.Person, a.Rule, a.Decision, a.By, a.Reason, yes(a.Self)})
	}
	return rows, nil
}

func accountRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"time", "person", "what", "by", "reason"}}
	for _, a := range p.Lifecycle {
		rows = append(rows, []string{stamp(a.Time), a.Person, a.Action, a.By, a.Reason})
	}
	return rows, nil
}

func failureRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"time", "what", "request_id", "subject", "reason", "how_it_ended"}}
	for _, f := range p.Failures {
		rows = append(rows, []string{stamp(f.Time), f.Action, f.RequestID, f.Subject, f.Reason, orNone(f.Outcome)})
	}
	return rows, nil
}

func policyRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"loaded", "sha256", "file", "in_force_when_the_period_began"}}
	for _, v := range p.Policies {
		rows = append(rows, []string{stamp(v.Loaded), v.SHA256, v.File, yes(v.InForceAtStart)})
	}
	return rows, nil
}

func orNone(s string) string {
	if s == "" {
		return "nothing later in the chain"
	}
	return s
}

// chainText says how the chain was verified, for the auditor to repeat.
func chainText(p *Pack) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Audit chain of this database, verified %s\n\n", stamp(p.Generated))
	fmt.Fprintf(&b, "head:   %s\nevents: %d\n", p.Chain.Head, p.Chain.Events)
	if p.Chain.Verified {
		fmt.Fprintf(&b, "result: ok — every event links to the one before and matches its hash, and every anchor below matches\n")
	} else {
		fmt.Fprintf(&b, "result: FAILED — %s\n", p.Chain.Problem)
	}
	fmt.Fprintf(&b, "\nAnchors (heads witnessed outside the database):\n")
	if len(p.Chain.Anchors) == 0 {
		fmt.Fprintf(&b, "  none in the period\n")
	}
	var args []string
	for _, a := range p.Chain.Anchors {
		where := "given on the command line"
		if !a.Posted.IsZero() {
			where = "posted to " + a.Channel + " at " + stamp(a.Posted)
		}
		fmt.Fprintf(&b, "  %s  (%s)\n", a.Anchor, where)
		args = append(args, "--anchor "+a.Anchor.String())
	}
	fmt.Fprintf(&b, "\nTo verify again (the anchors' posts are in Slack, where nobody with the database can edit them):\n\n    jitbot audit verify %s\n", strings.Join(slices.Compact(args), " "))
	return b.Bytes()
}
