package bot

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// inlineUnassigned is how many people without a manager the digest lists
// itself, with Keep and Suspend; more go to its thread, paged.
const inlineUnassigned = 5

// digestLines bounds the departments and IT's to-dos the digest names;
// the CSV lists everyone.
const digestLines = 20

// uploadTimeout bounds one file upload (a CSV of a large directory is big).
const uploadTimeout = 2 * time.Minute

// stateLabels name the outcomes in the digest's "actions taken", in order.
var stateLabels = []struct {
	state review.ItemState
	label string
}{
	{review.ItemPending, "waiting for an answer"}, {review.ItemWarned, "warned"}, {review.ItemSuspending, "being suspended"},
	{review.ItemKept, "kept"}, {review.ItemSuspended, "suspended"}, {review.ItemIdPManaged, "deactivate at the IdP"},
	{review.ItemFailed, "failed"}, {review.ItemExcluded, "excluded"}, {review.ItemAlreadySuspended, "already suspended"},
	{review.ItemReported, "reported"}, {review.ItemDryRun, "dry run"}, {review.ItemNotInAtlassian, "not in Atlassian"},
}

// digestMessage is IT's post about one run: the figures, what was done,
// who IT must act on, and the people without a manager (listed here when
// few, in the thread when many: it is their first message).
func digestMessage(rep *review.Report, it promptView, priced bool) reviewMsg {
	run := rep.Run
	state := map[review.RunState]string{review.RunRunning: "finding people", review.RunOpen: "answers awaited",
		review.RunClosed: "every person has an outcome", review.RunFailed: "the run failed: " + esc(clip(run.Error, 200))}[run.State]
	meta := fmt.Sprintf("run `%s` · %s · started %s · %s", shortID(run.ID), esc(run.Trigger), when(run.StartedAt), state)
	if run.DryRun {
		meta += " · *DRY RUN: nothing was changed*"
	}
	inactive, reclaim := 0, 0
	for _, n := range rep.ByDepartment {
		inactive += n
	}
	for _, n := range rep.Reclaimable {
		reclaim += n
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Covered by the rule*\n%d of the %d in the directory", run.Counts.Covered, run.Counts.Directory),
		mrkdwn("*Inactive*\n%d for %s or more", inactive, durationWords(run.Settings.InactiveFor)),
		mrkdwn("*Licences reclaimable*\n%d", reclaim),
	}
	if priced {
		fields = append(fields, mrkdwn("*Monthly cost reclaimable*\n%.2f", rep.MonthlyCost))
	}
	var done []string
	for _, s := range stateLabels {
		if n := rep.Outcomes[s.state]; n > 0 {
			done = append(done, fmt.Sprintf("%s %d", s.label, n))
		}
	}
	if rep.Unassigned > 0 {
		done = append(done, fmt.Sprintf("unassigned (IT answers) %d", rep.Unassigned))
	}
	if len(done) == 0 {
		done = []string{"nobody needed anything"}
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(clip("Licence review: "+run.Rule, 140))),
		slack.NewContextBlock("", mrkdwn("%s", meta)),
		slack.NewSectionBlock(nil, fields, nil),
		section(mrkdwn("*Actions taken*\n%s", strings.Join(done, " · "))),
	}
	if len(rep.ByDepartment) > 0 {
		blocks = append(blocks, section(mrkdwn("*Inactive by department*\n%s", countLines(rep.ByDepartment, "departments"))))
		products := countLines(rep.ByProduct, "products")
		if reclaim > 0 {
			products += "\n*Reclaimable*: " + strings.ReplaceAll(countLines(rep.Reclaimable, "products"), "\n", " · ")
			if priced {
				products += fmt.Sprintf(" — %.2f a month", rep.MonthlyCost)
			}
		}
		blocks = append(blocks, section(mrkdwn("*Inactive by product*\n%s", products)))
	}
	if len(rep.NeedsIT) > 0 {
		var lines []string
		for i, x := range rep.NeedsIT {
			if i == digestLines {
				lines = append(lines, fmt.Sprintf("… and %d more in the CSV", len(rep.NeedsIT)-i))
				break
			}
			lines = append(lines, fmt.Sprintf("• %s — %s", esc(x.Email), esc(x.State.Outcome())))
		}
		blocks = append(blocks, section(mrkdwn(":rotating_light: *IT must act on %d*\n%s", len(rep.NeedsIT), strings.Join(lines, "\n"))))
	}
	if n := len(it.Entries); n > 0 && n <= inlineUnassigned {
		blocks = append(blocks, section(mrkdwn("*%d without a manager in jitbot's directory* — IT answers for them (members of the IT group only):", n)))
		for _, e := range it.Entries {
			blocks = append(blocks, entryBlocks(e, "", true)...)
		}
	} else if n > inlineUnassigned {
		blocks = append(blocks, section(mrkdwn("*%d without a manager in jitbot's directory*: IT answers for them in this thread (members of the IT group only), %d waiting.", n, it.open())))
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn("The chart and the full list (CSV) are in the thread. `jitbot review report --run %s` prints it too.", shortID(run.ID))))
	text := fmt.Sprintf("Licence review %s: %d inactive, %s; %d licences reclaimable", run.Rule, inactive, strings.Join(done, ", "), reclaim)
	return reviewMsg{Text: text, Blocks: capBlocks(blocks, maxMessageBlocks)}
}

