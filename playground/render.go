package playground

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
)

// Block Kit, rendered as HTML from the JSON the bot sent: sections (text,
// fields, accessory), context, actions, headers, dividers, images and
// input blocks, with buttons (styles, confirm dialogs), selects and text
// inputs. Interactive elements carry data- attributes the page's script
// turns into the block_actions, view_submission and view_closed payloads
// Slack would send.

// target says where an interactive element lives: a message (channel and
// ts) or a view.
type target struct {
	channel, ts string
	view        string
}

func (t target) attrs() string {
	if t.view != "" {
		return ` data-view="` + esc(t.view) + `"`
	}
	return ` data-channel="` + esc(t.channel) + `" data-ts="` + esc(t.ts) + `"`
}

// renderer renders one message or view.
type renderer struct {
	names Names
	at    target
	// Inputs (modals): the value each block_id/action_id shows, and the
	// error each block_id carries.
	values map[string]string
	errors map[string]string
	b      strings.Builder
}

// obj is a decoded JSON object.
type obj = map[string]any

func str(m obj, k string) string {
	s, _ := m[k].(string)
	return s
}

func objOf(v any) obj {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// text renders a text object (plain_text or mrkdwn).
func (r *renderer) text(v any) string {
	t := objOf(v)
	if t == nil {
		return ""
	}
	if str(t, "type") == "mrkdwn" {
		return mrkdwnHTML(str(t, "text"), r.names)
	}
	on, _ := t["emoji"].(bool)
	if _, set := t["emoji"]; !set {
		on = true // Slack's default for plain_text
	}
	return plainHTML(str(t, "text"), on)
}

// plain renders a text object as plain text, for labels and options.
func plainText(v any) string { return str(objOf(v), "text") }

// blocks renders raw blocks.
func (r *renderer) blocks(raw json.RawMessage) string {
	var bs []any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &bs); err != nil {
			return `<p class="bad">(blocks the page cannot read)</p>`
		}
	}
	r.blockList(bs)
	return r.b.String()
}

func (r *renderer) blockList(bs []any) {
	for _, x := range bs {
		r.block(objOf(x))
	}
}

func (r *renderer) w(s ...string) {
	for _, x := range s {
		r.b.WriteString(x)
	}
}

func (r *renderer) block(b obj) {
	if b == nil {
		return
	}
	switch str(b, "type") {
	case "header":
		r.w(`<h3 class="bk-header">`, plainHTML(plainText(b["text"]), true), `</h3>`)
	case "divider":
		r.w(`<hr class="bk-divider">`)
	case "section":
		r.w(`<div class="bk-section"><div class="bk-section-body">`)
		if t := b["text"]; t != nil {
			r.w(`<div class="bk-text">`, r.text(t), `</div>`)
		}
		if fs := list(b["fields"]); len(fs) > 0 {
			r.w(`<div class="bk-fields">`)
			for _, f := range fs {
				r.w(`<div class="bk-field">`, r.text(f), `</div>`)
			}
			r.w(`</div>`)
		}
		r.w(`</div>`)
		if a := objOf(b["accessory"]); a != nil {
			r.w(`<div class="bk-accessory">`)
			r.element(a, str(b, "block_id"), false)
			r.w(`</div>`)
		}
		r.w(`</div>`)
	case "context":
		r.w(`<div class="bk-context">`)
		for _, e := range list(b["elements"]) {
			em := objOf(e)
			if str(em, "type") == "image" {
				r.image(em, "bk-context-image")
				continue
			}
			r.w(`<span>`, r.text(em), `</span>`)
		}
		r.w(`</div>`)
	case "actions":
		r.w(`<div class="bk-actions">`)
		for _, e := range list(b["elements"]) {
			r.element(objOf(e), str(b, "block_id"), false)
		}
		r.w(`</div>`)
	case "image":
		r.w(`<figure class="bk-image">`)
		r.image(b, "")
		if t := b["title"]; t != nil {
			r.w(`<figcaption>`, plainHTML(plainText(t), true), `</figcaption>`)
		}
		r.w(`</figure>`)
	case "input":
		r.input(b)
	case "rich_text":
		r.w(`<div class="bk-text">`, esc(strings.Join(richTexts(b), "")), `</div>`)
	default:
		r.w(`<div class="bk-unknown">`, esc("("+str(b, "type")+" block)"), `</div>`)
	}
}

