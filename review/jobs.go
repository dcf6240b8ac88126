package review

import (
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
	// JobItemUpdate: an item of a prompt reached its outcome (answered,
	// defaulted, suspended, refused, failed); cards showing it are edited.
	// Ref: the item id.
	JobItemUpdate approvals.JobKind = "review.item"
	// JobDigest posts (Payload DigestOpened) or updates (DigestClosed) a
	// run's digest in the rule's digest channel. Ref: the run id.
	JobDigest approvals.JobKind = "review.digest"
)

// Payloads of JobDigest.
const (
	DigestOpened = "opened" // the first pass is done
	DigestClosed = "closed" // every item has its outcome
)

// MessageJobs lists the message-lane job kinds a front end registers.
var MessageJobs = []approvals.JobKind{JobPrompt, JobReminder, JobWarning, JobKeepRequest, JobItemUpdate, JobDigest}

// newJob builds an outbox job about ref.
//
// The job-lane API (approvals.Job.Lane and .Ref) is not on this branch yet:
// until it is, the ref travels in Payload and JobRef reads it back. When it
// lands, this function and JobRef are the only places to change.
func newJob(kind approvals.JobKind, ref string, runAt time.Time) *approvals.Job {
	return &approvals.Job{Kind: kind, Payload: ref, RunAt: runAt}
}

// JobRef returns the reference a review job carries (an item id, a run id,
// or a PromptRef).
func JobRef(j *approvals.Job) string {
	ref, _, _ := strings.Cut(j.Payload, "\x00")
	return ref
}

// PromptRef names the prompt of one run to one manager ("" for IT, who
// answers for the unassigned).
func PromptRef(runID, manager string) string { return runID + "/" + manager }

// ParsePromptRef splits a PromptRef.
func ParsePromptRef(ref string) (runID, manager string) {
	runID, manager, _ = strings.Cut(ref, "/")
	return runID, manager
}
