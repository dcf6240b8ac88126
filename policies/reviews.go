package policies

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezone: must resolve the same on every host, containers included

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// The licence review part of a policy: the top-level keys reviews:,
// licence_costs: and timezone:.
//
//	reviews:
//	  - name: employees
//	    if: {user: {employment: internal}}
//	    products: [jira-software, confluence]
//	    inactive_for: 30d
//	    schedule: "0 9 * * MON"
//	    action: prompt_manager
//	    answer_within: 5d
//	    default: keep
//	    keep_for: 90d
//	    digest: "#it-licences"
//	licence_costs: {jira-software: 8.60, confluence: 6.05}
//	timezone: Europe/Paris

var (
	reviewKeys    = []string{"name", "if", "products", "inactive_for", "schedule", "action", "answer_within", "default", "keep_for", "warn_before", "exclude", "dry_run", "digest", "suspend_at"}
	reviewIfKeys  = []string{"user"}
	reviewActions = []string{ReviewReport, ReviewPromptManager, ReviewSuspend}
)

// Review actions: what a run does with the inactive people it finds.
const (
	ReviewReport        = "report"         // only list them
	ReviewPromptManager = "prompt_manager" // ask each person's manager: Keep or Suspend
	ReviewSuspend       = "suspend"        // suspend them (after warn_before, when set)
)

// Defaults of a prompt nobody answered within answer_within.
const (
	ReviewDefaultKeep    = "keep"
	ReviewDefaultSuspend = "suspend"
)

// DefaultKeepFor is how long a Keep holds when a rule sets no keep_for.
const DefaultKeepFor = 90 * Day

// Products are the Atlassian product keys the Admin API reports activity
// for (productAccess[].key), which reviews: and licence_costs: may name.
var Products = []string{
	"jira-software", "jira-servicedesk", "jira-core", "jira-work-management", "jira-product-discovery",
	"confluence", "opsgenie", "statuspage", "bitbucket", "trello", "compass", "atlas", "loom",
}

// ReviewSettings is the licence review part of a policy.
type ReviewSettings struct {
	Rules []*ReviewRule // in file order; the first that covers a person reviews them
	// LicenceCosts is the monthly cost of one user of each product, for the
	// savings figures; empty when the policy gives none.
	LicenceCosts map[string]float64
	Timezone     string         // IANA name schedules are read in; "" means UTC (see Zone, Loc)
	Location     *time.Location // Timezone, loaded; nil means UTC
}

// ReviewRule is one entry of reviews:.
type ReviewRule struct {
	Name string
	Line int         // where the rule starts in the policy file
	If   PersonMatch // who the rule covers (if: {user: …}); the zero match covers everyone
	// Products the person must be inactive in, all of them; empty means
	// every product the person has.
	Products    []string
	InactiveFor time.Duration
	Schedule    string // as written: cron (5 fields) or a descriptor (@daily, @every 12h)
	Action      string // report | prompt_manager | suspend
	// AnswerWithin is how long a manager has to answer a prompt; then
	// Default applies. Zero: the prompt waits for an answer.
	AnswerWithin time.Duration
	Default      string        // keep | suspend, for prompt_manager; keep when not set
	KeepFor      time.Duration // after a Keep, not asked again for this long
	// WarnBefore, for action suspend: the person and their manager are
	// warned this long before the suspension. Zero suspends at once.
	WarnBefore    time.Duration
	Exclude       []string // lower-cased email patterns (path.Match syntax: svc-*@example.com)
	ExcludeGroups []string // Atlassian group names (exclude: group:NAME)
	DryRun        bool     // report what would happen, change nothing
	// SuspendAt is where a suspension happens: atlassian (also when ""),
	// idp or auto (sources.go).
	SuspendAt string
	Digest    string // Slack channel for the run's digest; "" for none

	schedule
}

// schedule is a rule's parsed cron schedule in its timezone, shared by
// review and certification rules.
type schedule struct {
	sched cron.Schedule
	loc   *time.Location
}

// schedule reads a rule's schedule key, if any, into its text and s.
func (ps *parser) schedule(f map[string]entry, text *string, s *schedule) {
	e, has := f["schedule"]
	if !has {
		return
	}
	if str, ok := ps.str(e.val, "schedule"); ok {
		sched, err := ParseSchedule(str)
		if err != nil {
			ps.nodef(ps.deref(e.val), "%v", err)
		}
		*text, s.sched = str, sched
	}
}

// Next returns the first scheduled time of the rule strictly after t.
func (s *schedule) Next(t time.Time) time.Time {
	if s.sched == nil {
		return time.Time{}
	}
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	return s.sched.Next(t.In(loc)).UTC()
}