// richTexts collects the texts of a rich_text block.
func richTexts(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		if s, ok := t["text"].(string); ok {
			out = append(out, s)
		}
		for _, e := range list(t["elements"]) {
			out = append(out, richTexts(e)...)
		}
	case []any:
		for _, e := range t {
			out = append(out, richTexts(e)...)
		}
	}
	return out
}

// image shows an image the playground serves itself; an image from
// elsewhere is a link, since the page loads nothing from outside.
func (r *renderer) image(b obj, class string) {
	url, alt := str(b, "image_url"), str(b, "alt_text")
	if strings.HasPrefix(url, "/") && !strings.HasPrefix(url, "//") {
		r.w(`<img class="`, class, `" src="`, esc(url), `" alt="`, esc(alt), `">`)
		return
	}
	r.w(`<a class="bk-image-link" href="`, esc(url), `" rel="noreferrer noopener" target="_blank">🖼 `, esc(alt), `</a>`)
}

// elementID is a stable DOM id for an interactive element, so that focus
// stays on it when the message is rendered again.
func (r *renderer) elementID(actionID string) string {
	h := fnv.New64a()
	fmt.Fprint(h, r.at.channel, "/", r.at.ts, "/", r.at.view, "/", actionID)
	return fmt.Sprintf("el-%x", h.Sum64())
}

// element renders an interactive element of an actions block or an
// accessory; inInput marks one inside a modal's input block.
func (r *renderer) element(e obj, blockID string, inInput bool) {
	aid := str(e, "action_id")
	common := r.at.attrs() + ` data-block="` + esc(blockID) + `" data-action="` + esc(aid) + `" id="` + r.elementID(aid) + `"`
	switch str(e, "type") {
	case "button":
		class := "btn"
		if st := str(e, "style"); st == "primary" || st == "danger" {
			class += " " + st
		}
		conf := ""
		if c := objOf(e["confirm"]); c != nil {
			cj, _ := json.Marshal(map[string]string{
				"title": plainText(c["title"]), "text": r.text(c["text"]),
				"confirm": plainText(c["confirm"]), "deny": plainText(c["deny"]), "style": str(c, "style"),
			})
			conf = ` data-confirm="` + esc(string(cj)) + `"`
		}
		if url := str(e, "url"); url != "" {
			r.w(`<a class="`, class, `" href="`, esc(url), `" rel="noreferrer noopener" target="_blank">`, plainHTML(plainText(e["text"]), true), `</a>`)
			return
		}
		r.w(`<button type="button" class="`, class, `" data-act="click"`, common, conf, `>`, plainHTML(plainText(e["text"]), true), `</button>`)
	case "static_select", "overflow", "radio_buttons":
		r.selectEl(e, blockID, common, inInput)
	case "plain_text_input":
		r.textInput(e, blockID, inInput)
	case "datepicker":
		r.w(`<input type="date" name="`, esc(blockID+"/"+aid), `" value="`, esc(r.value(blockID, aid, str(e, "initial_date"))), `"`, common, `>`)
	case "image":
		r.image(e, "bk-accessory-image")
	default:
		r.w(`<span class="bk-unknown">`, esc("("+str(e, "type")+")"), `</span>`)
	}
}

// value is what an input shows: what the person typed last, or the
// element's initial value.
func (r *renderer) value(blockID, actionID, initial string) string {
	if v, ok := r.values[blockID+"/"+actionID]; ok {
		return v
	}
	return initial
}

