package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// FuzzCommandText reads /access text as handleCommand does: the verb,
// then DURATION REASON… for a request or an extension. It must never
// panic; a duration is positive; the reason is the words as typed, one
// space apart; a ticket is a key found in the reason; what is echoed back
// to the person cannot mention or link anyone (<, >, & are escaped).
func FuzzCommandText(f *testing.F) {
	for _, s := range []string{
		"", "help", "list", "jira-admins 2h fixing the deploy OPS-1234", "extend 1a2b3c4d 2h one more hour",
		"cancel 1a2b3c4d", "confluence-finance 2x <!channel>", "jira-admins 1d12h  two  spaces", "audit @alice",
		"restore <@U0ALICE|alice>", "x -1h y", "x 9999999999999999999d y", "x 0h y", "\u00a0jira\u3000admins 1h\ttab",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		args := strings.Fields(text)
		if len(args) < 2 {
			return
		}
		for _, words := range [][]string{args[1:], args[min(2, len(args)):]} {
			d, reason, ticket, err := requestWords(words)
			if err != nil {
				msg := err.Error()
				if strings.ContainsAny(msg, "<>") || strings.Contains(msg, "strconv") {
					t.Fatalf("requestWords(%q): message %q", words, msg)
				}
				continue
			}
			if d <= 0 {
				t.Fatalf("requestWords(%q): duration %v, want positive", words, d)
			}
			if reason != strings.Join(words[1:], " ") {
				t.Fatalf("requestWords(%q): reason %q", words, reason)
			}
			if ticket != "" && !strings.Contains(reason, ticket) {
				t.Fatalf("requestWords(%q): ticket %q not in the reason", words, ticket)
			}
		}
	})
}

// FuzzSocketPayload decodes an interactive Socket Mode envelope as
// slack-go's client does (the envelope, then its payload as a
// slack.InteractionCallback) and reads it as the handlers do: the
// action's name and value (a request id, a review item, a prompt's
// run/manager), a view submission's inputs, duration and private
// metadata. Nothing a client sends may make the bot panic.
func FuzzSocketPayload(f *testing.F) {
	for _, s := range []string{
		`{"envelope_id":"e1","type":"interactive","accepts_response_payload":false,"payload":{"type":"block_actions","user":{"id":"U0ALICE"},"channel":{"id":"D1"},"actions":[{"action_id":"approve.1a2b","block_id":"b","type":"button","value":"1a2b3c4d-0000-0000-0000-000000000000"}]}}`,
		`{"envelope_id":"e2","type":"interactive","payload":{"type":"block_actions","user":{"id":"U0BOB"},"view":{"id":"V1","type":"home"},"actions":[{"action_id":"review_keep_all.x","type":"button","value":"run-1/bob@example.com"}]}}`,
		`{"envelope_id":"e3","type":"interactive","accepts_response_payload":true,"payload":{"type":"view_submission","user":{"id":"U0ALICE"},"view":{"id":"V2","type":"modal","callback_id":"request","private_metadata":"","blocks":[{"type":"input","block_id":"reason","element":{"type":"plain_text_input","action_id":"text"},"label":{"type":"plain_text","text":"Why"}}],"state":{"values":{"resource":{"resource":{"type":"static_select","selected_option":{"text":{"type":"plain_text","text":"Jira admins"},"value":"jira-admins"}}},"duration":{"duration":{"type":"static_select","selected_option":{"value":"2h"}}},"reason":{"text":{"type":"plain_text_input","value":"  fixing the deploy  "}},"ticket":{"text":{"type":"plain_text_input","value":"OPS-1"}}}}}}}`,
		`{"envelope_id":"e4","type":"interactive","payload":{"type":"view_submission","user":{"id":"U0DAVE"},"view":{"callback_id":"review_keep_all","private_metadata":"run-1/","state":{"values":{"reason":{"text":{"value":"contractors"}}}}}}}`,
		`{"envelope_id":"e5","type":"interactive","payload":{"type":"block_actions","actions":[{"action_id":"resource","type":"static_select","selected_option":{"value":"x"}}],"view":{"id":"V3","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"x"}},{"type":"actions","elements":[]}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req socketmode.Request
		if json.Unmarshal(data, &req) != nil {
			return
		}
		var ic slack.InteractionCallback
		if json.Unmarshal(req.Payload, &ic) != nil {
			return
		}
		for _, a := range ic.ActionCallback.BlockActions {
			if a == nil {
				continue
			}
			name, _, _ := strings.Cut(a.ActionID, ".")
			_ = name
			runID, manager := review.ParsePromptRef(a.Value)
			if strings.Contains(a.Value, "/") && review.PromptRef(runID, manager) != a.Value {
				t.Fatalf("prompt ref %q reads as %q, %q", a.Value, runID, manager)
			}
		}
		v := ic.View
		for _, blk := range []string{blkResource, blkDuration, blkReason, blkTicket} {
			in := inputValue(v, blk)
			if in != strings.TrimSpace(in) && v.State != nil && len(v.State.Values[blk]) == 1 {
				for _, a := range v.State.Values[blk] {
					if a.SelectedOption.Value == "" {
						t.Fatalf("input %s: %q is not trimmed", blk, in)
					}
				}
			}
		}
		if d, err := policies.ParseDuration(inputValue(v, blkDuration)); err == nil && d <= 0 {
			t.Fatalf("duration %v from a submission", d)
		}
		if b := firstBlock(v); b == "" && utf8.ValidString(b) {
			for _, bl := range v.Blocks.BlockSet {
				if in, ok := bl.(*slack.InputBlock); ok && in.BlockID != "" {
					t.Fatal("firstBlock missed an input block")
				}
			}
		}
		review.ParsePromptRef(v.PrivateMetadata)
	})
}