// Covers reports whether the rule's if: holds for a person with these
// attributes (employment is "" for someone not in jitbot's directory).
func (r *ReviewRule) Covers(email, department, employment string) bool {
	return r.If.Mismatch(email, department, employment) == ""
}

// Excluded returns the exclude: entry that takes the person out of the
// rule, if any: an email pattern, or "group:NAME" for one of groups.
func (r *ReviewRule) Excluded(email string, groups []string) (string, bool) {
	email = normEmail(email)
	for _, p := range r.Exclude {
		if ok, _ := path.Match(p, email); ok {
			return p, true
		}
	}
	for _, g := range r.ExcludeGroups {
		if slices.ContainsFunc(groups, func(h string) bool { return strings.EqualFold(g, h) }) {
			return "group:" + g, true
		}
	}
	return "", false
}

// Mismatch returns the first condition of m the person fails, as a phrase
// ("employment is external, not internal"), or "" when every condition holds.
func (m PersonMatch) Mismatch(email, department, employment string) string {
	email = normEmail(email)
	domain := ""
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	for _, c := range []struct {
		what, have string
		want       []string
	}{
		{"department", department, m.Department},
		{"employment", employment, m.Employment},
		{"email", email, m.Email},
		{"email domain", domain, m.EmailDomain},
	} {
		if !anyFold(c.want, c.have) {
			have := c.have
			if have == "" {
				have = "not known"
			}
			return fmt.Sprintf("%s is %s, not %s", c.what, have, strings.Join(c.want, " or "))
		}
	}
	return ""
}

// Describe says in words who m covers: "employment internal", or
// "everyone" for the zero match.
func (m PersonMatch) Describe() string {
	var parts []string
	for _, c := range []struct {
		what string
		vals []string
	}{{"department", m.Department}, {"employment", m.Employment}, {"email", m.Email}, {"email domain", m.EmailDomain}} {
		if len(c.vals) > 0 {
			parts = append(parts, c.what+" "+strings.Join(c.vals, " or "))
		}
	}
	if len(parts) == 0 {
		return "everyone"
	}
	return strings.Join(parts, " and ")
}

// Rule returns the review rule called name.
func (s *ReviewSettings) Rule(name string) (*ReviewRule, bool) {
	for _, r := range s.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// RuleFor returns the first review rule that covers the person, or nil.
func (s *ReviewSettings) RuleFor(email, department, employment string) *ReviewRule {
	for _, r := range s.Rules {
		if r.Covers(email, department, employment) {
			return r
		}
	}
	return nil
}

// ReviewSubject returns the attributes review rules match a person on: the
// jitbot directory's department and employment when the person is in it,
// else the department Atlassian reports and no employment.
func (p *Policy) ReviewSubject(email, atlassianDepartment string) (department, employment string, person *Person) {
	if per, ok := p.Person(email); ok {
		dept := per.Department
		if dept == "" {
			dept = atlassianDepartment
		}
		return dept, per.Employment, per
	}
	return atlassianDepartment, "", nil
}

// scheduleParser reads five-field cron specs (with day and month names)
// and the descriptors (@daily, @weekly, @every 12h…).
var scheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule checks a review schedule as the policy does.
func ParseSchedule(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: set the time zone with the policy's timezone: key, not in the schedule", spec)
	}
	s, err := scheduleParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %s; expected a cron expression (minute hour day-of-month month day-of-week, like \"0 9 * * MON\") or a descriptor (@daily, @weekly, @every 12h)", spec, cronProblem(spec, err))
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok && d.Delay < time.Minute {
		return nil, fmt.Errorf("schedule %q runs more often than once a minute", spec)
	}
	return s, nil
}

// ---- parsing ----

// timezone reads the time zone review schedules are read in.
func (ps *parser) timezone(n *yaml.Node) {
	st := &ps.pol.Review
	if s, ok := ps.str(n, "timezone"); ok {
		loc, err := time.LoadLocation(s)
		if err != nil || s == "Local" {
			ps.nodef(ps.deref(n), "timezone %q is not an IANA time zone name like Europe/Paris or UTC", s)
			return
		}
		st.Timezone, st.Location = s, loc
	}
}

// reviews reads the review rules.
func (ps *parser) reviews(n *yaml.Node) {
	st := &ps.pol.Review
	items, ok := ps.seq(n, "reviews")
	if !ok {
		return
	}
	names := map[string]int{}
	for i, it := range items {
		if r := ps.reviewRule(it, i, names); r != nil {
			r.loc = st.Loc()
			st.Rules = append(st.Rules, r)
		}
	}
}

