package policies

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot"
)

// Codes of Error (Error.Code, ErrorCode), returned by Evaluate and MaxFor.
// They are strings, not error values: compare ErrorCode(err) with them.
const (
	// CodeUnknownPerson: the requester is not in the directory.
	CodeUnknownPerson = "unknown_person"
	// CodeUnknownResource: no resource has the id asked for.
	CodeUnknownResource = "unknown_resource"
	// CodeNoRule: no rule matches the request, so it is refused.
	CodeNoRule = "no_rule"
	// CodeNoApprovers: a step of the matching rule resolves to fewer
	// approvers than its quorum, so the request could never be approved.
	CodeNoApprovers = "no_approvers"
	// CodeTooLong: the duration asked for exceeds the effective maximum.
	CodeTooLong = "too_long"
	// CodeInvalidDuration: the duration asked for is negative.
	CodeInvalidDuration = "invalid_duration"
)

// Error is the domain error of Evaluate and MaxFor: jitbot's one domain
// error, with a Code above for callers to act on and a plain-English
// Message a requester can read.
type Error = jitbot.Error

func errorf(code, format string, args ...any) *Error { return jitbot.Errorf(code, format, args...) }

// ErrorCode returns the code of err when it is or wraps an *Error,
// jitbot.EInternal for any other error, and "" for nil.
func ErrorCode(err error) string { return jitbot.ErrorCode(err) }

// Problem is one thing wrong in a policy file or its CSV directory.
type Problem struct {
	File    string
	Line    int // from 1
	Column  int // from 1, in bytes for a CSV file
	Message string
}

// String formats the problem as "file:line:column: message", the form
// editors and CI annotations understand.
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// LoadError is returned by Load and Parse for an invalid policy. It lists
// every problem found, sorted by file (the policy file first), line and
// column.
type LoadError struct {
	Problems []Problem
	// Warnings are the policy's warning findings (lint.go), known when
	// only lint errors refused it; Error does not print them.
	Warnings []Finding
}

// Error prints one problem per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems deterministically, the policy file's own
// first, and drops exact duplicates (a merged YAML mapping can produce the
// same problem twice).
func sortProblems(source string, ps []Problem) []Problem {
	slices.SortFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmpBool(a.File != source, b.File != source),
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(ps)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}
