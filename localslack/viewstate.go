package localslack

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"
)

// A view's state as Slack sends it with a submission or an action: the values typed and chosen, checked against the blocks' elements.

// Values are a view's input values, block_id → action_id → value. A value
// is a string (a text input's value; the selected option's value for
// static_select, radio_buttons; a user, conversation or channel id for the
// *_select elements; "2026-01-31" for a datepicker), a []string for
// multi-selects and checkboxes, or a map[string]any / slack.BlockAction
// sent as is.
type Values map[string]map[string]any

// buildStateLocked turns Values into view.state.values, checking them
// against the view's elements. With submit, required inputs must be
// filled, as Slack's client enforces before it submits.
func (s *Server) buildStateLocked(v *viewRecord, values Values, submit bool) (map[string]any, error) {
	blocks, _ := v.body["blocks"].([]any)
	state := map[string]any{}
	used := 0
	for _, b := range blocks {
		bm, ok := b.(map[string]any)
		if !ok {
			continue
		}
		bid := strField(bm, "block_id")
		for _, el := range blockElements(bm) {
			typ := strField(el, "type")
			if !interactiveElementTypes[typ] || typ == "button" || typ == "overflow" || typ == "workflow_button" {
				continue
			}
			aid := strField(el, "action_id")
			given, present := values[bid][aid]
			if present {
				used++
			}
			isInput := bm["type"] == "input"
			if !present && !isInput {
				continue
			}
			if !present && submit && !boolField(bm, "optional") {
				return nil, fmt.Errorf("localslack: required input %s/%s has no value", bid, aid)
			}
			entry, err := stateEntry(el, given, present)
			if err != nil {
				return nil, fmt.Errorf("localslack: input %s/%s: %w", bid, aid, err)
			}
			bs, _ := state[bid].(map[string]any)
			if bs == nil {
				bs = map[string]any{}
				state[bid] = bs
			}
			bs[aid] = entry
		}
	}
	total := 0
	for _, m := range values {
		total += len(m)
	}
	if used != total {
		var known []string
		for bid, m := range values {
			for aid := range m {
				if _, ok := state[bid].(map[string]any)[aid]; !ok {
					known = append(known, bid+"/"+aid)
				}
			}
		}
		slices.Sort(known)
		return nil, fmt.Errorf("localslack: view %s has no input %s", v.id, strings.Join(known, ", "))
	}
	return state, nil
}

func stateEntry(el map[string]any, given any, present bool) (map[string]any, error) {
	typ := strField(el, "type")
	out := map[string]any{"type": typ}
	key, multi := "value", false
	switch typ {
	case "static_select", "external_select", "radio_buttons":
		key = "selected_option"
	case "multi_static_select", "multi_external_select", "checkboxes":
		key, multi = "selected_options", true
	case "users_select":
		key = "selected_user"
	case "multi_users_select":
		key, multi = "selected_users", true
	case "conversations_select":
		key = "selected_conversation"
	case "multi_conversations_select":
		key, multi = "selected_conversations", true
	case "channels_select":
		key = "selected_channel"
	case "multi_channels_select":
		key, multi = "selected_channels", true
	case "datepicker":
		key = "selected_date"
	case "timepicker":
		key = "selected_time"
	case "datetimepicker":
		key = "selected_date_time"
	}
	if !present {
		if multi {
			out[key] = []any{}
		} else {
			out[key] = nil
		}
		return out, nil
	}
	switch g := given.(type) {
	case map[string]any:
		for k, x := range g {
			out[k] = x
		}
		return out, nil
	case slack.BlockAction:
		b, _ := json.Marshal(g)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for k, x := range m {
			out[k] = x
		}
		if g.Type == "" {
			out["type"] = typ
		}
		return out, nil
	case string:
		if multi {
			return nil, fmt.Errorf("%s takes a []string", typ)
		}
		if key == "selected_option" {
			opt := findOption(el, g)
			if opt == nil && typ == "external_select" {
				opt = map[string]any{"text": map[string]any{"type": "plain_text", "text": g}, "value": g}
			}
			if opt == nil {
				return nil, fmt.Errorf("no option %q", g)
			}
			out[key] = opt
			return out, nil
		}
		if key == "selected_date_time" {
			return nil, fmt.Errorf("datetimepicker takes an int64 Unix time")
		}
		out[key] = g
		return out, nil
	case []string:
		if !multi {
			return nil, fmt.Errorf("%s takes a string", typ)
		}
		if key == "selected_options" {
			opts := []any{}
			for _, val := range g {
				opt := findOption(el, val)
				if opt == nil && typ == "multi_external_select" {
					opt = map[string]any{"text": map[string]any{"type": "plain_text", "text": val}, "value": val}
				}
				if opt == nil {
					return nil, fmt.Errorf("no option %q", val)
				}
				opts = append(opts, opt)
			}
			out[key] = opts
			return out, nil
		}
		out[key] = g
		return out, nil
	case int64:
		if key != "selected_date_time" {
			return nil, fmt.Errorf("%s does not take a number", typ)
		}
		out[key] = g
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", given)
}
