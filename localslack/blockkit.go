package localslack

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Block Kit limits, as documented at https://docs.slack.dev/reference/block-kit
// and enforced by Slack. Violations are described the way Slack describes
// them in response_metadata.messages:
//
//	[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]
const (
	maxMessageBlocks   = 50
	maxViewBlocks      = 100
	maxMessageText     = 40000
	maxSectionText     = 3000
	maxSectionFields   = 10
	maxFieldText       = 2000
	maxHeaderText      = 150
	maxButtonText      = 75
	maxActionID        = 255
	maxBlockID         = 255
	maxButtonValue     = 2000
	maxURL             = 3000
	maxViewTitle       = 24
	maxViewButton      = 24 // submit and close
	maxPrivateMetadata = 3000
	maxCallbackID      = 255
	maxExternalID      = 255
	maxPlaceholder     = 150
	maxLabel           = 2000
	maxHint            = 2000
	maxOptionText      = 75
	maxOptionValue     = 150
	maxOptions         = 100
	maxOverflowOptions = 5
	maxCheckOptions    = 10
	maxActionsElements = 25
	maxContextElements = 10
	maxAltText         = 2000
	maxImageTitle      = 2000
	maxConfirmTitle    = 100
	maxConfirmText     = 300
	maxConfirmButton   = 30
	maxMarkdownText    = 12000 // all markdown blocks of one payload together
	maxInputLength     = 3000
	maxAccessibility   = 75 // button accessibility_label
	maxFileInputFiles  = 10
	maxAttachments     = 100
)

type checker struct {
	msgs     []string
	markdown int // characters in markdown blocks so far
}

func (c *checker) add(ptr, format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf("[ERROR] %s [json-pointer:%s]", fmt.Sprintf(format, args...), ptr))
}

// length checks a string field's length when present.
func (c *checker) length(obj map[string]any, key, ptr string, max int) {
	s, ok := obj[key].(string)
	if !ok {
		return
	}
	if utf8.RuneCountInString(s) > max {
		c.add(ptr+"/"+key, "must be less than %d characters", max+1)
	}
}

// validateMessageBlocks checks the blocks of a message.
func validateMessageBlocks(blocks []any) []string {
	c := &checker{}
	c.blocks(blocks, "/blocks", maxMessageBlocks)
	return c.msgs
}

// validateView checks a view object; want is "modal" or "home" ("" accepts
// either).
func validateView(view map[string]any, want string) []string {
	c := &checker{}
	const p = "/view"
	typ, _ := view["type"].(string)
	switch {
	case typ == "":
		c.add(p, "missing required field: type")
	case typ != "modal" && typ != "home":
		c.add(p+"/type", "must be one of the following: modal, home")
	case want != "" && typ != want:
		c.add(p+"/type", "must be %s", want)
	}
	if typ == "modal" {
		c.text(view, "title", p, maxViewTitle, true, true)
		c.text(view, "close", p, maxViewButton, true, false)
		c.text(view, "submit", p, maxViewButton, true, false)
	}
	c.length(view, "private_metadata", p, maxPrivateMetadata)
	c.length(view, "callback_id", p, maxCallbackID)
	c.length(view, "external_id", p, maxExternalID)
	blocks, ok := view["blocks"].([]any)
	if !ok {
		c.add(p, "missing required field: blocks")
		return c.msgs
	}
	c.blocks(blocks, p+"/blocks", maxViewBlocks)
	if typ == "modal" && view["submit"] == nil {
		for _, b := range blocks {
			if m, ok := b.(map[string]any); ok && m["type"] == "input" {
				c.add(p, "missing required field: submit (a modal with input blocks needs a submit button)")
				break
			}
		}
	}
	return c.msgs
}

// text checks the text object obj[key]; it reports whether the field was
// missing while required.
func (c *checker) text(obj map[string]any, key, parent string, max int, plain, required bool) bool {
	ptr := parent + "/" + key
	raw, present := obj[key]
	if !present || raw == nil {
		if required {
			c.add(parent, "missing required field: %s", key)
			return true
		}
		return false
	}
	t, ok := raw.(map[string]any)
	if !ok {
		c.add(ptr, "must be a text object")
		return false
	}
	c.textObject(t, ptr, max, plain)
	return false
}

