package review

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/policies"
)

// Report is a run with its items and the figures a digest shows.
type Report struct {
	Run      *Run
	Items    []*Item
	Outcomes map[ItemState]int
	// ByDepartment and ByProduct count the inactive people (items other
	// than excluded and not in Atlassian).
	ByDepartment map[string]int
	ByProduct    map[string]int
	// Reclaimable counts per product the licences of people suspended, or
	// to be suspended, by this run; MonthlyCost prices them with the
	// policy's licence_costs (0 when it has none).
	Reclaimable map[string]int
	MonthlyCost float64
	// Unassigned are the items with no manager to ask (IT answers).
	Unassigned int
	// NeedsIT lists the items IT must act on: deactivate at the IdP, failed.
	NeedsIT []*Item
}

// Report builds the report of one run.
func (e *Engine) Report(ctx context.Context, runID string) (*Report, error) {
	run, err := e.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	items, err := e.Items(ctx, ItemFilter{RunID: run.ID})
	if err != nil {
		return nil, err
	}
	return BuildReport(run, items, e.Policy().Review.LicenceCosts), nil
}

// BuildReport computes a report's figures.
func BuildReport(run *Run, items []*Item, costs map[string]float64) *Report {
	r := &Report{Run: run, Items: items, Outcomes: map[ItemState]int{}, ByDepartment: map[string]int{},
		ByProduct: map[string]int{}, Reclaimable: map[string]int{}}
	for _, it := range items {
		r.Outcomes[it.State]++
		if it.State == ItemExcluded || it.State == ItemNotInAtlassian {
			continue
		}
		if it.Unassigned {
			r.Unassigned++
		}
		dept := it.Department
		if dept == "" {
			dept = "(no department)"
		}
		r.ByDepartment[dept]++
		for _, p := range it.Products {
			r.ByProduct[p.Key]++
		}
		switch it.State {
		case ItemSuspended, ItemSuspending, ItemWarned:
			for _, p := range it.Products {
				r.Reclaimable[p.Key]++
			}
			r.MonthlyCost += it.MonthlyCost(costs)
		case ItemIdPManaged, ItemFailed:
			r.NeedsIT = append(r.NeedsIT, it)
		}
	}
	r.MonthlyCost = math.Round(r.MonthlyCost*100) / 100
	return r
}

// CSVHeader is the first row of a run's CSV.
var CSVHeader = []string{"run", "rule", "email", "name", "department", "manager", "products", "last_active",
	"inactive_since", "idle_days", "outcome", "decided_by", "decided_at", "reason", "finding", "done_at", "would"}

