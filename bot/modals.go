package bot

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// durationChoices are the durations the pickers offer, up to max.
var durationChoices = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
	8 * time.Hour, 24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour}

func durationOptions(maxD time.Duration) []*slack.OptionBlockObject {
	var out []*slack.OptionBlockObject
	for _, d := range durationChoices {
		if d <= maxD {
			s := policies.FormatDuration(d)
			out = append(out, slack.NewOptionBlockObject(s, plain(s), nil))
		}
	}
	if len(out) == 0 || durationChoices[len(out)-1] != maxD && len(out) < maxOptions {
		s := policies.FormatDuration(maxD)
		out = append(out, slack.NewOptionBlockObject(s, plain(s+" (the most allowed)"), nil))
	}
	return out
}

// catalogueOption is one resource a person may ask for.
type catalogueOption struct {
	ID, Name string
	Admin    bool
	Bundle   bool
	Max      time.Duration
}

func resourceOptions(cat []catalogueOption) ([]*slack.OptionBlockObject, []*slack.OptionGroupBlockObject) {
	var opts []*slack.OptionBlockObject
	for _, c := range cat {
		label := c.Name
		if c.Bundle {
			label += " (bundle)"
		}
		if c.Admin {
			label = "⚠ ADMIN · " + label
		}
		label += " · up to " + policies.FormatDuration(c.Max)
		if utf8.RuneCountInString(label) > 75 {
			label = string([]rune(label)[:74]) + "…"
		}
		opts = append(opts, slack.NewOptionBlockObject(c.ID, plain(label), nil))
	}
	if len(opts) <= maxOptions {
		return opts, nil
	}
	// Over a hundred resources: Slack allows a hundred options per group.
	var groups []*slack.OptionGroupBlockObject
	for i := 0; i < len(opts); i += maxOptions {
		part := opts[i:min(i+maxOptions, len(opts))]
		groups = append(groups, slack.NewOptionGroupBlockElement(plain(fmt.Sprintf("Catalogue %d", len(groups)+1)), part...))
	}
	return nil, groups
}

// requestModal is the /access modal. selected, when set, bounds the
// duration picker by that resource's maximum and says whether a ticket is
// required.
func requestModal(cat []catalogueOption, selected *catalogueOption, ticketRequired bool) slack.ModalViewRequest {
	opts, groups := resourceOptions(cat)
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose what you need"), actResource, opts...)
	sel.OptionGroups = groups
	maxD := time.Duration(0)
	for _, c := range cat {
		maxD = max(maxD, c.Max)
	}
	if selected != nil {
		maxD = selected.Max
		for _, o := range opts {
			if o.Value == selected.ID {
				sel.InitialOption = o
			}
		}
		for _, g := range groups {
			for _, o := range g.Options {
				if o.Value == selected.ID {
					sel.InitialOption = o
				}
			}
		}
	}
	resource := slack.NewInputBlock(blkResource, plain("Resource"), plain("Admin escalations are marked ⚠ and need more approvals."), sel)
	resource.DispatchAction = true
	dur := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("How long"), actDurationPick, durationOptions(maxD)...)
	durHint := "At most " + policies.FormatDuration(maxD) + " for you."
	if selected != nil {
		durHint = "At most " + policies.FormatDuration(maxD) + " for you and " + selected.ID + "."
	}
	reason := slack.NewPlainTextInputBlockElement(plain("What do you need it for?"), actText)
	reason.Multiline = true
	reason.MaxLength = maxSectionText
	ticketEl := slack.NewPlainTextInputBlockElement(plain("e.g. OPS-1234"), actText)
	ticketEl.MaxLength = 200
	ticketLabel := "Ticket"
	ticket := slack.NewInputBlock(blkTicket, plain(ticketLabel), plain("Required by the rule for admin escalations."), ticketEl)
	ticket.Optional = !ticketRequired
	if !ticketRequired {
		ticket.Hint = plain("Optional unless the policy's rule requires one.")
	}
	meta := ""
	if selected != nil {
		meta = selected.ID
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      cbRequest,
		Title:           plain("Request access"),
		Submit:          plain("Request"),
		Close:           plain("Cancel"),
		PrivateMetadata: meta,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			resource,
			slack.NewInputBlock(blkDuration, plain("Duration"), plain(durHint), dur),
			slack.NewInputBlock(blkReason, plain("Reason"), nil, reason),
			ticket,
		}},
	}
}

// declineModal asks an approver why they decline.
func declineModal(requestID, summary string) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("The requester sees this"), actText)
	reason.Multiline = true
	reason.MaxLength = maxSectionText
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      cbDecline,
		Title:           plain("Decline request"),
		Submit:          plain("Decline"),
		Close:           plain("Back"),
		PrivateMetadata: requestID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(mrkdwn("%s", summary)),
			slack.NewInputBlock(blkReason, plain("Why"), nil, reason),
		}},
	}
}

// extendModal asks for more time on an active grant.
func extendModal(requestID, summary string, maxD time.Duration) slack.ModalViewRequest {
	dur := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("How much longer"), actDurationPick, durationOptions(maxD)...)
	reason := slack.NewPlainTextInputBlockElement(plain("Leave empty to keep the original reason"), actText)
	reason.Multiline = true
	reason.MaxLength = maxSectionText
	reasonBlock := slack.NewInputBlock(blkReason, plain("Reason"), nil, reason)
	reasonBlock.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      cbExtend,
		Title:           plain("Extend access"),
		Submit:          plain("Ask"),
		Close:           plain("Back"),
		PrivateMetadata: requestID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(mrkdwn("%s", summary)),
			slack.NewInputBlock(blkDuration, plain("Duration"), plain("An extension is a new request under the same rules."), dur),
			reasonBlock,
		}},
	}
}