func durationWords(d time.Duration) string {
	if d <= 0 {
		return "any time"
	}
	return policies.FormatDuration(d)
}

// countLines lists counts, largest first, one per line, the tail summed.
func countLines(m map[string]int, what string) string {
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range m {
		all = append(all, kv{k, n})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.k, b.k)
	})
	var lines []string
	for i, x := range all {
		if i == digestLines {
			rest := 0
			for _, y := range all[i:] {
				rest += y.n
			}
			lines = append(lines, fmt.Sprintf("… %d more %s: %d (in the CSV and the chart)", len(all)-i, what, rest))
			break
		}
		lines = append(lines, fmt.Sprintf("%s: %d", esc(clip(x.k, 60)), x.n))
	}
	return strings.Join(lines, "\n")
}

// runDigest performs a review.digest job: the post, IT's list and the
// files (the chart and the CSV) for the run as it stands.
func (b *Bot) runDigest(ctx context.Context, j *approvals.Job) error {
	return b.syncDigest(ctx, review.JobRef(j), true)
}

// syncIT brings IT's list of a run's unassigned people up to date: with
// the digest when the rule has one, else in the alert channel.
func (b *Bot) syncIT(ctx context.Context, runID string, post bool) error {
	run, err := b.cfg.Review.Run(ctx, runID)
	if err != nil {
		return err
	}
	if run.Settings.Digest != "" {
		return b.syncDigest(ctx, runID, false)
	}
	key := digestKey(runID)
	unlock := b.lockRequest(key)
	defer unlock()
	v, err := b.promptView(ctx, runID, "")
	if err != nil || len(v.Entries) == 0 {
		return err
	}
	if b.cfg.AlertChannel == "" {
		b.log.Warn("licence review: people without a manager, and neither a digest channel nor JITBOT_ALERT_CHANNEL to ask IT in",
			zap.String("run_id", runID), zap.Int("people", len(v.Entries)))
		return nil
	}
	return b.syncPages(ctx, key, promptPages(v, b.cfg.PageSize), post, func() (target, error) {
		return target{channel: b.cfg.AlertChannel}, nil
	})
}

// refreshDigest edits a run's digest post when its figures changed.
func (b *Bot) refreshDigest(ctx context.Context, runID string) error {
	refs, err := b.msgs.Messages(ctx, digestKey(runID))
	if err != nil || !hasMarker(refs, roleDigestPost, "") {
		return err
	}
	return b.syncDigest(ctx, runID, false)
}

// syncDigest posts the run's digest in the rule's channel (once) or edits
// it, lists the unassigned in its thread when there are many, and with
// files uploads the chart and the CSV into the thread, once for the run
// while answers are awaited and once when it is closed.
func (b *Bot) syncDigest(ctx context.Context, runID string, files bool) error {
	key := digestKey(runID)
	unlock := b.lockRequest(key)
	defer unlock()
	rep, err := b.cfg.Review.Report(ctx, runID)
	if err != nil {
		return err
	}
	channel := rep.Run.Settings.Digest
	if channel == "" {
		return nil
	}
	refs, err := b.msgs.Messages(ctx, key)
	if err != nil || hasMarker(refs, roleUnreachable, "") {
		return err
	}
	var unassigned []*review.Item
	for _, it := range rep.Items {
		if it.Manager == "" && asked(it) {
			unassigned = append(unassigned, it)
		}
	}
	slices.SortStableFunc(unassigned, func(a, c *review.Item) int { return strings.Compare(a.Email, c.Email) })
	v := promptView{Run: rep.Run, Entries: b.entries(ctx, unassigned), Priced: len(b.costs()) > 0}
	m := digestMessage(rep, v, v.Priced)

	var post MessageRef
	if i := slices.IndexFunc(refs, func(r MessageRef) bool { return r.Role == roleDigestPost }); i >= 0 {
		post = refs[i]
		if err := b.edit(ctx, post, m.Text, m.Blocks); err != nil {
			return err
		}
	} else {
		ch, ts, err := b.postChannel(ctx, channel, m.Text, m.Blocks)
		if isLater(err) {
			return err
		}
		if err != nil {
			return b.unpostable(ctx, key, runID, fmt.Sprintf("the licence review digest could not be posted in %s (%s): invite jitbot to the channel or fix the rule's digest", channel, slackErrorCode(err)))
		}
		post = MessageRef{RequestID: key, Role: roleDigestPost, Channel: ch, TS: ts, Hash: contentHash(m.Text, m.Blocks)}
		if err := b.msgs.PutMessage(ctx, post); err != nil {
			return err
		}
	}
	var errs []error
	if len(v.Entries) > inlineUnassigned {
		errs = append(errs, b.syncPages(ctx, key, promptPages(v, b.cfg.PageSize), true, func() (target, error) {
			return target{channel: post.Channel, thread: post.TS}, nil
		}))
	}
	if files {
		errs = append(errs, b.uploadReport(ctx, refs, rep, post))
	}
	return soonest(errs...)
}