func (c *checker) textObject(t map[string]any, ptr string, max int, plain bool) {
	typ, _ := t["type"].(string)
	switch {
	case typ != "plain_text" && typ != "mrkdwn":
		c.add(ptr+"/type", "must be one of the following: plain_text, mrkdwn")
	case plain && typ != "plain_text":
		c.add(ptr+"/type", "must be plain_text")
	}
	s, ok := t["text"].(string)
	if !ok {
		c.add(ptr, "missing required field: text")
		return
	}
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		c.add(ptr+"/text", "must be more than 0 characters")
	case n > max:
		c.add(ptr+"/text", "must be less than %d characters", max+1)
	}
}

func (c *checker) blocks(blocks []any, ptr string, max int) {
	if len(blocks) > max {
		c.add(ptr, "no more than %d items allowed", max)
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		bp := ptr + "/" + strconv.Itoa(i)
		m, ok := b.(map[string]any)
		if !ok {
			c.add(bp, "must be an object")
			continue
		}
		if id, ok := m["block_id"].(string); ok {
			c.length(m, "block_id", bp, maxBlockID)
			if seen[id] {
				c.add(bp+"/block_id", "duplicate block_id %q: block_id must be unique", id)
			}
			seen[id] = true
		}
		c.block(m, bp)
	}
}

func (c *checker) block(b map[string]any, ptr string) {
	typ, _ := b["type"].(string)
	switch typ {
	case "section":
		_, hasText := b["text"]
		fields, hasFields := b["fields"].([]any)
		if !hasText && !hasFields {
			c.add(ptr, "must provide either text or fields")
		}
		if hasText {
			c.text(b, "text", ptr, maxSectionText, false, false)
		}
		if hasFields {
			if len(fields) > maxSectionFields {
				c.add(ptr+"/fields", "no more than %d items allowed", maxSectionFields)
			}
			for i, f := range fields {
				fp := ptr + "/fields/" + strconv.Itoa(i)
				if fm, ok := f.(map[string]any); ok {
					c.textObject(fm, fp, maxFieldText, false)
				} else {
					c.add(fp, "must be a text object")
				}
			}
		}
		if acc, ok := b["accessory"].(map[string]any); ok {
			c.element(acc, ptr+"/accessory")
		}
	case "header":
		c.text(b, "text", ptr, maxHeaderText, true, true)
	case "divider", "rich_text", "file", "video", "call", "table":
	case "markdown":
		text, ok := b["text"].(string)
		if !ok {
			c.add(ptr, "missing required field: text")
		}
		// The limit is on every markdown block of the payload together.
		before := c.markdown
		c.markdown += utf8.RuneCountInString(text)
		if c.markdown > maxMarkdownText && before <= maxMarkdownText {
			c.add(ptr+"/text", "markdown blocks must be less than %d characters in total", maxMarkdownText+1)
		}
	case "image":
		c.image(b, ptr)
		c.text(b, "title", ptr, maxImageTitle, true, false)
	case "context":
		els, ok := b["elements"].([]any)
		if !ok || len(els) == 0 {
			c.add(ptr, "missing required field: elements")
			return
		}
		if len(els) > maxContextElements {
			c.add(ptr+"/elements", "no more than %d items allowed", maxContextElements)
		}
		for i, e := range els {
			ep := ptr + "/elements/" + strconv.Itoa(i)
			em, ok := e.(map[string]any)
			if !ok {
				c.add(ep, "must be an object")
				continue
			}
			if em["type"] == "image" {
				c.image(em, ep)
			} else {
				c.textObject(em, ep, maxSectionText, false)
			}
		}
	case "actions":
		els, ok := b["elements"].([]any)
		if !ok || len(els) == 0 {
			c.add(ptr, "missing required field: elements")
			return
		}
		if len(els) > maxActionsElements {
			c.add(ptr+"/elements", "no more than %d items allowed", maxActionsElements)
		}
		seen := map[string]bool{}
		for i, e := range els {
			ep := ptr + "/elements/" + strconv.Itoa(i)
			em, ok := e.(map[string]any)
			if !ok {
				c.add(ep, "must be an object")
				continue
			}
			if id, ok := em["action_id"].(string); ok {
				if seen[id] {
					c.add(ep+"/action_id", "duplicate action_id %q: action_id must be unique in a block", id)
				}
				seen[id] = true
			}
			c.element(em, ep)
		}
	case "input":
		c.text(b, "label", ptr, maxLabel, true, true)
		c.text(b, "hint", ptr, maxHint, true, false)
		el, ok := b["element"].(map[string]any)
		if !ok {
			c.add(ptr, "missing required field: element")
			return
		}
		if t, _ := el["type"].(string); t != "" && !inputElementTypes[t] {
			c.add(ptr+"/element/type", "element type %q is not allowed in an input block", t)
		}
		c.element(el, ptr+"/element")
	case "":
		c.add(ptr, "missing required field: type")
	default:
		c.add(ptr+"/type", "unsupported block type %q", typ)
	}
}

