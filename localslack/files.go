package localslack

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// File uploads (Slack's "V2" flow, the one slack-go's UploadFileContext
// uses):
//
//  1. files.getUploadURLExternal(filename, length) answers upload_url and
//     file_id;
//  2. the client POSTs the bytes to upload_url, raw or as a multipart form
//     (slack-go sends a multipart part named "file"); the emulator serves
//     that URL under /upload/v1/ on its own host, so slack-go's check that
//     the URL may receive the token passes;
//  3. files.completeUploadExternal(files=[{id,title}], channel_id,
//     initial_comment, thread_ts, blocks) shares the files in the channel
//     as one message from the bot with the files attached.
//
// Rules, from the methods' documentation (the 2021 OpenAPI spec predates
// both methods; their parameters are described in specSupplement):
//
//   - both methods need files:write (missing_scope otherwise);
//   - getUploadURLExternal: filename and length are required
//     (invalid_arguments when absent or not an integer); a length of 0 or
//     less answers missing_argument, as Slack documents; alt_txt over 1000
//     characters answers alt_txt_too_large; with snippet_type, a length
//     over 1 MB answers snippet_too_large;
//   - the upload URL takes one upload; the bytes must number exactly
//     length (HTTP 400 and a ViolationUpload otherwise, failing the test
//     under StrictSpec); it answers HTTP 200 "OK - <length>" as Slack does;
//   - completeUploadExternal: a file id that was never issued, whose bytes
//     never arrived, or that was already completed answers file_not_found
//     ("Could not find the file from the upload ticket"); a channel_id or
//     channels entry the emulator does not know answers invalid_channel;
//     blocks are checked like chat.postMessage's and ignored when
//     initial_comment is set, as Slack documents;
//   - without a channel the file stays private: completed, shared nowhere.
const (
	maxAltTxt      = 1000
	maxSnippetSize = 1 << 20
)

// File is a file uploaded through files.getUploadURLExternal, its upload
// URL and files.completeUploadExternal.
type File struct {
	ID          string
	Name        string // filename given to files.getUploadURLExternal
	Title       string // from files.completeUploadExternal; Name when none
	Length      int    // the length announced to files.getUploadURLExternal
	AltText     string
	SnippetType string
	// Bytes are the uploaded bytes, nil until the upload URL received them.
	Bytes     []byte
	Uploaded  bool
	Completed bool
	// Channel, ThreadTS and MessageTS locate the message the file was
	// shared in (the first one when shared in several channels); all empty
	// for a file completed without a channel.
	Channel        string
	ThreadTS       string
	MessageTS      string
	InitialComment string
	Shares         []FileShare // every message the file was shared in
	CreatedAt      time.Time   // Options.Now at files.getUploadURLExternal
	CompletedAt    time.Time
}

// FileShare is a message a file was shared in.
type FileShare struct {
	Channel string
	TS      string
}

// Files returns every file the bot started uploading, oldest first,
// completed or not.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.fileOrder))
	for _, id := range s.fileOrder {
		out = append(out, copyFile(s.files[id]))
	}
	return out
}

// File returns one file by id.
func (s *Server) File(id string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		return File{}, false
	}
	return copyFile(f), true
}

// FilesIn returns the files shared in a channel (id or name), oldest first.
func (s *Server) FilesIn(channelID string) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.resolveChannelLocked(channelID); ok {
		channelID = id
	}
	var out []File
	for _, id := range s.fileOrder {
		f := s.files[id]
		if slices.ContainsFunc(f.Shares, func(sh FileShare) bool { return sh.Channel == channelID }) {
			out = append(out, copyFile(f))
		}
	}
	return out
}

func copyFile(f *File) File {
	c := *f
	c.Bytes = slices.Clone(f.Bytes)
	c.Shares = slices.Clone(f.Shares)
	return c
}

