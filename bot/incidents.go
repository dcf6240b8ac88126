package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// What incidents add to the messages about a request: who filed it for
// the requester, an escalation, a delegate standing in.

// incidentNotes are the lines a message about s shows for incidents;
// approver is the card's owner ("" on the requester's DM).
func (s *snapshot) incidentNotes(approver string) []slack.Block {
	r := s.Req
	var lines []string
	if f := s.Filing; f != nil && f.BreakGlass {
		lines = append(lines, ":fire_extinguisher: *Break-glass*: granted at once without approval; reviewed after the fact.")
	}
	if f := s.Filing; f != nil && f.Filer != "" {
		if approver == "" {
			lines = append(lines, fmt.Sprintf("Filed for you by %s. You may cancel it.", esc(f.Filer)))
		} else {
			lines = append(lines, fmt.Sprintf("Filed by %s for %s.", esc(f.Filer), esc(r.Requester)))
		}
	}
	if r.State == approvals.StatePending && r.CurrentStep < len(r.Steps) {
		st := r.Steps[r.CurrentStep]
		why := st.Added[approver]
		switch {
		case approver != "" && why == approvals.AddedEscalation:
			lines = append(lines, fmt.Sprintf(":arrow_double_up: Escalated to you: nobody answered step %d within %s.",
				r.CurrentStep+1, policies.FormatDuration(st.EscalateAfter)))
		case approver != "" && strings.HasPrefix(why, approvals.AddedDelegate):
			lines = append(lines, fmt.Sprintf("You stand in for %s, who delegated their approvals to you.",
				esc(strings.TrimPrefix(why, approvals.AddedDelegate))))
		case approver == "" && st.Escalated:
			var to []string
			for _, a := range st.Approvers {
				if st.Added[a] == approvals.AddedEscalation {
					to = append(to, a)
				}
			}
			slices.Sort(to)
			if len(to) > 0 {
				lines = append(lines, fmt.Sprintf(":arrow_double_up: Escalated to %s: nobody answered within %s.",
					esc(strings.Join(to, ", ")), policies.FormatDuration(st.EscalateAfter)))
			}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return []slack.Block{slack.NewContextBlock("incident", mrkdwn("%s", strings.Join(lines, "\n")))}
}

// incidentArgs takes `--break-glass` (anywhere after the resource) and
// `for @person` (right after the duration) out of a request's command
// args, and returns the rest with the input they make: email files it,
// for themselves or for the person.
func (b *Bot) incidentArgs(ctx context.Context, email string, args []string) ([]string, approvals.SubmitInput, error) {
	in := approvals.SubmitInput{Requester: email}
	rest := []string{args[0]}
	for _, a := range args[1:] {
		if strings.EqualFold(a, "--break-glass") || strings.EqualFold(a, "—break-glass") {
			in.BreakGlass = true // Slack may turn "--" into an em dash
			continue
		}
		rest = append(rest, a)
	}
	if len(rest) >= 4 && strings.EqualFold(rest[2], "for") && (strings.HasPrefix(rest[3], "@") || mentionRe.MatchString(rest[3])) {
		who, err := b.subjectOf(ctx, rest[3])
		if err != nil {
			return nil, in, err
		}
		in.Requester, in.Filer = who, email
		rest = append(rest[:2], rest[4:]...)
	}
	return rest, in, nil
}

// filedReply is the private answer to a request filed by command.
func filedReply(r *approvals.Request, in approvals.SubmitInput) string {
	short := approvals.Short(r.ID)
	switch {
	case in.BreakGlass:
		return fmt.Sprintf("Break-glass request %s: access is being added now, without approval. It is posted to the security channels and reviewed after the fact.", short)
	case in.Filer != "":
		return fmt.Sprintf("Request %s filed for %s; jitbot tells them, and they may cancel it. Neither of you may approve it.", short, esc(r.Requester))
	}
	return fmt.Sprintf("Request %s filed; jitbot will DM you as it moves.", short)
}

// actEndDelegation is App Home's "End delegation" button.
const actEndDelegation = "delegate_off"

// delegateCommand answers `/access delegate @person until DATE`,
// `/access delegate off` and `/access delegate` (what holds).
func (b *Bot) delegateCommand(ctx context.Context, to replyTo, email string, args []string) {
	usage := "Usage: `/access delegate @person until 2026-12-24` (through that day) or `until 3d`; `/access delegate off` ends it."
	switch {
	case len(args) == 0:
		d, err := b.svc.DelegationOf(ctx, email)
		switch {
		case err != nil:
			b.say(ctx, to, b.sentence(err, ""))
		case d == nil:
			b.say(ctx, to, "Your approvals are not delegated. "+usage)
		default:
			b.say(ctx, to, fmt.Sprintf("Requests that wait on you wait on %s too, until %s. `/access delegate off` ends it.", esc(d.Delegate), when(d.Until)))
		}
		return
	case len(args) == 1 && strings.EqualFold(args[0], "off"):
		d, err := b.svc.EndDelegation(ctx, email)
		if err != nil {
			b.say(ctx, to, b.sentence(err, ""))
			return
		}
		b.say(ctx, to, fmt.Sprintf("Done: %s no longer approves for you; requests waiting on you are yours alone again.", esc(d.Delegate)))
		b.refreshHome(ctx, email)
		return
	case len(args) != 3 || !strings.EqualFold(args[1], "until"):
		b.say(ctx, to, usage)
		return
	}
	until, err := b.untilOf(args[2])
	if err != nil {
		b.say(ctx, to, err.Error()+". "+usage)
		return
	}
	who, err := b.subjectOf(ctx, args[0])
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	d, err := b.svc.Delegate(ctx, email, who, until)
	if err != nil {
		b.say(ctx, to, "Not delegated: "+esc(b.sentence(err, "")))
		return
	}
	b.say(ctx, to, fmt.Sprintf("Done: until %s, requests that wait on you wait on %s too; those waiting now are sent to them. Both of you are recorded. `/access delegate off` ends it.",
		when(d.Until), esc(d.Delegate)))
	b.refreshHome(ctx, email)
}

// untilOf reads a delegation's end: a date (through that day, in the
// policy's time zone), a date and time, or a duration from now.
func (b *Bot) untilOf(s string) (time.Time, error) {
	loc := b.svc.Policy().Review.Loc()
	if day, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return day.AddDate(0, 0, 1), nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04", s, loc); err == nil {
		return t, nil
	}
	if d, err := policies.ParseDuration(s); err == nil && d > 0 {
		return b.svc.Clock().Now().Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date like 2026-12-24 or a duration like 3d", esc(s))
}

// refreshHome queues a republish of email's App Home when they opened it.
func (b *Bot) refreshHome(ctx context.Context, email string) {
	if j, err := b.homeJobIfOpen(ctx, email); err == nil && j != nil {
		_ = b.svc.Queue(ctx, j)
	}
}

// homeDelegation is App Home's line about email's delegation, if any.
func (b *Bot) homeDelegation(ctx context.Context, email string) []slack.Block {
	d, err := b.svc.DelegationOf(ctx, email)
	if err != nil {
		return nil
	}
	if d == nil {
		sec := section(mrkdwn("Away? Delegate your approvals: requests that wait on you wait on someone else too."))
		sec.Accessory = slack.NewAccessory(button(actDelegateOpen, "Delegate…", "", ""))
		return []slack.Block{sec}
	}
	sec := section(mrkdwn("Your approvals are delegated to %s until %s: requests that wait on you wait on them too.", esc(d.Delegate), when(d.Until)))
	sec.Accessory = slack.NewAccessory(button(actEndDelegation, "End delegation", "", ""))
	return []slack.Block{sec}
}

// App Home's delegation form.
const (
	actDelegateOpen = "delegate_open"
	cbDelegate      = "delegate"
	blkDelegate     = "delegate"
	blkUntil        = "until"
	actDelegateUser = "delegate_user"
	actUntil        = "until"
)

// delegateModal asks whom to delegate to, and until when.
func delegateModal() slack.ModalViewRequest {
	who := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plain("Who approves for you"), actDelegateUser)
	until := slack.NewDatePickerBlockElement(actUntil)
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: cbDelegate, Title: plain("Delegate approvals"),
		Submit: plain("Delegate"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(mrkdwn("While it holds, requests that wait on you wait on them too; those waiting now are sent to them.")),
			slack.NewInputBlock(blkDelegate, plain("Delegate"), nil, who),
			slack.NewInputBlock(blkUntil, plain("Until (through that day)"), nil, until),
		}},
	}
}

// delegateSubmission records a delegation from App Home's form; false
// when the view is not that form.
func (b *Bot) delegateSubmission(ctx context.Context, v slack.View, email string, to replyTo) (any, func(context.Context), bool) {
	if v.CallbackID != cbDelegate || v.State == nil {
		return nil, nil, false
	}
	userID := v.State.Values[blkDelegate][actDelegateUser].SelectedUser
	day := v.State.Values[blkUntil][actUntil].SelectedDate
	if _, err := b.untilOf(day); err != nil || day == "" {
		return errorsAck(map[string]string{blkUntil: "Pick the last day they approve for you."}), nil, true
	}
	p, err := b.personOf(ctx, userID)
	if err != nil || p.email == "" {
		return errorsAck(map[string]string{blkDelegate: "jitbot cannot see that person's email; pick someone else."}), nil, true
	}
	return nil, func(ctx context.Context) {
		b.delegateCommand(ctx, to, email, []string{p.email, "until", day}) // says what happened
	}, true
}