// Loc returns the time zone schedules are read in: UTC unless timezone: says.
func (s *ReviewSettings) Loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Zone returns the timezone: name, "UTC" unless the policy says.
func (s *ReviewSettings) Zone() string {
	if s.Timezone == "" {
		return "UTC"
	}
	return s.Timezone
}

// licenceCosts reads licence_costs: the monthly cost of a user of each product.
func (ps *parser) licenceCosts(n *yaml.Node) {
	st := &ps.pol.Review
	f, ok := ps.fields(n, "licence_costs", Products)
	if !ok {
		return
	}
	st.LicenceCosts = map[string]float64{}
	for k, e := range f {
		v := ps.deref(e.val)
		c, err := strconv.ParseFloat(v.Value, 64)
		if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!int" && v.ShortTag() != "!!float") || err != nil || c < 0 {
			ps.nodef(v, "licence_costs: %s must be a cost per user and month like 8.60, got %s", k, describe(v))
			continue
		}
		st.LicenceCosts[k] = c
	}
}

func (ps *parser) reviewRule(n *yaml.Node, i int, names map[string]int) *ReviewRule {
	f, ok := ps.fields(n, "a review rule", reviewKeys)
	if !ok {
		return nil
	}
	node := ps.deref(n)
	r := &ReviewRule{Name: fmt.Sprintf("review %d", i+1), Line: node.Line, KeepFor: DefaultKeepFor}
	ps.reviewAt = append(ps.reviewAt, ps.keyPositions(n))
	what := ps.ruleName(f, "review rule", names, &r.Name)
	ps.require(n, f, what, "name", "inactive_for", "schedule", "action")
	if e, has := f["if"]; has {
		if g, ok := ps.fields(e.val, "if", reviewIfKeys); ok {
			if u, has := g["user"]; has {
				ps.requester(u.val, &r.If)
			}
		}
	}
	if e, has := f["products"]; has {
		ps.nonEmpty(e.val, "products")
		keys, nodes, _ := ps.strs(e.val, "products", true)
		for j, k := range keys {
			k = strings.ToLower(k)
			switch {
			case !slices.Contains(Products, k):
				ps.nodef(nodes[j], "unknown product %q: expected one of %s", k, strings.Join(Products, ", "))
			case slices.Contains(r.Products, k):
				ps.nodef(nodes[j], "product %q is listed twice", k)
			default:
				r.Products = append(r.Products, k)
			}
		}
	}
	if e, has := f["inactive_for"]; has {
		r.InactiveFor, _ = ps.duration(e.val, "inactive_for")
	}
	ps.schedule(f, &r.Schedule, &r.schedule)
	if e, has := f["action"]; has {
		r.Action, _ = ps.oneOf(e.val, "action", reviewActions...)
	}
	onlyFor := func(key, action string) bool {
		e, has := f[key]
		if has && r.Action != "" && r.Action != action {
			ps.nodef(e.key, "%s applies to action: %s only; %s is action: %s", key, action, what, r.Action)
			return false
		}
		return has
	}
	if onlyFor("answer_within", ReviewPromptManager) {
		r.AnswerWithin, _ = ps.duration(f["answer_within"].val, "answer_within")
	}
	if onlyFor("default", ReviewPromptManager) {
		r.Default, _ = ps.oneOf(f["default"].val, "default", ReviewDefaultKeep, ReviewDefaultSuspend)
		if r.Default == ReviewDefaultSuspend && r.AnswerWithin == 0 {
			if _, has := f["answer_within"]; !has {
				ps.nodef(ps.deref(f["default"].val), "default: suspend needs answer_within: without it no deadline ever applies the default")
			}
		}
	}
	if r.Action == ReviewPromptManager && r.Default == "" {
		r.Default = ReviewDefaultKeep
	}
	if e, has := f["keep_for"]; has {
		if r.Action == ReviewReport {
			ps.nodef(e.key, "keep_for has no effect with action: report, which asks nobody")
		} else if d, ok := ps.duration(e.val, "keep_for"); ok {
			r.KeepFor = d
		}
	}
	if onlyFor("warn_before", ReviewSuspend) {
		if d, ok := ps.duration(f["warn_before"].val, "warn_before"); ok {
			if r.InactiveFor > 0 && d >= r.InactiveFor {
				ps.nodef(ps.deref(f["warn_before"].val), "warn_before %s must be shorter than inactive_for %s",
					FormatDuration(d), FormatDuration(r.InactiveFor))
			}
			r.WarnBefore = d
		}
	}
	if e, has := f["exclude"]; has {
		ps.nonEmpty(e.val, "exclude")
		vals, nodes, _ := ps.strs(e.val, "exclude", true)
		for j, v := range vals {
			if g, ok := strings.CutPrefix(v, "group:"); ok {
				if strings.TrimSpace(g) == "" {
					ps.nodef(nodes[j], "exclude %q: expected group: followed by an Atlassian group name", v)
					continue
				}
				r.ExcludeGroups = append(r.ExcludeGroups, strings.TrimSpace(g))
				continue
			}
			p := normEmail(v)
			if _, err := path.Match(p, ""); err != nil || !strings.Contains(p, "@") {
				ps.nodef(nodes[j], "exclude %q: expected an email pattern like svc-*@example.com or group:NAME", v)
				continue
			}
			r.Exclude = append(r.Exclude, p)
		}
	}
	if e, has := f["dry_run"]; has {
		r.DryRun, _ = ps.boolean(e.val, "dry_run")
	}
	ps.suspendAt(f, r)
	if e, has := f["digest"]; has {
		r.Digest, _ = ps.str(e.val, "digest")
	}
	return r
}

