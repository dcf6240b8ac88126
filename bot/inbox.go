package bot

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/slack-go/slack"
)

// The Slack front end's own jobs, in the engine's message lane.
const (
	// jobInbox places the requests waiting on one approver (Ref: the
	// approver's email) on cards or pages, and refreshes the pages.
	jobInbox approvals.JobKind = "slack.inbox"
	// jobHome republishes one person's App Home (Ref: the email) when it
	// changed.
	jobHome approvals.JobKind = "slack.home"
)

// pageFresh is how long a page of waiting requests takes new ones; later
// requests start a new page, so that they show at the bottom of the DM.
const pageFresh = 10 * time.Minute

func inboxID(email string) string { return "inbox:" + email }
func homeID(email string) string  { return "home:" + email }

// inboxJob asks for an approver's inbox to be looked at. Pending jobs of one
// approver fold into one: a burst of requests is placed in one pass.
// changed is the request whose notification asked: the pages that list it
// are refreshed (the ids of folded jobs add up in Note).
func inboxJob(email, changed string) *approvals.Job {
	return &approvals.Job{Kind: jobInbox, Lane: approvals.LaneMessage, Key: inboxID(email), Ref: email, Note: changed, Coalesce: true}
}

// homeJobIfOpen returns a job that republishes email's App Home, or nil
// when they never opened it.
func (b *Bot) homeJobIfOpen(ctx context.Context, email string) (*approvals.Job, error) {
	refs, err := b.msgs.Messages(ctx, homeID(email))
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	return &approvals.Job{Kind: jobHome, Lane: approvals.LaneMessage, Key: homeID(email), Ref: email, Coalesce: true}, nil
}

// runInbox performs an inbox job: every request waiting on the approver is
// shown to them, on a card of its own while few wait, else on pages that
// list up to PageSize requests each with Approve and Decline — one post for
// many requests, within Slack's pace of about one post a second per
// channel. Each button carries only the request id; every click is checked
// against the stored request.
func (b *Bot) runInbox(ctx context.Context, j *approvals.Job) error {
	email := j.Ref
	waiting, err := b.svc.List(ctx, approvals.RequestFilter{Approver: email, States: []approvals.State{approvals.StatePending}})
	if err != nil {
		return err
	}
	slices.Reverse(waiting) // oldest first
	pages, err := b.pages(ctx, email)
	if err != nil {
		return err
	}
	cards, paged := 0, 0
	var unplaced []*approvals.Request
	for _, r := range waiting {
		refs, err := b.msgs.Messages(ctx, r.ID)
		if err != nil {
			return err
		}
		switch {
		case slices.ContainsFunc(refs, func(m MessageRef) bool { return m.Role == roleApprover && m.Person == email }):
			cards++
		case slices.ContainsFunc(refs, func(m MessageRef) bool { return m.Role == roleDigest && m.Person == email }):
			paged++
		case slices.ContainsFunc(refs, func(m MessageRef) bool { return m.Role == roleUnreachable && m.Channel == email }):
		default:
			unplaced = append(unplaced, r)
		}
	}
	var errs []error
	if len(unplaced) > 0 {
		// Cards while few wait and none waits on a page; pages past that.
		if paged == 0 && cards+len(unplaced) <= b.cfg.CardBurst {
			for _, r := range unplaced {
				if err := b.cardFor(ctx, r.ID, email); err != nil {
					errs = append(errs, err)
					break
				}
			}
		} else {
			errs = append(errs, b.placeOnPages(ctx, email, pages, unplaced))
		}
	}
	if pages, err = b.pages(ctx, email); err != nil {
		return err
	}
	// Only the pages that list a request that changed, or that this run
	// added to, are read again: a decision edits one page, not all of them.
	touched, err := b.touchedPages(ctx, email, j.Notes(), unplaced)
	if err != nil {
		return err
	}
	for _, p := range pages {
		if touched == nil || touched[p.TS] {
			errs = append(errs, b.refreshPage(ctx, email, p))
		}
	}
	if j, err := b.homeJobIfOpen(ctx, email); err != nil {
		errs = append(errs, err)
	} else if j != nil {
		errs = append(errs, b.runHome(ctx, j))
	}
	return soonest(errs...)
}

