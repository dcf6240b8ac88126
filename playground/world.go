package playground

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
)

// World is what the playground runs the real bot against: a local Slack
// (Socket Mode and the Web API on 127.0.0.1) with a member per person of
// the policy's directory, its channels and user groups, and a local
// Atlassian Cloud (Jira and the Admin API) holding the same people, the
// policy's groups and a seeded history of product activity. Both are the
// fakes the tests use, started outside a test.
type World struct {
	Clock     *Clock
	Slack     *localslack.Server
	Atlassian *atlassianfake.Server
	// Okta is the local identity provider the bot's directory syncs from
	// (directory.go): the same people, their managers and departments.
	Okta       *idpfake.Okta
	oktaGroups []oktaGroup // the groups of the policy's okta resources
	// People are the directory's people as the page's switcher offers
	// them, in the directory's order (by email).
	People []Person
	// ITGroup is the Slack user group handle IT members are in
	// (JITBOT_IT_GROUP); AlertChannel the channel alerts go to.
	ITGroup      string
	AlertChannel string

	env map[string]string
}

// Person is someone the page can act as.
type Person struct {
	Email      string
	Name       string // the Slack display name
	SlackID    string
	Department string
	Manager    string
	Employment string
	// Roles say what the person does in the policy, for the switcher:
	// "manager of alice, carol", "IT (it-leads)".
	Roles []string
}

// managerOf begins the role of a manager ("manager of alice, carol").
const managerOf = "manager of "

// setManagerRoles gives each manager among people, in place of any they
// had, the role naming whom they manage, first among their roles.
func setManagerRoles(people []Person) {
	reports := map[string][]string{}
	for i, per := range people {
		people[i].Roles = slices.DeleteFunc(slices.Clone(per.Roles), func(r string) bool { return strings.HasPrefix(r, managerOf) })
		if per.Manager != "" {
			reports[per.Manager] = append(reports[per.Manager], localPart(per.Email))
		}
	}
	for i := range people {
		if rs := reports[people[i].Email]; len(rs) > 0 {
			people[i].Roles = append([]string{managerOf + strings.Join(rs, ", ")}, people[i].Roles...)
		}
	}
}

// Label is how the switcher names the person.
func (p Person) Label() string {
	what := p.Employment
	if what == "" {
		what = "person"
	}
	if what == "internal" {
		what = "employee"
	}
	if p.Department != "" {
		what += ", " + p.Department
	}
	parts := append([]string{what}, p.Roles...)
	return p.Name + " — " + strings.Join(parts, "; ")
}

// WorldOptions configure NewWorld.
type WorldOptions struct {
	// Start is when the simulated clock starts; zero: now.
	Start time.Time
	// Groups sets the members (emails) of Slack user groups by handle; a
	// handle the policy names and Groups does not gets the directory's IT
	// department.
	Groups map[string][]string
	// Logf receives the fakes' log lines (what they do not check, what
	// Slack would have refused).
	Logf func(format string, args ...any)
}

// The playground's fixed names.
const (
	itGroup      = "it"
	alertChannel = "it-alerts"
)