func (r *renderer) selectEl(e obj, blockID, common string, inInput bool) {
	aid := str(e, "action_id")
	initial := str(objOf(e["initial_option"]), "value")
	cur := r.value(blockID, aid, initial)
	act := ` data-act="select"`
	name := ""
	if inInput {
		act = ""
		name = ` name="` + esc(blockID+"/"+aid) + `"`
	}
	placeholder := plainText(e["placeholder"])
	if placeholder == "" {
		placeholder = "Choose…"
		if str(e, "type") == "overflow" {
			placeholder = "⋯"
		}
	}
	label := ""
	if !inInput {
		label = ` aria-label="` + esc(placeholder) + `"`
	}
	r.w(`<select`, name, act, common, label, `>`)
	r.w(`<option value="">`, esc(placeholder), `</option>`)
	option := func(o obj) {
		v := str(o, "value")
		sel := ""
		if v == cur && cur != "" {
			sel = " selected"
		}
		r.w(`<option value="`, esc(v), `"`, sel, `>`, esc(plainText(o["text"])), `</option>`)
	}
	for _, o := range list(e["options"]) {
		option(objOf(o))
	}
	for _, g := range list(e["option_groups"]) {
		gm := objOf(g)
		r.w(`<optgroup label="`, esc(plainText(gm["label"])), `">`)
		for _, o := range list(gm["options"]) {
			option(objOf(o))
		}
		r.w(`</optgroup>`)
	}
	r.w(`</select>`)
}

func (r *renderer) textInput(e obj, blockID string, inInput bool) {
	aid := str(e, "action_id")
	v := r.value(blockID, aid, str(e, "initial_value"))
	attrs := ` name="` + esc(blockID+"/"+aid) + `" id="` + r.elementID(blockID+"/"+aid) + `"`
	if p := plainText(e["placeholder"]); p != "" {
		attrs += ` placeholder="` + esc(p) + `"`
	}
	if n, ok := e["max_length"].(float64); ok && n > 0 {
		attrs += fmt.Sprintf(` maxlength="%d"`, int(n))
	}
	if n, ok := e["min_length"].(float64); ok && n > 0 {
		attrs += fmt.Sprintf(` minlength="%d"`, int(n))
	}
	if multi, _ := e["multiline"].(bool); multi {
		r.w(`<textarea rows="3"`, attrs, `>`, esc(v), `</textarea>`)
		return
	}
	r.w(`<input type="text"`, attrs, ` value="`, esc(v), `">`)
}

// input renders a modal's input block: a label, the element, the hint,
// and the error the app answered for it.
func (r *renderer) input(b obj) {
	bid := str(b, "block_id")
	el := objOf(b["element"])
	optional, _ := b["optional"].(bool)
	dispatch, _ := b["dispatch_action"].(bool)
	id := r.elementID(bid + "/" + str(el, "action_id"))
	if str(el, "type") != "plain_text_input" {
		id = r.elementID(str(el, "action_id"))
	}
	r.w(`<div class="bk-input`)
	if r.errors[bid] != "" {
		r.w(` has-error`)
	}
	r.w(`"><label for="`, id, `">`, esc(plainText(b["label"])))
	if optional {
		r.w(` <span class="optional">(optional)</span>`)
	}
	r.w(`</label>`)
	inner := renderer{names: r.names, at: r.at, values: r.values}
	inner.element(el, bid, true)
	html := inner.b.String()
	if !optional {
		html = strings.Replace(html, "<select", "<select required", 1)
		html = strings.Replace(html, "<textarea", "<textarea required", 1)
		html = strings.Replace(html, `<input type="text"`, `<input type="text" required`, 1)
	}
	if dispatch {
		html = strings.Replace(html, "<select", `<select data-dispatch="1"`, 1)
	}
	errID := id + "-error"
	if r.errors[bid] != "" {
		html = strings.Replace(html, ` id="`+id+`"`, ` id="`+id+`" aria-invalid="true" aria-describedby="`+errID+`"`, 1)
	}
	r.w(html)
	if h := b["hint"]; h != nil {
		r.w(`<p class="hint">`, plainHTML(plainText(h), true), `</p>`)
	}
	if msg := r.errors[bid]; msg != "" {
		r.w(`<p class="error" id="`, errID, `" role="alert">`, esc(msg), `</p>`)
	}
	r.w(`</div>`)
}
