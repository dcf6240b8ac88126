package bot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// replyTo is where an answer to one person goes: the response_url of the
// command or click when there is one, else an ephemeral message in the
// channel, else a DM.
type replyTo struct {
	user, channel, responseURL string
}

// say answers one person privately.
func (b *Bot) say(ctx context.Context, to replyTo, text string, blocks ...slack.Block) {
	var err error
	switch {
	case to.responseURL != "":
		err = slack.PostWebhookCustomHTTPContext(ctx, to.responseURL, b.http, &slack.WebhookMessage{
			Text: text, ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: false, Blocks: blocksOrNil(blocks)})
	case to.channel != "" && !strings.HasPrefix(to.channel, "D"):
		_, err = b.api.PostEphemeralContext(ctx, to.channel, to.user, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
	default:
		_, _, err = b.postDM(ctx, to.user, text, blocks)
	}
	if err != nil {
		// A response_url is a credential for half an hour: log the cause
		// without the URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		b.log.Warn("reply failed", zap.String("user", to.user), zap.String("error", slackErrorCode(err)))
	}
}

func blocksOrNil(bs []slack.Block) *slack.Blocks {
	if len(bs) == 0 {
		return nil
	}
	return &slack.Blocks{BlockSet: bs}
}

// sentence turns an engine or policy error into what the person is told.
func sentence(err error) string {
	var ae *approvals.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	var pe *policies.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return "Something went wrong on jitbot's side; IT can find it in the logs. (" + err.Error() + ")"
}

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
		b.say(ctx, to, err.Error())
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
			b.say(ctx, to, err.Error())
			return
		}
		if verb == "cancel" {
			_, err = b.svc.Cancel(ctx, r.ID, email)
		} else {
			_, err = b.svc.Release(ctx, r.ID, email)
		}
		if err != nil {
			b.say(ctx, to, sentence(err))
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
			b.say(ctx, to, err.Error())
			return
		}
		d, err := policies.ParseDuration(args[2])
		if err != nil {
			b.say(ctx, to, fmt.Sprintf("%q is not a duration: use a number and s, m, h or d, e.g. 2h.", esc(args[2])))
			return
		}
		nr, err := b.svc.Extend(ctx, r.ID, email, d, strings.Join(args[3:], " "))
		if err != nil {
			b.say(ctx, to, sentence(err))
			return
		}
		b.say(ctx, to, fmt.Sprintf("Extension filed as request %s; its messages follow in your DM.", approvals.Short(nr.ID)))
	case "audit":
		b.audit(ctx, to, email, args[1:])
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
	if len(args) < 3 {
		b.say(ctx, to, fmt.Sprintf("Say for how long and why: `/access %s DURATION REASON…`, e.g. `/access %s 1h fixing the deploy`.", res.ID, res.ID))
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
	r, err := b.svc.Submit(ctx, approvals.SubmitInput{Requester: email, Resource: res.ID, Duration: d, Reason: reason, Ticket: ticket})
	if err != nil {
		b.say(ctx, to, "Not filed: "+esc(sentence(err)))
		return
	}
	b.say(ctx, to, fmt.Sprintf("Request %s filed; jitbot will DM you as it moves.", approvals.Short(r.ID)))
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
	rs, err := b.svc.List(ctx, approvals.RequestFilter{Requester: email})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.ID == id || approvals.Short(r.ID) == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("you have no request %s; `/access list` shows yours", esc(id))
}

