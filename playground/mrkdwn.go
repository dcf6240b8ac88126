package playground

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// Slack's text formats, rendered as HTML the page can insert as is. Every
// character of the text is escaped; only tags this file writes are HTML.
// Text people typed reaches the page through here (or esc), never raw.

// esc escapes s for HTML text and quoted attribute values.
func esc(s string) string { return html.EscapeString(s) }

// emoji are the shortcodes jitbot's messages use, and a few common ones.
var emoji = map[string]string{
	"alarm_clock": "⏰", "arrows_counterclockwise": "🔄", "bell": "🔔", "heavy_multiplication_x": "✖️",
	"hourglass": "⌛", "hourglass_flowing_sand": "⏳", "large_green_circle": "🟢", "no_entry": "⛔",
	"raising_hand": "🙋", "rotating_light": "🚨", "tada": "🎉", "test_tube": "🧪", "warning": "⚠️",
	"white_check_mark": "✅", "white_circle": "⚪", "x": "❌", "lock": "🔒", "unlock": "🔓",
	"key": "🔑", "memo": "📝", "clipboard": "📋", "bar_chart": "📊", "calendar": "📅", "eyes": "👀",
	"wave": "👋", "thumbsup": "👍", "+1": "👍", "information_source": "ℹ️", "red_circle": "🔴",
	"large_yellow_circle": "🟡", "page_facing_up": "📄", "pencil": "✏️", "write": "✍️",
}

var (
	emojiRe  = regexp.MustCompile(`:([a-z0-9_+\-]+):`)
	boldRe   = regexp.MustCompile(`(^|[\s(>\x00])\*([^*\n]+?)\*`)
	italicRe = regexp.MustCompile(`(^|[\s(>\x00])_([^_\n]+?)_`)
	strikeRe = regexp.MustCompile(`(^|[\s(>\x00])~([^~\n]+?)~`)
	tokenRe  = regexp.MustCompile(`<([^<>]*)>`)
)

// emojify replaces known :shortcodes: in escaped text.
func emojify(s string) string {
	return emojiRe.ReplaceAllStringFunc(s, func(m string) string {
		if e, ok := emoji[m[1:len(m)-1]]; ok {
			return e
		}
		return m
	})
}

// plainHTML renders a plain_text object's text: escaped, line breaks
// kept, shortcodes turned into emoji only when it says emoji: true.
func plainHTML(text string, emojiOn bool) string {
	s := esc(text)
	if emojiOn {
		s = emojify(s)
	}
	return strings.ReplaceAll(s, "\n", "<br>")
}

// Names resolves the ids Slack text mentions.
type Names interface {
	UserName(id string) string
	ChannelName(id string) string
}

// mrkdwnHTML renders Slack mrkdwn: *bold*, _italic_, ~strike~, `code`,
// ```blocks```, > quotes, <links|text>, <@user>, <#channel>, <!here>,
// <!date^…|fallback> and emoji. Slack escapes &, < and > in text as
// entities, so a literal < is &lt; and every < starts one of the forms
// above.
func mrkdwnHTML(text string, names Names) string {
	text = strings.ReplaceAll(text, "\x00", "")
	// The control forms become placeholders, rendered apart, so that the
	// formatting around them works and nothing inside them is formatted.
	var tokens []string
	text = tokenRe.ReplaceAllStringFunc(text, func(m string) string {
		tokens = append(tokens, renderToken(m[1:len(m)-1], names))
		return "\x00" + strconv.Itoa(len(tokens)-1) + "\x00"
	})
	// The text between is Slack-escaped: read it, then escape it for HTML.
	text = html.EscapeString(unescapeSlack(text))
	var out strings.Builder
	parts := strings.Split(text, "```")
	for i, part := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			out.WriteString("<pre>" + strings.Trim(part, "\n") + "</pre>")
			continue
		}
		if i%2 == 1 { // an unclosed ``` is text
			out.WriteString("```")
		}
		out.WriteString(inline(part))
	}
	s := out.String()
	for i, t := range tokens {
		s = strings.Replace(s, "\x00"+strconv.Itoa(i)+"\x00", t, 1)
	}
	return s
}

// inline formats a stretch of escaped text without code blocks.
func inline(s string) string {
	var out strings.Builder
	code := strings.Split(s, "`")
	for i, part := range code {
		if i%2 == 1 && i < len(code)-1 {
			out.WriteString("<code>" + part + "</code>")
			continue
		}
		if i%2 == 1 {
			out.WriteString("`")
		}
		part = boldRe.ReplaceAllString(part, "$1<b>$2</b>")
		part = italicRe.ReplaceAllString(part, "$1<i>$2</i>")
		part = strikeRe.ReplaceAllString(part, "$1<s>$2</s>")
		part = emojify(part)
		out.WriteString(part)
	}
	lines := strings.Split(out.String(), "\n")
	for i, l := range lines {
		if q, ok := strings.CutPrefix(l, "&gt; "); ok {
			lines[i] = "<q>" + q + "</q>"
		}
	}
	return strings.Join(lines, "<br>")
}

// unescapeSlack reads Slack's three entities.
func unescapeSlack(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// renderToken renders what was between < and >.
func renderToken(t string, names Names) string {
	target, label, hasLabel := strings.Cut(t, "|")
	label = unescapeSlack(label)
	switch {
	case strings.HasPrefix(target, "@"):
		name := label
		if !hasLabel && names != nil {
			name = names.UserName(target[1:])
		}
		if name == "" {
			name = target[1:]
		}
		return `<span class="mention">@` + esc(name) + `</span>`
	case strings.HasPrefix(target, "#"):
		name := label
		if !hasLabel && names != nil {
			name = names.ChannelName(target[1:])
		}
		if name == "" {
			name = target[1:]
		}
		return `<span class="mention">#` + esc(name) + `</span>`
	case strings.HasPrefix(target, "!date^"):
		return `<time>` + esc(label) + `</time>`
	case strings.HasPrefix(target, "!subteam^"):
		if label == "" {
			label = "@group"
		}
		return `<span class="mention">` + esc(label) + `</span>`
	case strings.HasPrefix(target, "!"):
		return `<span class="mention">@` + esc(strings.TrimPrefix(target, "!")) + `</span>`
	}
	url := unescapeSlack(target)
	if !hasLabel {
		label = url
	}
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "mailto:") {
		return `<a href="` + esc(url) + `" rel="noreferrer noopener" target="_blank">` + esc(label) + `</a>`
	}
	return esc(label)
}
