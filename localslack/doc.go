// Package localslack is a Slack emulator for end-to-end tests of a Slack
// Socket Mode app, and the Slack of jitbot's playground. It listens on
// 127.0.0.1 and speaks the real protocols, so the real slack-go client
// (github.com/slack-go/slack and its socketmode package) talks to it
// unchanged:
//
//   - the Web API under APIURL (form, query and JSON bodies; Bearer or form
//     token), answering like Slack: not_authed, invalid_auth, token_revoked,
//     not_allowed_token_type, missing_scope with needed/provided,
//     ratelimited with HTTP 429 and Retry-After, invalid_blocks and
//     invalid_arguments with response_metadata.messages;
//   - Socket Mode: apps.connections.open (app-level token) hands out a
//     ws:// URL; the socket says hello, pings, delivers envelopes and
//     matches acks by envelope_id; Disconnect and DropSocket exercise
//     reconnection;
//   - response_url endpoints for slash commands and block actions;
//   - file uploads: files.getUploadURLExternal, the upload URL it hands out
//     and files.completeUploadExternal, the flow slack-go's
//     UploadFileContext uses (rules in files.go; Files, File and FilesIn
//     return what was uploaded and where it was shared).
//
// Requests are validated against Slack's OpenAPI spec (see spec.go for the
// rules) and Block Kit limits; violations are recorded (Violations) and
// spec violations fail the test.
//
// New starts one for a test (a testing.TB: failures fail it, the server
// closes with it). Start starts one outside a test, for the playground:
// the same limits, failures logged through Options.Logf, and spec
// validation only when Options.SpecPath names the spec file, since a
// shipped binary has no spec folder beside it.
//
// # Slack's pace
//
// Slack documents one rate limit per channel: chat.postMessage "generally
// allows posting one message per second per channel", with short bursts
// (https://docs.slack.dev/apis/web-api/rate-limits). The emulator enforces
// it as a token bucket per channel measured on Options.Now: PostBurst
// messages (default 4) at once, then one every 1/PostRate seconds
// (default 1). A post beyond it answers HTTP 429, {"ok":false,
// "error":"ratelimited"} and Retry-After: the whole seconds until the next
// slot, rounded up, at least 1. The pace applies once the token and scope
// are good and the channel resolves, before the message is read: an
// invalid message spends its slot. A DM is a channel of its own. PostRate
// below 0 switches the pace off. Paced calls are recorded with Outcome
// OutcomeRateLimited and Injected false; RateLimited counts them.
//
// Nothing else is paced: chat.postEphemeral, chat.update, views.* and the
// rest have tier limits per method and workspace (tier 2 to 4, 20 to 100+
// a minute) that Slack does not publish exactly, and the workspace-wide
// chat.postMessage ceiling ("several hundred messages per minute") has no
// published number either. Tests reach those with the injected faults.
//
// # Injected faults
//
// RateLimit, FailNext and ServerErrorNext fail the next n calls of a
// method. RateLimitFor and HangFor fail every call of chosen methods for a
// time window on Options.Now: 429 with a chosen Retry-After, or a handler
// that holds the request until the window ends, a wall-clock cap passes,
// the client gives up, or Heal or Close releases it. A rate-limited or
// abandoned call takes no effect; a held call that is released is served
// late. Heal ends every injected fault. Each attempt is in Calls with its
// Outcome, Injected and Held.
//
// A bot test wires the bot to the emulator and drives it as users would:
//
//	srv := localslack.New(t, localslack.Options{})
//	srv.AddUser(localslack.User{ID: "U1", Name: "alice", Email: "alice@example.com"})
//	srv.AddChannel("C1", "it-access")
//	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()),
//		slack.OptionAppLevelToken(srv.AppToken()))
//	// start the bot with api / socketmode.New(api) ...
//	ack, err := srv.SlashCommand("U1", "C1", "/access", "jira-admins 1h fixing")
//	srv.WaitFor(2*time.Second, func() bool { return len(srv.DMsTo("U2")) > 0 })
//	msg := srv.DMsTo("U2")[0]
//	_, err = srv.ClickButton("U2", msg.Channel, msg.TS, "approve")
package localslack