// unpostable reports to IT, once, that a run's digest cannot be posted,
// and stops trying.
func (b *Bot) unpostable(ctx context.Context, key, runID, why string) error {
	b.log.Warn("licence review digest", zap.String("run_id", runID), zap.String("why", why))
	if err := b.svc.RaiseAlert(ctx, "", why); err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: roleUnreachable, Channel: "-"})
}

// uploadReport uploads the chart and the CSV of a run into its digest's
// thread (files.getUploadURLExternal, the upload, files.completeUploadExternal),
// once per phase of the run: while answers are awaited, and closed.
func (b *Bot) uploadReport(ctx context.Context, refs []MessageRef, rep *review.Report, post MessageRef) error {
	phase, suffix, comment := "open", "", "The chart and the full list of this run so far (CSV; cells a spreadsheet would run as formulas are escaped)."
	if rep.Run.State == review.RunClosed || rep.Run.State == review.RunFailed {
		phase, suffix, comment = "closed", "-final", "The chart and the full list of this run, every person with their outcome (CSV)."
	}
	marker := markerRole("files", phase)
	if hasMarker(refs, marker, "") {
		return nil
	}
	var chart, list bytes.Buffer
	if err := rep.WritePNG(&chart); err != nil {
		return fmt.Errorf("review chart: %w", err)
	}
	if err := rep.WriteCSV(&list); err != nil {
		return fmt.Errorf("review csv: %w", err)
	}
	base := fmt.Sprintf("licence-review-%s-%s%s", slug(rep.Run.Rule), shortID(rep.Run.ID), suffix)
	uploads := []struct {
		name, title, alt string
		data             []byte
	}{
		{base + ".png", "Licence review " + rep.Run.Rule + ": inactive people by department and product", "Bar charts: inactive people per department; per product, inactive people and licences reclaimed", chart.Bytes()},
		{base + ".csv", "Licence review " + rep.Run.Rule + ": every person", "", list.Bytes()},
	}
	var sums []slack.FileSummary
	for _, u := range uploads {
		var got *slack.GetUploadURLExternalResponse
		err := b.callFor(ctx, mGetUploadURL, "", b.cfg.CallTimeout, func(ctx context.Context) error {
			var err error
			got, err = b.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: u.name, FileSize: len(u.data), AltTxt: u.alt})
			return err
		})
		if err == nil {
			err = b.callFor(ctx, mUploadBytes, "", uploadTimeout, func(ctx context.Context) error {
				return b.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: got.UploadURL, Reader: bytes.NewReader(u.data), Filename: u.name})
			})
		}
		if err != nil {
			return b.uploadFailed(ctx, post, marker, err)
		}
		sums = append(sums, slack.FileSummary{ID: got.FileID, Title: u.title})
	}
	err := b.callFor(ctx, mCompleteUpload, post.Channel, b.cfg.CallTimeout, func(ctx context.Context) error {
		_, err := b.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: sums,
			Channel: post.Channel, ThreadTimestamp: post.TS, InitialComment: comment})
		return err
	})
	if err != nil {
		return b.uploadFailed(ctx, post, marker, err)
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: post.RequestID, Role: marker, Channel: post.Channel})
}

// uploadFailed puts an upload back while Slack asks to wait; a refusal
// (a missing files:write, the bot not in the channel) is told to IT once
// and not tried again.
func (b *Bot) uploadFailed(ctx context.Context, post MessageRef, marker string, err error) error {
	if isLater(err) {
		return err
	}
	why := fmt.Sprintf("the licence review's chart and CSV could not be uploaded to %s (%s)", post.Channel, slackErrorCode(err))
	switch slackErrorCode(err) {
	case "missing_scope":
		why += ": add the files:write scope to the Slack app and reinstall it"
	case "not_in_channel", "channel_not_found":
		why += ": invite jitbot to the channel"
	}
	b.log.Warn("licence review upload", zap.String("why", why))
	if aerr := b.svc.RaiseAlert(ctx, "", why); aerr != nil {
		return aerr
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: post.RequestID, Role: marker, Channel: post.Channel, Hash: "failed"})
}

// slug makes a rule's name fit a file name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// postChannel posts a message in a channel given by id or name, within its
// pace, and returns the channel's id with the message's ts.
func (b *Bot) postChannel(ctx context.Context, ch, text string, blocks []slack.Block) (string, string, error) {
	var id, ts string
	err := b.call(ctx, mPostMessage, ch, func(ctx context.Context) error {
		var err error
		id, ts, err = b.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
		return err
	})
	return id, ts, err
}

// postThread posts a reply in a message's thread.
func (b *Bot) postThread(ctx context.Context, ch, thread, text string, blocks []slack.Block) (string, error) {
	var ts string
	err := b.call(ctx, mPostMessage, ch, func(ctx context.Context) error {
		var err error
		_, ts, err = b.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(thread))
		return err
	})
	if err != nil && !isLater(err) {
		return "", fmt.Errorf("chat.postMessage to %s: %s", ch, slackErrorCode(err))
	}
	return ts, err
}