func (s *Server) filesGetUploadURLExternal(q *request) map[string]any {
	var msgs []string
	name := q.str("filename")
	if name == "" {
		msgs = append(msgs, "[ERROR] missing required field: filename")
	}
	length, err := strconv.Atoi(q.str("length"))
	switch {
	case !q.has("length") || q.str("length") == "":
		msgs = append(msgs, "[ERROR] missing required field: length")
	case err != nil:
		msgs = append(msgs, "[ERROR] must be an integer [json-pointer:/length]")
	}
	if len(msgs) > 0 {
		return failMessages("invalid_arguments", msgs)
	}
	if length <= 0 {
		return fail("missing_argument")
	}
	if utf8.RuneCountInString(q.str("alt_txt")) > maxAltTxt {
		return fail("alt_txt_too_large")
	}
	if q.str("snippet_type") != "" && length > maxSnippetSize {
		return fail("snippet_too_large")
	}
	id := s.nextIDLocked("F")
	token := s.randLocked(40)
	s.files[id] = &File{ID: id, Name: name, Length: length, AltText: q.str("alt_txt"),
		SnippetType: q.str("snippet_type"), CreatedAt: s.now()}
	s.fileOrder = append(s.fileOrder, id)
	s.uploads[token] = id
	return map[string]any{"upload_url": s.hs.URL + "/upload/v1/" + token, "file_id": id}
}

// handleUpload receives a file's bytes at the URL files.getUploadURLExternal
// handed out.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.URL.Path, "/upload/v1/")
	data, readErr := readUpload(r)

	s.mu.Lock()
	call := Call{Method: "upload_url", At: s.now(), Args: map[string]string{"bytes": strconv.Itoa(len(data))}}
	status, answer := http.StatusOK, ""
	id, ok := s.uploads[token]
	var f *File
	if ok {
		f = s.files[id]
		call.Args["file_id"] = id
	}
	switch {
	case r.Method != http.MethodPost:
		status, answer = http.StatusMethodNotAllowed, "upload with POST"
	case !ok:
		status, answer = http.StatusNotFound, "unknown upload URL"
	case readErr != nil:
		status, answer = http.StatusBadRequest, readErr.Error()
	case f.Uploaded:
		status, answer = http.StatusBadRequest, "this upload URL was already used"
	case len(data) != f.Length:
		status, answer = http.StatusBadRequest, fmt.Sprintf("received %d bytes, files.getUploadURLExternal announced length %d", len(data), f.Length)
	default:
		f.Bytes, f.Uploaded = data, true
		answer = fmt.Sprintf("OK - %d", len(data))
	}
	if status != http.StatusOK {
		s.violationLocked(ViolationUpload, "upload_url", answer, s.strictSpec)
	}
	call.Status, call.OK = status, status == http.StatusOK
	if !call.OK {
		call.Error = answer
	}
	call.Outcome = outcome(status, call.OK)
	s.calls = append(s.calls, call)
	s.notifyLocked()
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

// readUpload returns the uploaded bytes: the file part of a multipart form
// (the part named "file" or "filename", or else the first part with a file
// name), or the raw body.
func readUpload(r *http.Request) ([]byte, error) {
	body := io.LimitReader(r.Body, 64<<20)
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return io.ReadAll(body)
	}
	mr := multipart.NewReader(body, params["boundary"])
	var fallback []byte
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bad multipart body: %v", err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("bad multipart body: %v", err)
		}
		if n := part.FormName(); n == "file" || n == "filename" {
			return b, nil
		}
		if part.FileName() != "" && !found {
			fallback, found = b, true
		}
	}
	if !found {
		return nil, fmt.Errorf("multipart body without a file part")
	}
	return fallback, nil
}