// touchedPages returns the pages (by ts) that list one of the requests
// changed or placed, or nil when the job does not say (refresh them all).
func (b *Bot) touchedPages(ctx context.Context, email string, changed []string, placed []*approvals.Request) (map[string]bool, error) {
	if len(changed) == 0 {
		return nil, nil
	}
	ids := slices.Clone(changed)
	for _, r := range placed {
		ids = append(ids, r.ID)
	}
	out := map[string]bool{}
	for _, id := range ids {
		refs, err := b.msgs.Messages(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, m := range refs {
			if m.Role == roleDigest && m.Person == email {
				out[m.TS] = true
			}
		}
	}
	return out, nil
}

// cardFor posts an approver's card under the request's lock, so that a
// notification of the request that runs meanwhile finds the card stored
// and edits it, instead of missing it.
func (b *Bot) cardFor(ctx context.Context, id, email string) error {
	unlock := b.lockRequest(id)
	defer unlock()
	refs, err := b.msgs.Messages(ctx, id)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(refs, func(m MessageRef) bool { return m.Role == roleApprover && m.Person == email }) {
		return nil
	}
	s, err := b.snapshotOf(ctx, id)
	if err != nil {
		return err
	}
	if s.Req.State != approvals.StatePending || !onStep(s.Req, email) {
		return nil // decided meanwhile
	}
	return b.postCard(ctx, s, email)
}

// pages returns the approver's open pages of waiting requests, oldest
// first: a page whose requests were all decided is shown in its final state
// and then left alone (marked "done:TS"), so old pages are not read again.
func (b *Bot) pages(ctx context.Context, email string) ([]MessageRef, error) {
	refs, err := b.msgs.Messages(ctx, inboxID(email))
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, m := range refs {
		if ts, ok := strings.CutPrefix(m.Role, "done:"); ok {
			done[ts] = true
		}
	}
	var out []MessageRef
	for _, m := range refs {
		if ts, ok := strings.CutPrefix(m.Role, "page:"); ok && !done[ts] {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b MessageRef) int { return strings.Compare(a.TS, b.TS) })
	return out, nil
}

// tsTime reads the time a Slack message ts stands for.
func tsTime(ts string) time.Time {
	sec, _, _ := strings.Cut(ts, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// placeOnPages lists unplaced requests on the newest page while it is fresh
// and has room, and posts new pages for the rest.
func (b *Bot) placeOnPages(ctx context.Context, email string, pages []MessageRef, unplaced []*approvals.Request) error {
	if n := len(pages); n > 0 {
		last := pages[n-1]
		entries, err := b.msgs.At(ctx, last.Channel, last.TS)
		if err != nil {
			return err
		}
		room := b.cfg.PageSize - countRole(entries, roleDigest)
		if room > 0 && b.clock.Now().Sub(tsTime(last.TS)) < pageFresh {
			take := min(room, len(unplaced))
			for _, r := range unplaced[:take] {
				if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: r.ID, Role: roleDigest, UserID: last.UserID, Person: email,
					Channel: last.Channel, TS: last.TS}); err != nil {
					return err
				}
			}
			unplaced = unplaced[take:]
		}
	}
	if len(unplaced) == 0 {
		return nil
	}
	user, err := b.userOf(ctx, email)
	if err != nil {
		return err
	}
	ch, err := b.dmChannel(ctx, user)
	if err != nil {
		return err
	}
	for len(unplaced) > 0 {
		take := min(b.cfg.PageSize, len(unplaced))
		items, err := b.pageItems(ctx, unplaced[:take])
		if err != nil {
			return err
		}
		text, blocks := pageMessage(items, email)
		ts, err := b.post(ctx, ch, text, blocks)
		if err != nil {
			return err
		}
		if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: inboxID(email), Role: "page:" + ts, UserID: user, Person: email,
			Channel: ch, TS: ts, Hash: contentHash(text, blocks)}); err != nil {
			return err
		}
		for _, r := range unplaced[:take] {
			if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: r.ID, Role: roleDigest, UserID: user, Person: email,
				Channel: ch, TS: ts}); err != nil {
				return err
			}
		}
		unplaced = unplaced[take:]
	}
	return nil
}

