package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jitbot/jitbot"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// handleCommand runs /access.
func (b *Bot) handleCommand(ctx context.Context, cmd slack.SlashCommand) {
	to := replyTo{user: cmd.UserID, channel: cmd.ChannelID, responseURL: cmd.ResponseURL}
	args := strings.Fields(cmd.Text)
	if len(args) == 0 {
		b.openRequestModal(ctx, cmd.UserID, cmd.TriggerID, to)
		return
	}
	if strings.EqualFold(args[0], "help") {
		b.say(ctx, to, helpText, section(mrkdwn("%s", helpText)))
		return
	}
	email, err := b.emailOf(ctx, cmd.UserID)
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	verb := strings.ToLower(args[0])
	switch verb {
	case "list":
		b.list(ctx, to, email)
	case "cancel", "release":
		if len(args) != 2 {
			b.say(ctx, to, fmt.Sprintf("Usage: `/access %s ID` — the ID is on the request's messages and in `/access list`.", verb))
			return
		}
		r, err := b.findOwn(ctx, email, args[1])
		if err != nil {
			b.say(ctx, to, b.sentence(err, ""))
			return
		}
		if verb == "cancel" {
			_, err = b.svc.Cancel(ctx, r.ID, email)
		} else {
			_, err = b.svc.Release(ctx, r.ID, email)
		}
		if err != nil {
			b.say(ctx, to, b.sentence(err, ""))
			return
		}
		b.say(ctx, to, fmt.Sprintf("Done: request %s is %s.", approvals.Short(r.ID), map[string]string{"cancel": "cancelled", "release": "released; jitbot removes what it added unless another grant of yours still covers it, and your DM says which"}[verb]))
	case "extend":
		if len(args) < 3 {
			b.say(ctx, to, "Usage: `/access extend ID DURATION [REASON…]`, e.g. `/access extend 1a2b3c4d 2h`.")
			return
		}
		r, err := b.findOwn(ctx, email, args[1])
		if err != nil {
			b.say(ctx, to, b.sentence(err, ""))
			return
		}
		d, err := policies.ParseDuration(args[2])
		if err != nil {
			b.say(ctx, to, fmt.Sprintf("%q is not a duration: use a number and s, m, h or d, e.g. 2h.", esc(args[2])))
			return
		}
		nr, err := b.svc.Extend(ctx, r.ID, email, d, strings.Join(args[3:], " "))
		if err != nil {
			b.say(ctx, to, b.sentence(err, ""))
			return
		}
		b.say(ctx, to, fmt.Sprintf("Extension filed as request %s; its messages follow in your DM.", approvals.Short(nr.ID)))
	case "audit":
		b.auditCommand(ctx, to, email, args[1:])
	case "restore":
		b.restoreCommand(ctx, to, email, args[1:])
	case "delegate":
		b.delegateCommand(ctx, to, email, args[1:]) // incidents.go
	default:
		b.submitCommand(ctx, to, email, args)
	}
}

// submitCommand files `/access RESOURCE DURATION REASON…`.
func (b *Bot) submitCommand(ctx context.Context, to replyTo, email string, args []string) {
	p := b.svc.Policy()
	res, ok := p.Resource(args[0])
	if !ok {
		b.say(ctx, to, fmt.Sprintf("There is no resource %q. You can ask for: %s. Or type `/access` for the form, `/access help` for the commands.",
			esc(args[0]), strings.Join(b.catalogueIDs(email), ", ")))
		return
	}
	args, in, err := b.incidentArgs(ctx, email, args) // incidents.go: --break-glass, for @person
	if err != nil {
		b.say(ctx, to, "Not filed: "+esc(b.sentence(err, "")))
		return
	}
	if len(args) < 3 {
		b.say(ctx, to, fmt.Sprintf("Say for how long and why: `/access %s DURATION [for @person] [--break-glass] REASON…`, e.g. `/access %s 1h fixing the deploy`.", res.ID, res.ID))
		return
	}
	d, err := policies.ParseDuration(args[1])
	if err != nil {
		b.say(ctx, to, fmt.Sprintf("%q is not a duration: use a number and s, m, h or d, e.g. 2h.", esc(args[1])))
		return
	}
	reason := strings.Join(args[2:], " ")
	ticket := ""
	if m := ticketRe.FindString(reason); m != "" {
		ticket = m
	}
	in.Resource, in.Duration, in.Reason, in.Ticket = res.ID, d, reason, ticket
	r, err := b.svc.Submit(ctx, in)
	if err != nil {
		b.say(ctx, to, "Not filed: "+esc(b.sentence(err, "")))
		return
	}
	b.say(ctx, to, filedReply(r, in))
}

// ticketRe finds a ticket key such as OPS-1234 in a command's reason.
var ticketRe = regexp.MustCompile(`\b[A-Z][A-Z0-9]+-[0-9]+\b`)

// catalogueIDs lists the resources email may ask for.
func (b *Bot) catalogueIDs(email string) []string {
	var ids []string
	for _, c := range b.catalogue(email) {
		ids = append(ids, c.ID)
	}
	return ids
}

// catalogue returns what email may ask for, with the maximum for them.
func (b *Bot) catalogue(email string) []catalogueOption {
	p := b.svc.Policy()
	var out []catalogueOption
	for _, r := range p.Resources {
		maxD, err := p.MaxFor(email, r.ID)
		if err != nil {
			continue // no rule lets this person ask for it
		}
		out = append(out, catalogueOption{ID: r.ID, Name: r.Name, Admin: p.IsAdmin(r.ID), Bundle: r.IsBundle(), Max: maxD})
	}
	return out
}

