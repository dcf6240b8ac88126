package localslack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/localslack"
)

const digestCSV = "name,email,last active\nBob Baker,bob@example.com,2026-01-03\n"

func TestFiles_UploadRoundTrip(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	api := newAPI(srv)
	ctx := context.Background()

	_, parent, err := api.PostMessage("C1", slack.MsgOptionText("Licence review: 1 inactive account", false))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader:          strings.NewReader(digestCSV),
		FileSize:        len(digestCSV),
		Filename:        "licence-review.csv",
		Title:           "Licence review, March",
		Channel:         "C1",
		InitialComment:  "The full list",
		ThreadTimestamp: parent,
	})
	if err != nil {
		t.Fatalf("UploadFileContext: %v", err)
	}
	if sum.ID == "" || sum.Title != "Licence review, March" {
		t.Errorf("got summary %+v", sum)
	}

	f, ok := srv.File(sum.ID)
	if !ok {
		t.Fatalf("file %s not recorded", sum.ID)
	}
	if f.Name != "licence-review.csv" || f.Title != "Licence review, March" || string(f.Bytes) != digestCSV ||
		f.Length != len(digestCSV) || !f.Uploaded || !f.Completed {
		t.Errorf("got file %+v", f)
	}
	if f.Channel != "C1" || f.ThreadTS != parent || f.InitialComment != "The full list" || f.MessageTS == "" {
		t.Errorf("got share channel=%q thread_ts=%q comment=%q message=%q", f.Channel, f.ThreadTS, f.InitialComment, f.MessageTS)
	}
	m, ok := srv.Message("C1", f.MessageTS)
	if !ok || m.Text != "The full list" || m.ThreadTS != parent || !slices.Equal(m.Files, []string{sum.ID}) {
		t.Errorf("got share message %+v", m)
	}
	if in := srv.FilesIn("#it-access"); len(in) != 1 || in[0].ID != sum.ID {
		t.Errorf("FilesIn: got %+v", in)
	}

	t.Run("Content", func(t *testing.T) {
		sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
			Content: "hello", FileSize: 5, Filename: "hello.txt", Channel: srv.DMChannel("U2"),
		})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := srv.File(sum.ID)
		if string(f.Bytes) != "hello" || f.Title != "hello.txt" || f.Channel != srv.DMChannel("U2") {
			t.Errorf("got %+v", f)
		}
		if dms := srv.DMsTo("U2"); len(dms) != 1 || !slices.Equal(dms[0].Files, []string{sum.ID}) {
			t.Errorf("got DMs %+v", dms)
		}
	})
	t.Run("Private", func(t *testing.T) {
		sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Content: "x", FileSize: 1, Filename: "x.txt"})
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := srv.File(sum.ID); !f.Completed || f.Channel != "" || len(f.Shares) != 0 {
			t.Errorf("got %+v, want a completed file shared nowhere", f)
		}
	})
	if v := srv.Violations(); len(v) != 0 {
		t.Errorf("slack-go's upload broke the spec or limits: %+v", v)
	}
	if n := len(srv.Files()); n != 3 {
		t.Errorf("got %d files, want 3", n)
	}
}

// getUploadURL asks for an upload URL with a raw form call.
func getUploadURL(t *testing.T, srv *localslack.Server, name string, length string) (string, string) {
	t.Helper()
	_, out := rawPost(t, srv, "files.getUploadURLExternal", srv.BotToken(), url.Values{"filename": {name}, "length": {length}})
	u, _ := out["upload_url"].(string)
	id, _ := out["file_id"].(string)
	if out["ok"] != true || u == "" || id == "" {
		t.Fatalf("got %v", out)
	}
	return u, id
}

