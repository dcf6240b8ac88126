package atlassianfake

import (
	"fmt"
	"strings"

	"go.uber.org/zap/zaptest/observer"
)

// CheckNoLeak fails the test when any of secrets appears in an error of
// errs (printed with every verb), in a value of values (a provider, its
// configuration), or in a log entry's message or fields. It returns how
// many errs were not nil, so a test can make sure it checked something.
func CheckNoLeak(tb TB, secrets []string, errs []error, logs []observer.LoggedEntry, values ...any) (failures int) {
	tb.Helper()
	var texts []string
	for _, err := range errs {
		if err != nil {
			failures++
			texts = append(texts, fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err))
		}
	}
	for _, v := range values {
		texts = append(texts, fmt.Sprintf("%v|%+v|%#v|%s", v, v, v, v))
	}
	for _, e := range logs {
		texts = append(texts, fmt.Sprint(e.Message, e.ContextMap()))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				tb.Fatalf("credential leaked in %q", text)
			}
		}
	}
	return failures
}
