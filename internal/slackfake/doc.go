// Package slackfake is a Slack emulator for end-to-end tests of a Slack
// Socket Mode app. It listens on 127.0.0.1 and speaks the real protocols, so
// the real slack-go client (github.com/slack-go/slack and its socketmode
// package) talks to it unchanged:
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
//   - response_url endpoints for slash commands and block actions.
//
// Requests are validated against Slack's OpenAPI spec (see spec.go for the
// rules) and Block Kit limits; violations are recorded (Violations) and
// spec violations fail the test.
//
// A bot test wires the bot to the emulator and drives it as users would:
//
//	srv := slackfake.New(t, slackfake.Options{})
//	srv.AddUser(slackfake.User{ID: "U1", Name: "alice", Email: "alice@example.com"})
//	srv.AddChannel("C1", "it-access")
//	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()),
//		slack.OptionAppLevelToken(srv.AppToken()))
//	// start the bot with api / socketmode.New(api) ...
//	ack, err := srv.SlashCommand("U1", "C1", "/access", "jira-admins 1h fixing")
//	srv.WaitFor(2*time.Second, func() bool { return len(srv.DMsTo("U2")) > 0 })
//	msg := srv.DMsTo("U2")[0]
//	_, err = srv.ClickButton("U2", msg.Channel, msg.TS, "approve")
package slackfake