// cronFields names the five fields of a cron expression, in order.
var cronFields = []string{"minute", "hour", "day-of-month", "month", "day-of-week"}

var (
	cronInt     = regexp.MustCompile(`^failed to parse int from (.*?): strconv`)
	cronAbove   = regexp.MustCompile(`^end of range \((\d+)\) above maximum \((\d+)\)`)
	cronBelow   = regexp.MustCompile(`^beginning of range \((\d+)\) below minimum \((\d+)\)`)
	cronReverse = regexp.MustCompile(`^beginning of range \((\d+)\) beyond end of range \((\d+)\)`)
	cronFieldsN = regexp.MustCompile(`^expected exactly 5 fields, found (\d+)`)
)

// cronProblem says in words what the cron library found wrong with spec:
// its messages carry Go internals (strconv.Atoi) and no field names.
func cronProblem(spec string, err error) string {
	msg := err.Error()
	field := func(token string) string {
		for i, f := range strings.Fields(spec) {
			if i < len(cronFields) && strings.Contains(f, token) {
				return " in the " + cronFields[i] + " field"
			}
		}
		return ""
	}
	switch m := []string(nil); {
	case strings.HasPrefix(msg, "unrecognized descriptor"):
		return fmt.Sprintf("%s is not a descriptor: use @yearly, @monthly, @weekly, @daily, @hourly or @every followed by a duration", strings.Fields(spec)[0])
	case strings.HasPrefix(msg, "failed to parse duration"):
		return "@every needs a duration like 12h or 90m"
	case strings.HasPrefix(msg, "step of range"):
		return "a step (the number after /) must be a positive number"
	default:
		if m = cronInt.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("%q%s is not a number or a name (days SUN MON TUE WED THU FRI SAT, months JAN to DEC)", m[1], field(m[1]))
		}
		if m = cronAbove.FindStringSubmatch(msg); m != nil {
			// The maximum tells the field: a value may be in several.
			in := map[string]string{"59": " in the minute field", "23": " in the hour field", "31": " in the day-of-month field",
				"12": " in the month field", "6": " in the day-of-week field"}[m[2]]
			return fmt.Sprintf("%s%s is above its maximum %s", m[1], in, m[2])
		}
		if m = cronBelow.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("%s%s is below its minimum %s", m[1], field(m[1]), m[2])
		}
		if m = cronReverse.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("the range %s-%s%s runs backwards", m[1], m[2], field(m[1]+"-"+m[2]))
		}
		if m = cronFieldsN.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("it has %s fields, a cron expression has 5", m[1])
		}
	}
	return "it cannot be read"
}

// ruleName reads a rule's name: into *name, refused when names (name →
// line) has it already; it returns how messages call the rule ("review
// rule \"x\"", or "a review rule" without a name).
func (ps *parser) ruleName(f map[string]entry, kind string, names map[string]int, name *string) string {
	e, has := f["name"]
	if !has {
		return "a " + kind
	}
	s, ok := ps.str(e.val, "name")
	if !ok {
		return "a " + kind
	}
	v := ps.deref(e.val)
	if line, dup := names[s]; dup {
		ps.nodef(v, "%s name %q is already used (first at line %d)", kind, s, line)
	} else {
		names[s] = v.Line
	}
	*name = s
	return fmt.Sprintf("%s %q", kind, s)
}
