package localslack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/localslack"
)

var quiet = log.New(io.Discard, "", 0)

// newServer starts an emulator with two users and a channel.
func newServer(t *testing.T, opts localslack.Options) *localslack.Server {
	t.Helper()
	srv := localslack.New(t, opts)
	srv.AddUser(localslack.User{ID: "U1", Name: "alice", RealName: "Alice A", Email: "alice@example.com", TZ: "Europe/Berlin", TZOffset: 3600})
	srv.AddUser(localslack.User{ID: "U2", Name: "bob", RealName: "Bob B", Email: "bob@example.com"})
	srv.AddChannel("C1", "it-access")
	return srv
}

func newAPI(srv *localslack.Server) *slack.Client {
	return slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()),
		slack.OptionAppLevelToken(srv.AppToken()), slack.OptionLog(quiet))
}

// handlerFunc handles one socketmode event; it must ack requests itself.
type handlerFunc func(c *socketmode.Client, evt socketmode.Event)

// startBot runs a real slack-go socketmode client against srv, handing every
// event to handle, until the test ends.
func startBot(t *testing.T, srv *localslack.Server, handle handlerFunc) *slack.Client {
	t.Helper()
	api := newAPI(srv)
	sm := socketmode.New(api, socketmode.OptionLog(quiet))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = sm.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				handle(sm, evt)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("socketmode client did not stop")
		}
	})
	return api
}

// ackAll acks every request without a payload.
func ackAll(c *socketmode.Client, evt socketmode.Event) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		_ = c.Ack(*evt.Request)
	}
}

// rawPost sends a form-encoded Web API call and decodes the answer.
func rawPost(t *testing.T, srv *localslack.Server, method, token string, form url.Values) (int, map[string]any) {
	t.Helper()
	if token != "" {
		form.Set("token", token)
	}
	resp, err := http.Post(srv.APIURL()+method, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("post %s: %v", method, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", method, err)
	}
	return resp.StatusCode, out
}

// rawJSON sends a JSON Web API call with a Bearer token.
func rawJSON(t *testing.T, srv *localslack.Server, method, token string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, srv.APIURL()+method, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", method, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", method, err)
	}
	return out
}

func slackErr(err error) string {
	if e, ok := err.(slack.SlackErrorResponse); ok {
		return e.Err
	}
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%T: %v", err, err)
}

func metaMessages(out map[string]any) string {
	md, _ := out["response_metadata"].(map[string]any)
	msgs, _ := md["messages"].([]any)
	var s []string
	for _, m := range msgs {
		s = append(s, fmt.Sprint(m))
	}
	return strings.Join(s, "\n")
}

// recordingTB captures Errorf so a test can assert that the emulator fails
// a test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func section(text string) map[string]any {
	return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
