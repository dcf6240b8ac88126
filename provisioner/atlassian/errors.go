package atlassian

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Error is an answer from an Atlassian API that was not a success, with
// both of Atlassian's error shapes parsed: Jira's
// {"errorMessages":[…],"errors":{"field":"…"}} and the Admin API's
// {"errors":[{"code","status","title","detail"}]}.
type Error struct {
	API    string // "jira" or "admin"
	Method string
	Path   string // without the query string
	Status int    // HTTP status code

	Messages []string          // Jira errorMessages; Admin titles and details; other "message" fields
	Fields   map[string]string // Jira errors by field
	Codes    []string          // Admin error codes (ADMIN-UAM-…)

	// Reason is the plain sentence IT reads in an alert, such as "the API
	// token's user is not a site admin". Set for 401, 403 and 404 by the
	// transport and made exact by the provider, which knows what it asked.
	Reason string

	// RetryAfter is how long the API asked us to wait (429 and 503), if it said.
	RetryAfter time.Duration
	// Attempts is how many times the call was sent.
	Attempts int
}

// Error puts the reason first, then what was asked and what came back.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Reason != "" {
		b.WriteString(e.Reason)
		b.WriteString(" (")
	}
	fmt.Fprintf(&b, "%s %s %s: %d %s", e.API, e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if d := e.Detail(); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.Reason != "" {
		b.WriteString(")")
	}
	return b.String()
}

// Detail joins what the API said: messages, field errors and codes.
func (e *Error) Detail() string {
	parts := append([]string(nil), e.Messages...)
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+e.Fields[k])
	}
	if len(e.Codes) > 0 {
		parts = append(parts, "code "+strings.Join(e.Codes, ", "))
	}
	return strings.Join(parts, "; ")
}

// Says reports whether any message or field error contains substr,
// ignoring case.
func (e *Error) Says(substr string) bool {
	substr = strings.ToLower(substr)
	for _, m := range e.Messages {
		if strings.Contains(strings.ToLower(m), substr) {
			return true
		}
	}
	for _, m := range e.Fields {
		if strings.Contains(strings.ToLower(m), substr) {
			return true
		}
	}
	return false
}

// WithReason returns a copy of e with the human reason set.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// Retryable reports whether the transport retries the status: 429 and the
// transient gateway answers 502, 503, 504.
func Retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// PermanentStatus reports whether retrying a call that got status cannot
// help: every 4xx except 408 Request Timeout, 409 Conflict, 423 Locked,
// 425 Too Early and 429 Too Many Requests. This includes 401, 403 and 404.
func PermanentStatus(status int) bool {
	if status < 400 || status >= 500 {
		return false
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusLocked, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return true
}

// AsError returns the *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// StatusOf returns the HTTP status of the *Error in err's chain, or 0.
func StatusOf(err error) int {
	if e, ok := AsError(err); ok {
		return e.Status
	}
	return 0
}

// parseErrorBody reads either error shape, or any object with "message"
// or "error", into e. Text that is not JSON is kept, shortened, as one
// message.
func parseErrorBody(e *Error, body []byte) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	var raw struct {
		ErrorMessages []string        `json:"errorMessages"`
		Errors        json.RawMessage `json:"errors"`
		Message       string          `json:"message"`
		Error         json.RawMessage `json:"error"`
		Code          any             `json:"code"`
		ErrorCode     string          `json:"errorCode"`    // Okta
		ErrorSummary  string          `json:"errorSummary"` // Okta
		ErrorCauses   []struct {
			Summary string `json:"errorSummary"`
		} `json:"errorCauses"` // Okta
	}
	if body[0] != '{' || json.Unmarshal(body, &raw) != nil {
		e.Messages = append(e.Messages, shorten(string(body), 300))
		return
	}
	e.Messages = append(e.Messages, raw.ErrorMessages...)
	errs := bytes.TrimSpace(raw.Errors)
	switch {
	case len(errs) > 0 && errs[0] == '{': // Jira: by field
		var fields map[string]string
		if json.Unmarshal(errs, &fields) == nil && len(fields) > 0 {
			e.Fields = fields
		}
	case len(errs) > 0 && errs[0] == '[': // Admin API
		var list []struct {
			Code   string `json:"code"`
			Status any    `json:"status"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(errs, &list) == nil {
			for _, x := range list {
				if x.Code != "" {
					e.Codes = append(e.Codes, x.Code)
				}
				switch {
				case x.Title != "" && x.Detail != "":
					e.Messages = append(e.Messages, x.Title+": "+x.Detail)
				case x.Detail != "":
					e.Messages = append(e.Messages, x.Detail)
				case x.Title != "":
					e.Messages = append(e.Messages, x.Title)
				}
			}
		}
	}
	if raw.Message != "" {
		e.Messages = append(e.Messages, raw.Message)
	}
	if raw.ErrorSummary != "" {
		e.Messages = append(e.Messages, raw.ErrorSummary)
	}
	for _, c := range raw.ErrorCauses {
		if c.Summary != "" {
			e.Messages = append(e.Messages, c.Summary)
		}
	}
	if raw.ErrorCode != "" {
		e.Codes = append(e.Codes, raw.ErrorCode)
	}
	var s string
	var nested struct { // Graph and Google: {"error":{"code","message","errors":[{"reason"}]}}
		Code    any    `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	switch {
	case len(raw.Error) > 0 && json.Unmarshal(raw.Error, &s) == nil && s != "":
		e.Messages = append(e.Messages, s)
	case len(raw.Error) > 0 && json.Unmarshal(raw.Error, &nested) == nil:
		if nested.Message != "" {
			e.Messages = append(e.Messages, nested.Message)
		}
		if c, ok := nested.Code.(string); ok && c != "" {
			e.Codes = append(e.Codes, c)
		}
		for _, r := range nested.Errors {
			if r.Reason != "" {
				e.Codes = append(e.Codes, r.Reason)
			}
		}
	}
	if c, ok := raw.Code.(string); ok && c != "" && len(e.Codes) == 0 {
		e.Codes = append(e.Codes, c)
	}
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