// NewWorld starts the local Slack, Atlassian and Okta for policy p, on a
// new Clock. Close stops them.
func NewWorld(p *policies.Policy, o WorldOptions) (*World, error) {
	if o.Start.IsZero() {
		o.Start = time.Now().UTC().Truncate(time.Second)
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w := &World{Clock: NewClock(o.Start), ITGroup: itGroup, AlertChannel: "#" + alertChannel}
	var err error
	// The pace, Block Kit limits and 429s are Slack's; events are spread
	// over the bot's connections as Slack spreads them.
	w.Slack, err = localslack.Start(localslack.Options{Now: w.Clock.Now, Logf: logf, Spread: true})
	if err != nil {
		return nil, err
	}
	w.Atlassian, err = atlassianfake.Start(atlassianfake.Options{Now: w.Clock.Now, Logf: logf})
	if err != nil {
		w.Slack.Close()
		return nil, err
	}
	if w.Okta, err = idpfake.StartOkta(idpfake.Options{Now: w.Clock.Now, Logf: logf}); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.populate(p, o); err != nil {
		w.Close()
		return nil, err
	}
	w.fillOkta(p) // directory.go
	ao := w.Atlassian.Options()
	w.env = map[string]string{
		"SLACK_BOT_TOKEN": w.Slack.BotToken(), "SLACK_APP_TOKEN": w.Slack.AppToken(), "SLACK_API_URL": w.Slack.APIURL(),
		"JITBOT_IT_GROUP": w.ITGroup, "JITBOT_ALERT_CHANNEL": w.AlertChannel,
		"ATLASSIAN_SITE_URL": w.Atlassian.URL(), "ATLASSIAN_EMAIL": ao.Email, "ATLASSIAN_API_TOKEN": ao.Token,
		"ATLASSIAN_API_URL": w.Atlassian.URL(), "ATLASSIAN_ORG_ID": ao.OrgID, "ATLASSIAN_ADMIN_API_KEY": ao.APIKey,
		"ATLASSIAN_DIRECTORY_ID": ao.Directory, "OKTA_API_TOKEN": w.Okta.Token(),
	}
	return w, nil
}

// Getenv is the environment jitbot runs with in the playground: the local
// Slack's tokens and URL, the local Atlassian's, the local Okta's token,
// the IT group and the alert channel.
func (w *World) Getenv(key string) string { return w.env[key] }

// Close stops the local Slack, Atlassian and Okta.
func (w *World) Close() {
	if w.Okta != nil {
		_ = w.Okta.Close()
	}
	if w.Slack != nil {
		w.Slack.Close()
	}
	if w.Atlassian != nil {
		w.Atlassian.Close()
	}
}

// Person returns the person with a Slack user id.
func (w *World) Person(slackID string) (Person, bool) {
	i := slices.IndexFunc(w.People, func(p Person) bool { return p.SlackID == slackID })
	if i < 0 {
		return Person{}, false
	}
	return w.People[i], true
}

// populate fills both fakes from the policy.
func (w *World) populate(p *policies.Policy, o WorldOptions) error {
	emails := make([]string, 0, len(p.People))
	for e := range p.People {
		emails = append(emails, e)
	}
	sort.Strings(emails)
	if len(emails) == 0 {
		return fmt.Errorf("the policy's directory is empty: the playground needs people to act as")
	}
	used := map[string]bool{}
	byEmail := map[string]*Person{}
	for _, e := range emails {
		pp := p.People[e]
		per := Person{Email: e, Name: localPart(e), SlackID: pp.SlackID, Department: pp.Department,
			Manager: pp.Manager, Employment: pp.Employment}
		if per.SlackID == "" {
			per.SlackID = uniqueID("U", per.Name, used)
		}
		used[per.SlackID] = true
		w.People = append(w.People, per)
	}
	for i := range w.People {
		byEmail[w.People[i].Email] = &w.People[i]
	}
	for _, per := range w.People {
		w.Slack.AddUser(localslack.User{ID: per.SlackID, Name: per.Name, RealName: realName(per.Name), Email: per.Email,
			Title: per.Department})
	}
	setManagerRoles(w.People) // who manages whom

	// Slack user groups: the IT group and every group:HANDLE a rule names.
	handles := []string{itGroup}
	for _, r := range p.Rules {
		for _, t := range ruleTerms(r) {
			if h, ok := strings.CutPrefix(t, "group:"); ok && !slices.Contains(handles, h) {
				handles = append(handles, h)
			}
		}
	}
	var it []string
	for _, per := range w.People {
		if strings.EqualFold(per.Department, "IT") {
			it = append(it, per.Email)
		}
	}
	for i, h := range handles {
		members, ok := o.Groups[h]
		if !ok {
			members = it
		}
		var ids []string
		for _, e := range members {
			per := byEmail[strings.ToLower(strings.TrimSpace(e))]
			if per == nil {
				return fmt.Errorf("user group @%s: %s is not in the policy's directory", h, e)
			}
			ids = append(ids, per.SlackID)
			role := "in @" + h
			if h == itGroup {
				role = "IT (@" + h + ")"
			}
			per.Roles = append(per.Roles, role)
		}
		w.Slack.AddUserGroup(fmt.Sprintf("S%04d", i+1), h, ids...)
	}

	// Channels: the alert channel, the rules' notify channels, the review
	// digests.
	chans := []string{alertChannel}
	addChan := func(c string) {
		if c = strings.TrimPrefix(strings.TrimSpace(c), "#"); c != "" && !slices.Contains(chans, c) {
			chans = append(chans, c)
		}
	}
	for _, r := range p.Rules {
		for _, c := range r.Then.Notify {
			addChan(c)
		}
		if bg := r.Then.BreakGlass; bg != nil {
			for _, c := range bg.Notify {
				addChan(c)
			}
		}
	}
	for _, r := range p.Review.Rules {
		addChan(r.Digest)
	}
	for _, r := range p.Certifications {
		addChan(r.Channel)
	}
	usedChan := map[string]bool{}
	for _, c := range chans {
		id := uniqueID("C", c, usedChan)
		usedChan[id] = true
		w.Slack.AddChannel(id, c)
	}

	// Atlassian: the policy's groups, a group per department and staff;
	// everyone with seeded activity.
	groups := []string{"staff"}
	addGroup := func(g string) {
		if g != "" && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for provider, gs := range p.Groups() {
		if provider == policies.ProviderDryRun {
			continue
		}
		for _, g := range gs {
			addGroup(g)
		}
	}
	for _, r := range p.Review.Rules {
		for _, g := range r.ExcludeGroups {
			addGroup(g)
		}
	}
	for _, per := range w.People {
		if per.Department != "" {
			addGroup(strings.ToLower(per.Department))
		}
	}
	for _, g := range groups {
		w.Atlassian.AddGroup(g)
	}
	now := w.Clock.Now()
	products := productsOf(p)
	for i, per := range w.People {
		w.Atlassian.PutUser(atlassianfake.User{Email: per.Email, Name: realName(per.Name), Active: true,
			Department: per.Department, AddedToOrg: now.Add(-400 * day), Products: seededActivity(per.Email, i, products, now)})
		w.Atlassian.SetMember("staff", per.Email, true)
		if per.Department != "" {
			w.Atlassian.SetMember(strings.ToLower(per.Department), per.Email, true)
		}
	}
	w.seedStanding(p) // certify.go
	return nil
}

const day = 24 * time.Hour

// productsOf lists the products the policy's reviews look at: their
// products and the licence costs' keys, or Jira and Confluence.
func productsOf(p *policies.Policy) []string {
	var out []string
	add := func(k string) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, r := range p.Review.Rules {
		for _, k := range r.Products {
			add(k)
		}
	}
	keys := make([]string, 0, len(p.Review.LicenceCosts))
	for k := range p.Review.LicenceCosts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k)
	}
	if len(out) == 0 {
		out = []string{"jira-software", "confluence"}
	}
	return out
}

