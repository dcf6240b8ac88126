package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Columns are the export's fields, in order.
var Columns = []string{"seq", "id", "time", "actor", "action", "subject", "resource", "request_id",
	"grant_id", "reason", "rule", "correlation_id", "data", "prev_hash", "hash"}

// Record is one exported event, as JSON Lines carry it.
type Record struct {
	Seq           int64             `json:"seq"`
	ID            string            `json:"id"`
	Time          string            `json:"time"`
	Actor         string            `json:"actor"`
	Action        string            `json:"action"`
	Subject       string            `json:"subject,omitempty"`
	Resource      string            `json:"resource,omitempty"`
	RequestID     string            `json:"request_id,omitempty"`
	GrantID       string            `json:"grant_id,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	Rule          string            `json:"rule,omitempty"`
	CorrelationID string            `json:"correlation_id,omitempty"`
	Data          map[string]string `json:"data,omitempty"`
	PrevHash      string            `json:"prev_hash"`
	Hash          string            `json:"hash"`
}

// timeFormat is how exports print times: RFC 3339, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Export streams the events between since and until to w as "jsonl" or
// "csv". Memory use does not grow with the number of events.
func Export(ctx context.Context, src Source, w io.Writer, format string, since, until time.Time) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		n     int64
		write func(e *approvals.Event) error
		flush = bw.Flush
	)
	switch format {
	case "jsonl", "":
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(e *approvals.Event) error {
			return enc.Encode(Record{Seq: e.Seq, ID: e.ID, Time: e.Time.UTC().Format(timeFormat), Actor: e.Actor,
				Action: e.Action, Subject: e.Subject, Resource: e.Resource, RequestID: e.RequestID, GrantID: e.GrantID,
				Reason: e.Reason, Rule: e.Rule, CorrelationID: e.CorrelationID, Data: e.Data, PrevHash: e.PrevHash, Hash: e.Hash})
		}
	case "csv":
		cw := csv.NewWriter(bw)
		if err := cw.Write(Columns); err != nil {
			return 0, err
		}
		row := make([]string, len(Columns))
		write = func(e *approvals.Event) error {
			data := "{}"
			if len(e.Data) > 0 {
				b, err := json.Marshal(e.Data)
				if err != nil {
					return err
				}
				data = string(b)
			}
			row[0], row[1], row[2], row[3], row[4] = strconv.FormatInt(e.Seq, 10), e.ID, e.Time.UTC().Format(timeFormat), e.Actor, e.Action
			row[5], row[6], row[7], row[8], row[9] = csvSafe(e.Subject), csvSafe(e.Resource), e.RequestID, e.GrantID, csvSafe(e.Reason)
			row[10], row[11], row[12], row[13], row[14] = csvSafe(e.Rule), e.CorrelationID, data, e.PrevHash, e.Hash
			return cw.Write(row)
		}
		flush = func() error {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			return bw.Flush()
		}
	default:
		return 0, fmt.Errorf("export format %q: expected jsonl or csv", format)
	}
	err := src.Events(ctx, since, until, func(e *approvals.Event) error {
		n++
		return write(e)
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// csvSafe defuses spreadsheet formula injection in free text: a cell that
// starts with = + - @ is prefixed with a quote, as OWASP recommends.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