// WriteCSV writes the report's items as CSV. Every cell that a spreadsheet
// would read as a formula (starting with = + - @, tab or carriage return)
// is prefixed with a quote.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, it := range r.Items {
		manager := it.Manager
		if it.Unassigned {
			manager = "unassigned (IT)"
		}
		row := []string{r.Run.ID, it.Rule, it.Email, it.Name, it.Department, manager, productList(it), lastActiveList(it),
			date(it.InactiveSince), fmt.Sprint(it.IdleDays(r.Run.AsOf)), it.State.Outcome(), it.DecidedBy, stamp(it.DecidedAt),
			it.Reason, it.Finding, stamp(it.DoneAt), it.Would}
		for i := range row {
			row[i] = CSVCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVCell defuses a cell a spreadsheet would evaluate (CSV injection).
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// reportJSON is the JSON shape of a report.
type reportJSON struct {
	Run          runJSON            `json:"run"`
	Outcomes     map[ItemState]int  `json:"outcomes"`
	ByDepartment map[string]int     `json:"by_department"`
	ByProduct    map[string]int     `json:"by_product"`
	Reclaimable  map[string]int     `json:"reclaimable"`
	MonthlyCost  float64            `json:"monthly_cost"`
	Items        []itemJSON         `json:"items"`
	Settings     Settings           `json:"settings"`
	Counts       Counts             `json:"counts"`
	Costs        map[string]float64 `json:"-"`
}

type runJSON struct {
	ID         string    `json:"id"`
	Rule       string    `json:"rule"`
	State      RunState  `json:"state"`
	Trigger    string    `json:"trigger"`
	DryRun     bool      `json:"dry_run"`
	AsOf       time.Time `json:"as_of"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	Error      string    `json:"error,omitempty"`
}

type itemJSON struct {
	ID            string            `json:"id"`
	Email         string            `json:"email"`
	Name          string            `json:"name,omitempty"`
	AccountID     string            `json:"account_id,omitempty"`
	Department    string            `json:"department,omitempty"`
	Manager       string            `json:"manager,omitempty"`
	Unassigned    bool              `json:"unassigned,omitempty"`
	Products      []ProductActivity `json:"products"`
	InactiveSince time.Time         `json:"inactive_since,omitzero"`
	IdleDays      int               `json:"idle_days"`
	State         ItemState         `json:"state"`
	Outcome       string            `json:"outcome"`
	DecidedBy     string            `json:"decided_by,omitempty"`
	DecidedAt     time.Time         `json:"decided_at,omitzero"`
	Reason        string            `json:"reason,omitempty"`
	Finding       string            `json:"finding,omitempty"`
	Would         string            `json:"would,omitempty"`
	DoneAt        time.Time         `json:"done_at,omitzero"`
	AnswerBy      time.Time         `json:"answer_by,omitzero"`
	SuspendAt     time.Time         `json:"suspend_at,omitzero"`
	KeepRequest   string            `json:"keep_request,omitempty"`
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	out := reportJSON{Run: runJSON{ID: r.Run.ID, Rule: r.Run.Rule, State: r.Run.State, Trigger: r.Run.Trigger,
		DryRun: r.Run.DryRun, AsOf: r.Run.AsOf, StartedAt: r.Run.StartedAt, FinishedAt: r.Run.FinishedAt,
		ClosedAt: r.Run.ClosedAt, Error: r.Run.Error},
		Outcomes: r.Outcomes, ByDepartment: r.ByDepartment, ByProduct: r.ByProduct, Reclaimable: r.Reclaimable,
		MonthlyCost: r.MonthlyCost, Settings: r.Run.Settings, Counts: r.Run.Counts, Items: []itemJSON{}}
	for _, it := range r.Items {
		out.Items = append(out.Items, itemJSON{ID: it.ID, Email: it.Email, Name: it.Name, AccountID: it.AccountID,
			Department: it.Department, Manager: it.Manager, Unassigned: it.Unassigned, Products: it.Products,
			InactiveSince: it.InactiveSince, IdleDays: it.IdleDays(r.Run.AsOf), State: it.State, Outcome: it.State.Outcome(),
			DecidedBy: it.DecidedBy, DecidedAt: it.DecidedAt, Reason: it.Reason, Finding: it.Finding, Would: it.Would,
			DoneAt: it.DoneAt, AnswerBy: it.AnswerBy, SuspendAt: it.SuspendAt, KeepRequest: it.KeepRequest})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteTable prints the report for a terminal.
func (r *Report) WriteTable(w io.Writer) error {
	run := r.Run
	dry := ""
	if run.DryRun {
		dry = " — DRY RUN: nothing was changed"
	}
	fmt.Fprintf(w, "Run %s of rule %q (%s, %s)%s\n", run.ID, run.Rule, run.Settings.Action, run.State, dry)
	fmt.Fprintf(w, "started %s, inactivity measured at %s, inactive_for %s\n", stamp(run.StartedAt), stamp(run.AsOf),
		policies.FormatDuration(run.Settings.InactiveFor))
	c := run.Counts
	fmt.Fprintf(w, "directory %d: covered %d (active %d, added recently %d, kept earlier %d, under review elsewhere %d, listed %d); apps %d, closed %d, other rules %d\n",
		c.Directory, c.Covered, c.Active, c.TooNew, c.StillKept, c.UnderReview, c.Items, c.Apps, c.Closed, c.NotCovered)
	var outs []string
	for _, s := range sortedKeys(stateKeys(r.Outcomes)) {
		outs = append(outs, fmt.Sprintf("%s %d", ItemState(s).Outcome(), r.Outcomes[ItemState(s)]))
	}
	if len(outs) > 0 {
		fmt.Fprintf(w, "outcomes: %s\n", strings.Join(outs, ", "))
	}
	if r.MonthlyCost > 0 {
		fmt.Fprintf(w, "licences reclaimed: %s — %.2f a month\n", countList(r.Reclaimable), r.MonthlyCost)
	}
	if len(r.NeedsIT) > 0 {
		fmt.Fprintf(w, "IT must act on %d: ", len(r.NeedsIT))
		var ps []string
		for _, it := range r.NeedsIT {
			ps = append(ps, it.Email+" ("+it.State.Outcome()+")")
		}
		fmt.Fprintln(w, strings.Join(ps, ", "))
	}
	fmt.Fprintln(w)
	if len(r.Items) == 0 {
		_, err := fmt.Fprintln(w, "Nobody to review.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSON\tDEPARTMENT\tMANAGER\tLAST ACTIVE\tIDLE\tOUTCOME\tDECIDED BY\tWHY")
	for _, it := range r.Items {
		manager := it.Manager
		if it.Unassigned {
			manager = "unassigned (IT)"
		}
		why := it.Reason
		if it.State == ItemDryRun {
			why = "would " + it.Would
		}
		if why == "" {
			why = it.Finding
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%dd\t%s\t%s\t%s\n", it.Email, dash(it.Department), dash(manager), lastActiveList(it),
			it.IdleDays(run.AsOf), it.State.Outcome(), dash(it.DecidedBy), oneLine(why))
	}
	return tw.Flush()
}

func stateKeys(m map[ItemState]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

func countList(m map[string]int) string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(out, ", ")
}

func lastActiveList(it *Item) string {
	if len(it.Products) == 0 {
		return "never"
	}
	var out []string
	for _, p := range it.Products {
		when := "never"
		if !p.LastActive.IsZero() {
			when = date(p.LastActive)
		}
		out = append(out, p.Key+" "+when)
	}
	return strings.Join(out, "; ")
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