// never marks a product the person has and never used.
const never = time.Duration(-1)

// exampleActivity is how long ago the example policy's people last used
// each product: alice, bob and dave work every day; carol opens
// Confluence once a month and never Jira; frank has not used either for
// two months; erin, a consultant, last used Jira three days ago.
var exampleActivity = map[string]map[string]time.Duration{
	"alice@example.com": {"jira-software": 2 * time.Hour, "confluence": 26 * time.Hour},
	"bob@example.com":   {"jira-software": 20 * time.Minute, "confluence": 3 * day},
	"carol@example.com": {"jira-software": never, "confluence": 41 * day},
	"dave@example.com":  {"jira-software": 3 * time.Hour, "confluence": 6 * day},
	"erin@partner.io":   {"jira-software": 3 * day, "confluence": never},
	"frank@example.com": {"jira-software": 64 * day, "confluence": 52 * day},
}

// idlePatterns spread activity over the people of other policies, by
// their place in the directory: some active, some idle in one product,
// some idle in all.
var idlePatterns = [][]time.Duration{
	{90 * time.Minute, 1 * day},
	{45 * day, never},
	{2 * day, 8 * day},
	{70 * day, 60 * day},
	{5 * time.Hour, 35 * day},
	{never, 90 * day},
}

// seededActivity is a person's products with their last activity: the
// example's table for its people, a pattern for others.
func seededActivity(email string, i int, products []string, now time.Time) []atlassianfake.Product {
	idle, ok := exampleActivity[email]
	var out []atlassianfake.Product
	for j, k := range products {
		d, known := idle[k]
		if !ok || !known {
			pat := idlePatterns[i%len(idlePatterns)]
			d = pat[min(j, len(pat)-1)]
		}
		p := atlassianfake.Product{Key: k}
		if d != never {
			p.LastActive = now.Add(-d)
		}
		out = append(out, p)
	}
	return out
}

// localPart is the part of an email before the @.
func localPart(email string) string {
	if i := strings.IndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

// realName makes "Alice" of alice and "Ann Lee" of ann.lee.
func realName(handle string) string {
	words := strings.FieldsFunc(handle, func(r rune) bool { return r == '.' || r == '_' || r == '-' })
	for i, w := range words {
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// uniqueID makes a Slack id of prefix and the letters and digits of name,
// upper-cased, unique among used.
func uniqueID(prefix, name string, used map[string]bool) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString("0")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	id := b.String()
	for n := 2; used[id]; n++ {
		id = fmt.Sprintf("%s%d", b.String(), n)
	}
	return id
}

// ruleTerms lists every person term a rule names: its approvers, whom its
// steps escalate to, who may file on behalf, who reviews a break-glass use.
func ruleTerms(r *policies.Rule) []string {
	var out []string
	for _, a := range r.Then.Approvals {
		out = append(out, a.Approvers...)
		out = append(out, a.EscalateTo...)
	}
	out = append(out, r.Then.OnBehalf...)
	if bg := r.Then.BreakGlass; bg != nil {
		out = append(out, bg.ReviewBy...)
	}
	return out
}