func (s *Server) filesCompleteUploadExternal(q *request) map[string]any {
	v, err := q.structured("files")
	list, ok := v.([]any)
	if err != nil || !ok || len(list) == 0 {
		return failMessages("invalid_arguments", []string{"[ERROR] files must be a non-empty JSON array of {\"id\",\"title\"} [json-pointer:/files]"})
	}
	type entry struct {
		f     *File
		title string
	}
	var entries []entry
	for i, x := range list {
		obj, _ := x.(map[string]any)
		id, _ := obj["id"].(string)
		if id == "" {
			return failMessages("invalid_arguments", []string{fmt.Sprintf("[ERROR] missing required field: id [json-pointer:/files/%d]", i)})
		}
		f := s.files[id]
		if f == nil || !f.Uploaded || f.Completed {
			return fail("file_not_found")
		}
		title, _ := obj["title"].(string)
		entries = append(entries, entry{f, title})
	}

	var chans []string
	for _, arg := range append([]string{q.str("channel_id")}, strings.Split(q.str("channels"), ",")...) {
		if arg = strings.TrimSpace(arg); arg == "" {
			continue
		}
		ch, ok := s.resolveChannelLocked(arg)
		if !ok || strings.HasPrefix(arg, "#") {
			return fail("invalid_channel")
		}
		if !slices.Contains(chans, ch) {
			chans = append(chans, ch)
		}
	}
	comment := q.str("initial_comment")
	if utf8.RuneCountInString(comment) > maxMessageText {
		return fail("msg_too_long")
	}
	var blocks json.RawMessage
	if comment == "" && q.str("blocks") != "" {
		v, err := q.structured("blocks")
		arr, ok := v.([]any)
		if err != nil || !ok {
			return fail("invalid_blocks_format")
		}
		if msgs := validateMessageBlocks(arr); len(msgs) > 0 {
			s.blockViolationsLocked(q.method, msgs)
			return failMessages("invalid_blocks", msgs)
		}
		s.fillIDsLocked(arr)
		if len(arr) > 0 {
			blocks, _ = json.Marshal(arr)
		}
	}

	now := s.now()
	threadTS := q.str("thread_ts")
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.f.ID
		e.f.Completed, e.f.CompletedAt, e.f.InitialComment = true, now, comment
		e.f.Title = e.title
		if e.f.Title == "" {
			e.f.Title = e.f.Name
		}
	}
	for _, ch := range chans {
		m := &Message{Channel: ch, TS: s.nextTSLocked(), ThreadTS: threadTS, User: s.opts.BotUserID,
			Text: comment, Blocks: blocks, Files: slices.Clone(ids), PostedAt: now, UpdatedAt: now}
		s.messages[ch] = append(s.messages[ch], m)
		for _, e := range entries {
			e.f.Shares = append(e.f.Shares, FileShare{Channel: ch, TS: m.TS})
			if e.f.Channel == "" {
				e.f.Channel, e.f.ThreadTS, e.f.MessageTS = ch, threadTS, m.TS
			}
		}
	}
	out := make([]any, len(entries))
	for i, e := range entries {
		out[i] = s.fileJSONLocked(e.f)
	}
	return map[string]any{"files": out}
}

// fileJSONLocked renders a file as Slack's file objects, trimmed to what a
// bot reads.
func (s *Server) fileJSONLocked(f *File) map[string]any {
	chans := []string{}
	for _, sh := range f.Shares {
		if !slices.Contains(chans, sh.Channel) {
			chans = append(chans, sh.Channel)
		}
	}
	return map[string]any{
		"id": f.ID, "name": f.Name, "title": f.Title, "size": len(f.Bytes), "created": f.CreatedAt.Unix(),
		"user": s.opts.BotUserID, "mimetype": mime.TypeByExtension(fileExt(f.Name)), "channels": chans,
		"permalink": fmt.Sprintf("https://%s.slack.com/files/%s/%s/%s", s.opts.TeamDomain, s.opts.BotUserID, f.ID, f.Name),
	}
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

// filesJSONLocked renders the files of a message, skipping unknown ids.
func (s *Server) filesJSONLocked(ids []string) []any {
	var out []any
	for _, id := range ids {
		if f, ok := s.files[id]; ok {
			out = append(out, s.fileJSONLocked(f))
		}
	}
	return out
}
