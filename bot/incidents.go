package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