func (b *Bot) list(ctx context.Context, to replyTo, email string) {
	rs, err := b.svc.List(ctx, approvals.RequestFilter{Requester: email, States: []approvals.State{
		approvals.StatePending, approvals.StateApproved, approvals.StateActive}})
	if err != nil {
		b.say(ctx, to, sentence(err))
		return
	}
	waiting, err := b.svc.List(ctx, approvals.RequestFilter{Approver: email, States: []approvals.State{approvals.StatePending}})
	if err != nil {
		b.say(ctx, to, sentence(err))
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

// audit answers `/access audit @person` for members of the IT group.
func (b *Bot) audit(ctx context.Context, to replyTo, email string, args []string) {
	ok, err := b.isIT(ctx, email)
	if err != nil {
		b.say(ctx, to, "Could not check the IT group: "+err.Error())
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
	if m := mentionRe.FindStringSubmatch(args[0]); m != nil {
		p, err := b.personOf(ctx, m[1])
		if err != nil || p.email == "" {
			b.say(ctx, to, "That Slack user has no email jitbot can see.")
			return
		}
		subject = p.email
	}
	report, err := b.Audit(ctx, subject)
	if err != nil {
		b.say(ctx, to, "The report failed: "+err.Error())
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
		b.say(ctx, to, err.Error())
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

// handleAction runs a button click or a select in a modal.
func (b *Bot) handleAction(ctx context.Context, ic slack.InteractionCallback) {
	if len(ic.ActionCallback.BlockActions) == 0 {
		return
	}
	a := ic.ActionCallback.BlockActions[0]
	to := replyTo{user: ic.User.ID, channel: ic.Channel.ID, responseURL: ic.ResponseURL}
	name, _, _ := strings.Cut(a.ActionID, ".")
	if name == actResource && ic.View.ID != "" {
		b.resourcePicked(ctx, ic, a)
		return
	}
	email, err := b.emailOf(ctx, ic.User.ID)
	if err != nil {
		b.say(ctx, to, err.Error())
		return
	}
	id := a.Value
	var actErr error
	switch name {
	case actApprove:
		_, actErr = b.svc.Approve(ctx, id, email, "")
	case actDecline:
		r, err := b.svc.Get(ctx, id)
		if err == nil {
			err = b.svc.MayDecide(r, email)
		}
		if err != nil {
			actErr = err
			break
		}
		summary := fmt.Sprintf("Decline %s's request for %s (%s)?", esc(r.Requester), esc(b.resourceName(r.Resource)), policies.FormatDuration(r.Duration))
		if _, err := b.api.OpenViewContext(ctx, ic.TriggerID, declineModal(r.ID, summary)); err != nil {
			actErr = fmt.Errorf("the decline form could not open (%s); click again", slackErrorCode(err))
		}
	case actCancel:
		_, actErr = b.svc.Cancel(ctx, id, email)
	case actRelease:
		_, actErr = b.svc.Release(ctx, id, email)
	case actExtend:
		r, err := b.svc.Get(ctx, id)
		if err == nil && r.Requester != email {
			err = approvals.Errorf(approvals.EForbidden, "only %s can extend this access", r.Requester)
		}
		if err != nil {
			actErr = err
			break
		}
		maxD, err := b.svc.Policy().MaxFor(email, r.Resource)
		if err != nil {
			actErr = err
			break
		}
		summary := fmt.Sprintf("Extend your access to %s (ends %s)?", esc(b.resourceName(r.Resource)), when(r.EndsAt))
		if _, err := b.api.OpenViewContext(ctx, ic.TriggerID, extendModal(r.ID, summary, maxD)); err != nil {
			actErr = fmt.Errorf("the form could not open (%s); click again", slackErrorCode(err))
		}
	default:
		return
	}
	if actErr != nil {
		b.say(ctx, to, sentence(actErr))
	}
	if ic.View.Type == slack.VTHomeTab {
		b.publishHome(ctx, ic.User.ID)
	}
}

// resourcePicked narrows the modal's duration picker to the chosen
// resource and shows whether its rule wants a ticket.
func (b *Bot) resourcePicked(ctx context.Context, ic slack.InteractionCallback, a *slack.BlockAction) {
	email, err := b.emailOf(ctx, ic.User.ID)
	if err != nil {
		return
	}
	cat := b.catalogue(email)
	i := slices.IndexFunc(cat, func(c catalogueOption) bool { return c.ID == a.SelectedOption.Value })
	if i < 0 {
		return
	}
	ticket := false
	if d, err := b.svc.Policy().Evaluate(ctx, policies.Query{Requester: email, Resource: cat[i].ID}, nil); err == nil {
		ticket = d.RequireTicket
	}
	if _, err := b.api.UpdateViewContext(ctx, requestModal(cat, &cat[i], ticket), "", ic.View.Hash, ic.View.ID); err != nil {
		b.log.Debug("modal update skipped", zap.String("error", slackErrorCode(err)))
	}
}

// inputValue reads a view's input by block id.
func inputValue(v slack.View, block string) string {
	if v.State == nil {
		return ""
	}
	for _, a := range v.State.Values[block] {
		if a.SelectedOption.Value != "" {
			return a.SelectedOption.Value
		}
		return strings.TrimSpace(a.Value)
	}
	return ""
}

// handleSubmission decides the answer to a modal submission from memory:
// errors keep the modal open with the problem next to its field. The slow
// part (filing, deciding) runs after the ack.
func (b *Bot) handleSubmission(ctx context.Context, ic slack.InteractionCallback) (any, func(context.Context)) {
	to := replyTo{user: ic.User.ID}
	email, err := b.emailOf(ctx, ic.User.ID)
	if err != nil {
		return errorsAck(map[string]string{firstBlock(ic.View): err.Error()}), nil
	}
	v := ic.View
	switch v.CallbackID {
	case cbRequest:
		in := approvals.SubmitInput{Requester: email, Resource: inputValue(v, blkResource),
			Reason: inputValue(v, blkReason), Ticket: inputValue(v, blkTicket)}
		errs := map[string]string{}
		d, err := policies.ParseDuration(inputValue(v, blkDuration))
		if err != nil {
			errs[blkDuration] = "Choose a duration."
		}
		in.Duration = d
		if in.Reason == "" {
			errs[blkReason] = "Say why you need it."
		}
		if len(errs) == 0 {
			dec, err := b.svc.Policy().Evaluate(ctx, policies.Query{Requester: email, Resource: in.Resource, Duration: d}, nil)
			switch {
			case err != nil && policies.ErrorCode(err) == policies.CodeTooLong:
				errs[blkDuration] = sentence(err)
			case err != nil:
				errs[blkResource] = sentence(err)
			case dec.RequireTicket && in.Ticket == "":
				errs[blkTicket] = fmt.Sprintf("Rule %q requires a ticket for this request.", dec.Rule)
			}
		}
		if len(errs) > 0 {
			return errorsAck(errs), nil
		}
		return nil, func(ctx context.Context) {
			if _, err := b.svc.Submit(ctx, in); err != nil {
				b.say(ctx, to, "Your request was not filed: "+sentence(err))
			}
		}
	case cbDecline:
		reason := inputValue(v, blkReason)
		if reason == "" {
			return errorsAck(map[string]string{blkReason: "Say why, so the requester knows."}), nil
		}
		r, err := b.svc.Get(ctx, v.PrivateMetadata)
		if err == nil {
			err = b.svc.MayDecide(r, email)
		}
		if err != nil {
			return errorsAck(map[string]string{blkReason: sentence(err)}), nil
		}
		return nil, func(ctx context.Context) {
			if _, err := b.svc.Decline(ctx, r.ID, email, reason); err != nil {
				b.say(ctx, to, "Your decline was not recorded: "+sentence(err))
			}
		}
	case cbExtend:
		d, err := policies.ParseDuration(inputValue(v, blkDuration))
		if err != nil {
			return errorsAck(map[string]string{blkDuration: "Choose a duration."}), nil
		}
		id, reason := v.PrivateMetadata, inputValue(v, blkReason)
		return nil, func(ctx context.Context) {
			if _, err := b.svc.Extend(ctx, id, email, d, reason); err != nil {
				b.say(ctx, to, "Your extension was not filed: "+sentence(err))
			}
		}
	}
	return nil, nil
}

func errorsAck(errs map[string]string) *slack.ViewSubmissionResponse {
	return slack.NewErrorsViewSubmissionResponse(errs)
}

func firstBlock(v slack.View) string {
	for _, bl := range v.Blocks.BlockSet {
		if in, ok := bl.(*slack.InputBlock); ok {
			return in.BlockID
		}
	}
	return blkReason
}

// handleEvent handles Events API deliveries, each event id once.
func (b *Bot) handleEvent(ctx context.Context, evt socketmode.Event) {
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		return
	}
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.EventID != "" {
		if !b.seen.first(cb.EventID, b.clock.Now()) {
			b.log.Debug("duplicate event ignored", zap.String("event_id", cb.EventID))
			return
		}
	}
	switch inner := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		if inner.Tab == "home" || inner.Tab == "" {
			b.spawn(ctx, func(ctx context.Context) { b.publishHome(ctx, inner.User) })
		}
	}
}

// publishHome renders a person's App Home and remembers that they have
// one, so that later changes republish it (coalesced, by the home job).
func (b *Bot) publishHome(ctx context.Context, userID string) {
	email, err := b.emailOf(ctx, userID)
	var view slack.HomeTabViewRequest
	if err != nil {
		view = slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{section(mrkdwn("%s", esc(err.Error())))}}}
	} else if view, err = b.homeFor(ctx, email); err != nil {
		b.log.Error("home", zap.Error(err))
		return
	}
	if _, err := b.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: view}); err != nil {
		b.log.Warn("views.publish", zap.String("error", slackErrorCode(err)))
		return
	}
	if email != "" {
		if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: homeID(email), Role: roleHome, UserID: userID, Person: email,
			Channel: "-", Hash: contentHash("", view.Blocks.BlockSet)}); err != nil {
			b.log.Warn("remember home", zap.Error(err))
		}
	}
}