// findOwn finds one of email's requests by its short or full id.
func (b *Bot) findOwn(ctx context.Context, email, id string) (*approvals.Request, error) {
	id = strings.ToLower(strings.Trim(id, "`"))
	r, err := b.svc.Get(ctx, id) // the full id, or its short form
	if approvals.ErrorCode(err) == approvals.ENotFound || (err == nil && r.Requester != email) {
		return nil, jitbot.Errorf(approvals.ENotFound, "You have no request %s; `/access list` shows yours.", esc(id))
	}
	return r, err
}

func (b *Bot) list(ctx context.Context, to replyTo, email string) {
	rs, err := b.svc.List(ctx, approvals.RequestFilter{Requester: email, States: []approvals.State{
		approvals.StatePending, approvals.StateApproved, approvals.StateActive}})
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	waiting, err := b.svc.List(ctx, approvals.RequestFilter{Approver: email, States: []approvals.State{approvals.StatePending}})
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	if len(rs) == 0 && len(waiting) == 0 {
		b.say(ctx, to, "You have no pending requests or active access, and nothing waits for you. `/access` to ask.")
		return
	}
	var lines []string
	for _, r := range rs {
		lines = append(lines, listItem{Req: r, Resource: b.resourceName(r.Resource)}.line())
	}
	for _, r := range waiting {
		lines = append(lines, "Waiting for you: "+listItem{Req: r, Resource: b.resourceName(r.Resource), Approver: true}.line())
	}
	for _, page := range pageLines("Your access and requests", lines) {
		b.say(ctx, to, "Your access and requests", page...)
	}
}

func (b *Bot) resourceName(id string) string {
	if r, ok := b.svc.Policy().Resource(id); ok {
		return r.Name
	}
	return id
}

// mentionRe matches a user mention as Slack sends it in command text.
var mentionRe = regexp.MustCompile(`^<@([UW][A-Z0-9]+)(\|[^>]*)?>$`)

// auditCommand answers `/access audit @person` for members of the IT group.
func (b *Bot) auditCommand(ctx context.Context, to replyTo, email string, args []string) {
	ok, err := b.isIT(ctx, email)
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	if !ok || b.cfg.Audit == nil {
		b.say(ctx, to, "`/access audit` is for IT only (members of the Slack group set in JITBOT_IT_GROUP).")
		return
	}
	if len(args) != 1 {
		b.say(ctx, to, "Usage: `/access audit @person` or `/access audit person@example.com`.")
		return
	}
	subject := strings.ToLower(args[0])
	userID := ""
	switch m := mentionRe.FindStringSubmatch(args[0]); {
	case m != nil: // <@U…|name>: what Slack sends with should_escape on
		userID = m[1]
	case strings.HasPrefix(args[0], "@"): // @name: as typed, escaping off
		id, err := b.userByHandle(ctx, strings.TrimPrefix(args[0], "@"))
		if err != nil {
			b.say(ctx, to, b.sentence(err, ""))
			return
		}
		userID = id
	}
	if userID != "" {
		p, err := b.personOf(ctx, userID)
		if err != nil || p.email == "" {
			b.say(ctx, to, "That Slack user has no email jitbot can see.")
			return
		}
		subject = p.email
	}
	report, err := b.Audit(ctx, subject)
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	lines := strings.Split(strings.TrimRight(report, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "`" + strings.ReplaceAll(esc(l), "`", "'") + "`"
	}
	for _, page := range pageLines("Evidence about "+subject, lines) {
		b.say(ctx, to, "Evidence about "+subject, page...)
	}
}

// userByHandle finds a Slack user by the handle or display name a person
// typed after @.
func (b *Bot) userByHandle(ctx context.Context, handle string) (string, error) {
	var users []slack.User
	if err := b.slackCall(ctx, mUsersList, "", func(ctx context.Context) error {
		var err error
		users, err = b.api.GetUsersContext(ctx)
		return err
	}); err != nil {
		return "", err
	}
	for _, u := range users {
		if !u.Deleted && (strings.EqualFold(u.Name, handle) || strings.EqualFold(u.Profile.DisplayName, handle)) {
			return u.ID, nil
		}
	}
	return "", jitbot.Errorf("no_such_user", "No Slack user is called @%s; pick them from the list Slack offers as you type.", esc(handle))
}

// Audit returns the evidence report about one person.
func (b *Bot) Audit(ctx context.Context, email string) (string, error) {
	if b.cfg.Audit == nil {
		return "", errors.New("no audit report is configured")
	}
	return b.cfg.Audit(ctx, email)
}

func (b *Bot) openRequestModal(ctx context.Context, userID, triggerID string, to replyTo) {
	email, err := b.emailOf(ctx, userID)
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	cat := b.catalogue(email)
	if len(cat) == 0 {
		b.say(ctx, to, "The policy has nothing you can ask for. Ask IT.")
		return
	}
	if _, err := b.api.OpenViewContext(ctx, triggerID, requestModal(cat, nil, false)); err != nil {
		b.say(ctx, to, "The form could not open ("+slackErrorCode(err)+"); try again, or use `/access RESOURCE DURATION REASON…`.")
	}
}
