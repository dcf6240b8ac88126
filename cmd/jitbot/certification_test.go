package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/store"
)

const certCLIPolicy = `directory:
  people:
    - {email: alice@example.com, department: Eng, manager: bob@example.com}
    - {email: bob@example.com, department: Eng}
    - {email: carol@example.com, department: Eng, manager: bob@example.com}
resources:
  - {id: jira-admins, provider: dryrun, group: jira-admins, kind: admin, owners: [carol@example.com]}
  - {id: wiki, provider: dryrun, group: wiki}
rules:
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
certifications:
  - name: admins
    resources: [jira-admins]
    reviewers: [owner, manager]
    schedule: "0 9 1 * *"
`

// certCLI writes the policy and a database whose dry-run ledger has the
// members of jira-admins: alice, carol, and =evil@example.com, a formula.
func certCLI(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"JITBOT_POLICY": filepath.Join(dir, "policy.yaml"), "JITBOT_DB": filepath.Join(dir, "jitbot.db")}
	if err := os.WriteFile(env["JITBOT_POLICY"], []byte(certCLIPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), env["JITBOT_DB"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{"alice@example.com", "carol@example.com", "=evil@example.com"} {
		if _, err := db.DryRunAdd(context.Background(), approvals.Membership{Provider: "dryrun", Group: "jira-admins", Person: p}); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func TestCLI_ReportStanding(t *testing.T) {
	env := certCLI(t)
	code, out, errOut := runCLI(t, env, "report", "standing")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"dryrun/jira-admins  alice@example.com", "carol@example.com", "not in the directory (left?)",
		"3 standing memberships in 1 groups"} {
		if !strings.Contains(out, want) {
			t.Errorf("report standing: got\n%s\nwant %q", out, want)
		}
	}
	code, out, _ = runCLI(t, env, "report", "standing", "--format", "csv")
	if code != exitOK {
		t.Fatalf("csv: exit %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || strings.Join(recs[0], ",") != "resource,provider,group,person,in_directory,recorded_standing,member_since,last_active,ever_jit" {
		t.Fatalf("csv: got %q", recs)
	}
	if recs[1][3] != "'=evil@example.com" {
		t.Errorf("csv: a formula must be defused, got %q", recs[1][3])
	}
	if code, _, errOut := runCLI(t, env, "report", "standing", "--group", "confluence-*"); code != exitUsage || !strings.Contains(errOut, "matches no group") {
		t.Errorf("--group matching nothing: exit %d, %s", code, errOut)
	}
}

func TestCLI_Certification(t *testing.T) {
	env := certCLI(t)
	code, out, errOut := runCLI(t, env, "certification", "list")
	if code != exitOK || !strings.Contains(out, "admins") || !strings.Contains(out, "jira-admins") || !strings.Contains(out, "owner manager") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, env, "certification", "run", "admins")
	if code != exitOK {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "[1/1] dryrun/jira-admins: 3 standing members") {
		t.Errorf("run: no progress on stderr: %q", errOut)
	}
	for _, want := range []string{"open", "3 standing memberships (pending 3)", "alice@example.com  carol@example.com",
		"carol@example.com  bob@example.com", "running bot delivers them"} {
		if !strings.Contains(out, want) {
			t.Errorf("run: got\n%s\nwant %q", out, want)
		}
	}
	if code, _, errOut := runCLI(t, env, "certification", "run", "admins"); code != exitFailure || !strings.Contains(errOut, "is still open until") {
		t.Errorf("a second run while the first is open: exit %d, %s", code, errOut)
	}
	code, out, _ = runCLI(t, env, "certification", "report", "--format", "csv")
	if code != exitOK {
		t.Fatalf("report: exit %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][5] != "person" || recs[1][7] != "pending" {
		t.Fatalf("report csv: got %q %v", recs, err)
	}
	if code, _, errOut := runCLI(t, env, "certification", "run", "nope"); code != exitUsage || !strings.Contains(errOut, `no certification rule "nope"`) {
		t.Errorf("run nope: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, env, "certification", "report", "--campaign", "deadbeefdead"); code != exitFailure || !strings.Contains(errOut, "no certification campaign") {
		t.Errorf("report of an unknown campaign: exit %d %s", code, errOut)
	}
}

// An item escalated with terms that named nobody (as the running bot's
// sweep records it) shows as unescalated in the report: a column in the
// table with the terms, the why under it, a CSV column.
func TestCLI_CertificationReportUnescalated(t *testing.T) {
	env := certCLI(t)
	if code, _, errOut := runCLI(t, env, "certification", "run", "admins"); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	const why = "manager: the reviewer carol@example.com has no manager in the directory; group:empty: the Slack user group @empty has no members"
	db, err := store.Open(context.Background(), env["JITBOT_DB"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.UpdateCert(context.Background(), func(tx certify.Tx) error {
		its, err := tx.CertItems(certify.ItemFilter{})
		if err != nil {
			return err
		}
		for _, it := range its {
			if it.Person == "alice@example.com" {
				it.Escalated, it.Unescalated = true, why
				return tx.UpdateCertItem(it, certify.ItemPending)
			}
		}
		t.Fatal("no item for alice")
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "certification", "report")
	if code != exitOK {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ESCALATED", "yes, unescalated: manager, group:empty",
		"Unescalated: escalate_to terms that named nobody", "alice@example.com in dryrun/jira-admins: " + why} {
		if !strings.Contains(out, want) {
			t.Errorf("report: got\n%s\nwant %q", out, want)
		}
	}
	code, out, _ = runCLI(t, env, "certification", "report", "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != exitOK || err != nil || len(recs) != 4 {
		t.Fatalf("csv: exit %d %v %q", code, err, recs)
	}
	last := len(recs[0]) - 1
	if recs[0][last] != "unescalated" {
		t.Fatalf("csv header: %q", recs[0])
	}
	for _, r := range recs[1:] {
		if want := map[bool]string{true: why}[r[5] == "alice@example.com"]; r[last] != want {
			t.Errorf("csv %s: unescalated %q, want %q", r[5], r[last], want)
		}
	}
}