func upload(t *testing.T, u, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func complete(t *testing.T, srv *localslack.Server, form url.Values) map[string]any {
	t.Helper()
	_, out := rawPost(t, srv, "files.completeUploadExternal", srv.BotToken(), form)
	return out
}

func TestFiles_Errors(t *testing.T) {
	t.Run("MissingScope", func(t *testing.T) {
		srv := newServer(t, localslack.Options{Scopes: []string{"chat:write"}})
		_, err := newAPI(srv).UploadFileContext(context.Background(), slack.UploadFileParameters{Content: "x", FileSize: 1, Filename: "x.txt", Channel: "C1"})
		var e slack.SlackErrorResponse
		if !errors.As(err, &e) || e.Err != "missing_scope" || e.Needed != "files:write" {
			t.Errorf("got %v, want missing_scope needing files:write", err)
		}
	})
	t.Run("RawUploadAndCompletion", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		u, id := getUploadURL(t, srv, "digest.csv", "5")
		if st, body := upload(t, u, "application/octet-stream", []byte("a,b,c")); st != 200 || body != "OK - 5" {
			t.Fatalf("raw upload: got %d %q", st, body)
		}
		out := complete(t, srv, url.Values{"files": {`[{"id":"` + id + `"}]`}, "channel_id": {"C1"}})
		if out["ok"] != true {
			t.Fatalf("got %v", out)
		}
		if f, _ := srv.File(id); f.Title != "digest.csv" || string(f.Bytes) != "a,b,c" || f.Channel != "C1" {
			t.Errorf("got %+v", f)
		}
		if out := complete(t, srv, url.Values{"files": {`[{"id":"` + id + `"}]`}, "channel_id": {"C1"}}); out["error"] != "file_not_found" {
			t.Errorf("second completion: got %v, want file_not_found", out)
		}
	})
	t.Run("UnknownFile", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		if out := complete(t, srv, url.Values{"files": {`[{"id":"F0NEVER","title":"x"}]`}, "channel_id": {"C1"}}); out["error"] != "file_not_found" {
			t.Errorf("got %v, want file_not_found", out)
		}
		_, id := getUploadURL(t, srv, "digest.csv", "5")
		if out := complete(t, srv, url.Values{"files": {`[{"id":"` + id + `"}]`}, "channel_id": {"C1"}}); out["error"] != "file_not_found" {
			t.Errorf("never uploaded: got %v, want file_not_found", out)
		}
		if n := len(srv.Messages("C1")); n != 0 {
			t.Errorf("got %d messages", n)
		}
	})
	t.Run("InvalidChannel", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		u, id := getUploadURL(t, srv, "digest.csv", "1")
		upload(t, u, "text/csv", []byte("x"))
		if out := complete(t, srv, url.Values{"files": {`[{"id":"` + id + `"}]`}, "channel_id": {"C404"}}); out["error"] != "invalid_channel" {
			t.Errorf("got %v, want invalid_channel", out)
		}
		if f, _ := srv.File(id); f.Completed {
			t.Error("a failed completion completed the file")
		}
	})
	t.Run("LengthZero", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		if _, out := rawPost(t, srv, "files.getUploadURLExternal", srv.BotToken(), url.Values{"filename": {"x.txt"}, "length": {"0"}}); out["error"] != "missing_argument" {
			t.Errorf("got %v, want missing_argument", out)
		}
	})
	t.Run("MissingArguments", func(t *testing.T) {
		rec := &recordingTB{TB: t}
		srv := localslack.New(rec, localslack.Options{})
		if srv.SpecPath() == "" {
			t.Skip("slack spec not found")
		}
		_, out := rawPost(t, srv, "files.getUploadURLExternal", srv.BotToken(), url.Values{"length": {"many"}})
		if out["error"] != "invalid_arguments" || !strings.Contains(metaMessages(out), "filename") || !strings.Contains(metaMessages(out), "integer") {
			t.Errorf("got %v", out)
		}
		// The spec supplement fails the test as the spec does for documented methods.
		errs := strings.Join(rec.errors(), "\n")
		if !strings.Contains(errs, `missing required parameter "filename"`) || !strings.Contains(errs, `parameter "length"`) {
			t.Errorf("got test errors %q", errs)
		}
		complete(t, srv, url.Values{"files": {`{"id":"F1"}`}})
		if errs := strings.Join(rec.errors(), "\n"); !strings.Contains(errs, `parameter "files"`) {
			t.Errorf("files as an object, not an array: got test errors %q", errs)
		}
	})
	t.Run("WrongLength", func(t *testing.T) {
		rec := &recordingTB{TB: t}
		srv := localslack.New(rec, localslack.Options{})
		u, id := getUploadURL(t, srv, "digest.csv", "10")
		if st, _ := upload(t, u, "text/csv", []byte("short")); st != http.StatusBadRequest {
			t.Errorf("got HTTP %d, want 400", st)
		}
		if errs := rec.errors(); len(errs) != 1 || !strings.Contains(errs[0], "received 5 bytes") {
			t.Errorf("got test errors %q", errs)
		}
		if v := srv.Violations(); len(v) != 1 || v[0].Kind != localslack.ViolationUpload {
			t.Errorf("got violations %+v", v)
		}
		if f, _ := srv.File(id); f.Uploaded {
			t.Error("a short upload was accepted")
		}
		if st, _ := upload(t, srv.APIURL()+"../upload/v1/nope", "text/csv", []byte("x")); st != http.StatusNotFound {
			t.Errorf("unknown upload URL: got HTTP %d, want 404", st)
		}
	})
	t.Run("CompletionBlocks", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		u, id := getUploadURL(t, srv, "digest.csv", "1")
		upload(t, u, "text/csv", []byte("x"))
		long := mustJSON([]any{section(strings.Repeat("x", 3001))})
		if out := complete(t, srv, url.Values{"files": {`[{"id":"` + id + `"}]`}, "channel_id": {"C1"}, "blocks": {long}}); out["error"] != "invalid_blocks" {
			t.Errorf("got %v, want invalid_blocks", out)
		}
		ok := mustJSON([]any{section("*Licence review*")})
		if out := complete(t, srv, url.Values{"files": {`[{"id":"` + id + `"}]`}, "channel_id": {"C1"}, "blocks": {ok}}); out["ok"] != true {
			t.Fatalf("got %v", out)
		}
		if msgs := srv.Messages("C1"); len(msgs) != 1 || !strings.Contains(msgs[0].AllText(), "Licence review") {
			t.Errorf("got %+v", msgs)
		}
	})
}