func (c *checker) image(m map[string]any, ptr string) {
	_, url := m["image_url"].(string)
	_, file := m["slack_file"].(map[string]any)
	if !url && !file {
		c.add(ptr, "missing required field: image_url")
	}
	c.length(m, "image_url", ptr, maxURL)
	if _, ok := m["alt_text"].(string); !ok {
		c.add(ptr, "missing required field: alt_text")
	}
	c.length(m, "alt_text", ptr, maxAltText)
}

func (c *checker) element(e map[string]any, ptr string) {
	typ, _ := e["type"].(string)
	c.length(e, "action_id", ptr, maxActionID)
	if n, ok := number(e["max_selected_items"]); ok && strings.HasPrefix(typ, "multi_") && n < 1 {
		c.add(ptr+"/max_selected_items", "must be at least 1")
	}
	switch typ {
	case "button", "workflow_button":
		c.text(e, "text", ptr, maxButtonText, true, true)
		c.length(e, "accessibility_label", ptr, maxAccessibility)
		c.length(e, "value", ptr, maxButtonValue)
		c.length(e, "url", ptr, maxURL)
		if st, ok := e["style"].(string); ok && st != "primary" && st != "danger" {
			c.add(ptr+"/style", "must be one of the following: primary, danger")
		}
		c.confirm(e, ptr)
	case "static_select", "multi_static_select":
		c.text(e, "placeholder", ptr, maxPlaceholder, true, false)
		opts, hasOpts := e["options"].([]any)
		groups, hasGroups := e["option_groups"].([]any)
		if !hasOpts && !hasGroups {
			c.add(ptr, "must provide either options or option_groups")
		}
		if hasOpts {
			c.options(opts, ptr+"/options", maxOptions, true)
		}
		if hasGroups {
			if len(groups) > maxOptions {
				c.add(ptr+"/option_groups", "no more than %d items allowed", maxOptions)
			}
			for i, g := range groups {
				gp := ptr + "/option_groups/" + strconv.Itoa(i)
				gm, _ := g.(map[string]any)
				c.text(gm, "label", gp, maxOptionText, true, true)
				if o, ok := gm["options"].([]any); ok {
					c.options(o, gp+"/options", maxOptions, true)
				}
			}
		}
		c.confirm(e, ptr)
	case "overflow":
		opts, _ := e["options"].([]any)
		if len(opts) == 0 {
			c.add(ptr, "missing required field: options")
		}
		c.options(opts, ptr+"/options", maxOverflowOptions, true)
		c.confirm(e, ptr)
	case "checkboxes", "radio_buttons":
		opts, _ := e["options"].([]any)
		if len(opts) == 0 {
			c.add(ptr, "missing required field: options")
		}
		c.options(opts, ptr+"/options", maxCheckOptions, false)
		c.confirm(e, ptr)
	case "plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input":
		c.text(e, "placeholder", ptr, maxPlaceholder, true, false)
		if _, ok := e["is_decimal_allowed"].(bool); typ == "number_input" && !ok {
			c.add(ptr, "missing required field: is_decimal_allowed")
		}
		for _, k := range []string{"min_length", "max_length"} {
			if n, ok := number(e[k]); ok && (n < 0 || n > maxInputLength) {
				c.add(ptr+"/"+k, "must be between 0 and %d", maxInputLength)
			}
		}
	case "external_select", "multi_external_select", "users_select", "multi_users_select",
		"conversations_select", "multi_conversations_select", "channels_select", "multi_channels_select",
		"datepicker", "timepicker", "datetimepicker":
		c.text(e, "placeholder", ptr, maxPlaceholder, true, false)
		if d, ok := e["initial_date"].(string); ok && typ == "datepicker" {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				c.add(ptr+"/initial_date", "must be a date in the format YYYY-MM-DD")
			}
		}
		if d, ok := e["initial_time"].(string); ok && typ == "timepicker" {
			if _, err := time.Parse("15:04", d); err != nil {
				c.add(ptr+"/initial_time", "must be a time in the format HH:mm")
			}
		}
		c.confirm(e, ptr)
	case "file_input":
		if n, ok := number(e["max_files"]); ok && (n < 1 || n > maxFileInputFiles) {
			c.add(ptr+"/max_files", "must be between 1 and %d", maxFileInputFiles)
		}
	case "image":
		c.image(e, ptr)
	case "":
		c.add(ptr, "missing required field: type")
	default:
		c.add(ptr+"/type", "unsupported element type %q", typ)
	}
}

