package approvals

import (
	"github.com/jitbot/jitbot"
)

// Error codes. Callers translate them at the edges (a Slack sentence, a CLI
// exit code); Message is already a sentence a person can read.
const (
	ENotFound       = "not_found"
	EConflict       = "conflict"        // the request is not in a state that allows this
	ENotApprover    = "not_approver"    // the person may not decide this step
	ESelfApproval   = "self_approval"   // requesters do not approve their own requests
	EAlreadyDone    = "already_decided" // this approver already answered this step
	EInvalid        = "invalid"         // bad input: missing reason, ticket, duration
	EForbidden      = "forbidden"       // the person may not act on this request
	EPolicy         = "policy"          // the policy refused the request
	EIllegalChange  = "illegal_transition"
	ETooMany        = "too_many"        // the requester has as many pending requests as the policy allows
	ERepeatApprover = "repeat_approver" // the person approved an earlier step: another must approve this one
)

// Error is the engine's domain error: jitbot's one domain error, with a
// code above, a sentence a person can read, and, for forms, the Field of
// the input it is about.
type Error = jitbot.Error

// Inputs of a request an Error can be about.
const (
	FieldResource = "resource"
	FieldDuration = "duration"
	FieldReason   = "reason"
	FieldTicket   = "ticket"
	// FieldRequester: the person a request is filed for (on behalf).
	FieldRequester = "requester"
)

// fieldErrorf returns an *Error about one input.
func fieldErrorf(code, field, format string, args ...any) *Error {
	e := Errorf(code, format, args...)
	e.Field = field
	return e
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error { return jitbot.Errorf(code, format, args...) }

// ErrorCode returns the code of err, jitbot.EInternal for an error that is
// not an *Error, and "" for nil.
func ErrorCode(err error) string { return jitbot.ErrorCode(err) }

// Sentinel errors returned by Tx implementations.
var (
	ErrNotFound  = &Error{Code: ENotFound, Message: "not found"}
	ErrConflict  = &Error{Code: EConflict, Message: "the record changed underneath; nothing was written"}
	ErrDuplicate = &Error{Code: EAlreadyDone, Message: "already recorded"}
)
