package review

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// The outbox jobs the engine enqueues. JobSuspend is an access-lane job the
// engine runs itself (RunSuspendJob); the others are message-lane jobs for
// the front end (the Slack bot) to deliver, idempotently per job id.
const (
	// JobSuspend suspends one item's person. Ref: the item id.
	JobSuspend approvals.JobKind = "review.suspend"
	// JobPrompt asks a manager about their inactive people, once per run
	// and manager. Ref: PromptRef(run, manager); Prompt lists the items.
	JobPrompt approvals.JobKind = "review.prompt"
	// JobReminder reminds a manager of a prompt still waiting; its RunAt
	// is the reminder's due time (half of answer_within, and a day before
	// the end when answer_within is longer than two days). Ref: as
	// JobPrompt. A reminder for a prompt fully answered sends nothing.
	JobReminder approvals.JobKind = "review.reminder"
	// JobWarning tells a person and their manager that the person will be
	// suspended at Item.SuspendAt. Ref: the item id.
	JobWarning approvals.JobKind = "review.warning"
	// JobKeepRequest hands the person's "I still need it" to the manager.
	// Ref: the item id.
	JobKeepRequest approvals.JobKind = "review.keep_request"
	// JobItemUpdate: items of a prompt reached their outcome (answered,
	// defaulted, suspended, refused, failed); the card showing them is
	// edited. Ref: the PromptRef; JobItems: the items (updates coalesce).
	JobItemUpdate approvals.JobKind = "review.item"
	// JobDigest posts (Note DigestOpened) or updates (Note DigestClosed) a
	// run's digest in the rule's digest channel. Ref: the run id.
	JobDigest approvals.JobKind = "review.digest"
)

// Notes of JobDigest.
const (
	DigestOpened = "opened" // the first pass is done
	DigestClosed = "closed" // every item has its outcome
)

// MessageJobs lists the message-lane job kinds a front end registers.
var MessageJobs = []approvals.JobKind{JobPrompt, JobReminder, JobWarning, JobKeepRequest, JobItemUpdate, JobDigest}

// newJob builds an outbox job about ref, in the lane its kind runs in.
func newJob(kind approvals.JobKind, ref string, runAt time.Time) *approvals.Job {
	lane := approvals.LaneMessage
	if kind == JobSuspend {
		lane = approvals.LaneAccess
	}
	return &approvals.Job{Kind: kind, Lane: lane, Ref: ref, RunAt: runAt}
}

// promptJob builds a job about one manager's prompt. Jobs of one prompt
// share a key, so they run in order (the prompt is posted before its card
// is edited); item updates coalesce into one edit.
func promptJob(kind approvals.JobKind, runID, manager string, runAt time.Time) *approvals.Job {
	j := newJob(kind, PromptRef(runID, manager), runAt)
	j.Key = "review-prompt:" + j.Ref
	return j
}

// JobRef returns the reference a review job carries (an item id, a run id,
// or a PromptRef).
func JobRef(j *approvals.Job) string { return j.Ref }

// JobItems returns the item ids a JobItemUpdate carries (several when
// updates of one prompt coalesced).
func JobItems(j *approvals.Job) []string {
	if j.Note == "" {
		return nil
	}
	return strings.Split(j.Note, ",")
}

// PromptRef names the prompt of one run to one manager ("" for IT, who
// answers for the unassigned).
func PromptRef(runID, manager string) string { return runID + "/" + manager }

// ParsePromptRef splits a PromptRef.
func ParsePromptRef(ref string) (runID, manager string) {
	runID, manager, _ = strings.Cut(ref, "/")
	return runID, manager
}

// Registrar is the approvals engine's job registry.
type Registrar interface {
	Register(kind approvals.JobKind, t approvals.JobType)
}

// RegisterJobs registers the engine's own job, JobSuspend, on the access
// lane: a suspension never waits behind Slack messages. The front end
// registers the message kinds (MessageJobs) it delivers.
func (e *Engine) RegisterJobs(r Registrar) {
	r.Register(JobSuspend, approvals.JobType{Lane: approvals.LaneAccess, Run: e.RunSuspendJob,
		Failed: func(tx approvals.Tx, j *approvals.Job, cause error) error {
			rt, ok := tx.(Tx)
			if !ok {
				return fmt.Errorf("review: the store's transaction %T is not a review.Tx", tx)
			}
			return e.SuspendJobFailedTx(rt, j, cause)
		}})
}