func countRole(refs []MessageRef, role string) int {
	n := 0
	for _, m := range refs {
		if m.Role == role {
			n++
		}
	}
	return n
}

// refreshPage brings one page up to date with the requests it lists.
func (b *Bot) refreshPage(ctx context.Context, email string, page MessageRef) error {
	entries, err := b.msgs.At(ctx, page.Channel, page.TS)
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range entries {
		if m.Role == roleDigest {
			ids = append(ids, m.RequestID)
		}
	}
	rs, err := b.svc.GetMany(ctx, ids) // one read for the page
	if err != nil {
		return err
	}
	items, err := b.pageItems(ctx, rs)
	if err != nil {
		return err
	}
	text, blocks := pageMessage(items, email)
	if err := b.edit(ctx, page, text, blocks); err != nil {
		return err
	}
	if slices.ContainsFunc(rs, func(r *approvals.Request) bool { return r.State == approvals.StatePending }) {
		return nil
	}
	// Every request on it is decided: it shows its final state for good.
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: inboxID(email), Role: "done:" + page.TS, UserID: page.UserID,
		Person: email, Channel: page.Channel, TS: page.TS})
}

// pageItems reads what a page shows of each request.
func (b *Bot) pageItems(ctx context.Context, rs []*approvals.Request) ([]pageItem, error) {
	items := make([]pageItem, 0, len(rs))
	for _, r := range rs {
		name := b.nameOf(ctx, r.Requester)
		items = append(items, pageItem{Req: r, Requester: name, Resource: b.resourceName(r.Resource),
			Admin: b.svc.Policy().IsAdmin(r.Resource)})
	}
	return items, nil
}

// runHome republishes a person's App Home when what it shows changed.
func (b *Bot) runHome(ctx context.Context, j *approvals.Job) error {
	email := j.Ref
	refs, err := b.msgs.Messages(ctx, homeID(email))
	if err != nil || len(refs) == 0 {
		return err
	}
	ref := refs[0]
	view, err := b.homeFor(ctx, email)
	if err != nil {
		return err
	}
	h := contentHash("", view.Blocks.BlockSet)
	if h == ref.Hash {
		return nil
	}
	err = b.call(ctx, mPublish, "", func(ctx context.Context) error {
		_, err := b.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: ref.UserID, View: view})
		return err
	})
	if err != nil {
		return err
	}
	ref.Hash = h
	return b.msgs.PutMessage(ctx, ref)
}

// homeFor renders email's App Home.
func (b *Bot) homeFor(ctx context.Context, email string) (slack.HomeTabViewRequest, error) {
	item := func(rs []*approvals.Request, approver bool) []listItem {
		var out []listItem
		for _, r := range rs {
			out = append(out, listItem{Req: r, Resource: b.resourceName(r.Resource), Approver: approver})
		}
		return out
	}
	active, err1 := b.svc.List(ctx, approvals.RequestFilter{Requester: email, States: []approvals.State{approvals.StateActive}})
	pending, err2 := b.svc.List(ctx, approvals.RequestFilter{Requester: email, States: []approvals.State{approvals.StatePending}})
	waiting, err3 := b.svc.List(ctx, approvals.RequestFilter{Approver: email, States: []approvals.State{approvals.StatePending}})
	if err := errors.Join(err1, err2, err3); err != nil {
		return slack.HomeTabViewRequest{}, err
	}
	slices.Reverse(waiting)
	reviews, err := b.homeReviews(ctx, email)
	if err != nil {
		return slack.HomeTabViewRequest{}, err
	}
	v, err := b.withHomeCert(ctx, homeView(item(active, false), item(pending, false), item(waiting, true), reviews...), email) // certify.go
	if err != nil {
		return v, err
	}
	if dl := b.homeDelegation(ctx, email); len(dl) > 0 && len(v.Blocks.BlockSet)+len(dl) <= maxViewBlocks {
		v.Blocks.BlockSet = append(dl, v.Blocks.BlockSet...)
	}
	return v, nil
}