func (c *checker) options(opts []any, ptr string, max int, plain bool) {
	if len(opts) > max {
		c.add(ptr, "no more than %d items allowed", max)
	}
	for i, o := range opts {
		op := ptr + "/" + strconv.Itoa(i)
		om, ok := o.(map[string]any)
		if !ok {
			c.add(op, "must be an object")
			continue
		}
		c.text(om, "text", op, maxOptionText, plain, true)
		c.text(om, "description", op, maxOptionText, plain, false)
		if _, ok := om["value"].(string); !ok {
			c.add(op, "missing required field: value")
		}
		c.length(om, "value", op, maxOptionValue)
		c.length(om, "url", op, maxURL)
	}
}

func (c *checker) confirm(e map[string]any, ptr string) {
	cf, ok := e["confirm"].(map[string]any)
	if !ok {
		return
	}
	p := ptr + "/confirm"
	c.text(cf, "title", p, maxConfirmTitle, true, true)
	c.text(cf, "text", p, maxConfirmText, false, true)
	c.text(cf, "confirm", p, maxConfirmButton, true, true)
	c.text(cf, "deny", p, maxConfirmButton, true, true)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case interface{ Float64() (float64, error) }:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// inputElementTypes are the elements an input block may hold.
var inputElementTypes = map[string]bool{
	"checkboxes": true, "datepicker": true, "datetimepicker": true, "email_text_input": true,
	"file_input": true, "multi_static_select": true, "multi_external_select": true,
	"multi_users_select": true, "multi_conversations_select": true, "multi_channels_select": true,
	"number_input": true, "plain_text_input": true, "radio_buttons": true, "rich_text_input": true,
	"static_select": true, "external_select": true, "users_select": true, "conversations_select": true,
	"channels_select": true, "timepicker": true, "url_text_input": true,
}

// interactiveElementTypes are the elements Slack gives an action_id.
var interactiveElementTypes = map[string]bool{
	"button": true, "workflow_button": true, "static_select": true, "multi_static_select": true,
	"external_select": true, "multi_external_select": true, "users_select": true, "multi_users_select": true,
	"conversations_select": true, "multi_conversations_select": true, "channels_select": true,
	"multi_channels_select": true, "overflow": true, "checkboxes": true, "radio_buttons": true,
	"datepicker": true, "timepicker": true, "datetimepicker": true, "plain_text_input": true, "file_input": true,
	"email_text_input": true, "url_text_input": true, "number_input": true, "rich_text_input": true,
}

// fillIDsLocked gives every block a block_id and every interactive element
// an action_id, as Slack does when the app leaves them out.
func (s *Server) fillIDsLocked(blocks []any) {
	for _, b := range blocks {
		m, ok := b.(map[string]any)
		if !ok {
			continue
		}
		if _, ok := m["block_id"].(string); !ok {
			m["block_id"] = s.randLocked(5)
		}
		for _, el := range blockElements(m) {
			if t, _ := el["type"].(string); interactiveElementTypes[t] {
				if _, ok := el["action_id"].(string); !ok {
					el["action_id"] = s.randLocked(5)
				}
			}
		}
	}
}

// blockElements returns the interactive-element slots of a block: a
// section's accessory, an actions block's elements, an input's element.
func blockElements(b map[string]any) []map[string]any {
	var out []map[string]any
	if acc, ok := b["accessory"].(map[string]any); ok {
		out = append(out, acc)
	}
	if el, ok := b["element"].(map[string]any); ok {
		out = append(out, el)
	}
	if b["type"] == "actions" {
		if els, ok := b["elements"].([]any); ok {
			for _, e := range els {
				if em, ok := e.(map[string]any); ok {
					out = append(out, em)
				}
			}
		}
	}
	return out
}

// findElement finds the element with actionID in blocks and returns it with
// its block's block_id.
func findElement(blocks []any, actionID string) (string, map[string]any, bool) {
	for _, b := range blocks {
		m, ok := b.(map[string]any)
		if !ok {
			continue
		}
		for _, el := range blockElements(m) {
			if el["action_id"] == actionID {
				id, _ := m["block_id"].(string)
				return id, el, true
			}
		}
	}
	return "", nil, false
}
