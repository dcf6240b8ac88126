// Package jitbot holds what every part of jitbot shares: the domain error.
// The domain packages (approvals, policies, review) return *Error for
// anything a person did or may fix; the edges (the Slack bot, the CLI)
// translate it once: its Message is already a sentence a person can read,
// and any other error is internal — logged with its detail, shown as a
// plain sentence.
package jitbot

import (
	"errors"
	"fmt"
)

// Error is a domain error: a Code for callers to act on, a Message a person
// can read, and, for forms, the Field of the input it is about.
type Error struct {
	Code    string
	Message string
	Field   string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// EInternal is the code ErrorCode gives any error that is not an *Error:
// something went wrong inside jitbot or a system it calls.
const EInternal = "internal"

// ErrorCode returns the code of err when it is or wraps an *Error, EInternal
// for any other error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of err when it is or wraps an *Error,
// and "" otherwise: only domain messages are shown to people as they are.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}
