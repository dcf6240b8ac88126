package review_test

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/jitbot/jitbot/review"
)

// The digest's chart is a PNG however many departments there are, and an
// empty run still draws one (labelled "nobody inactive").
func TestReport_WritePNG(t *testing.T) {
	for _, tt := range []struct {
		name  string
		depts int
	}{{"empty", 0}, {"three", 3}, {"forty departments", 40}} {
		t.Run(tt.name, func(t *testing.T) {
			run := &review.Run{ID: "run-1", Rule: "employees", AsOf: t0}
			var items []*review.Item
			for i := range tt.depts * 5 {
				st := review.ItemPending
				if i%2 == 0 {
					st = review.ItemSuspended
				}
				items = append(items, &review.Item{Email: "p@example.com", Department: string(rune('A' + i%tt.depts)),
					State: st, Products: []review.ProductActivity{{Key: "jira-software"}}})
			}
			var buf bytes.Buffer
			if err := review.BuildReport(run, items, nil).WritePNG(&buf); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 500 {
				t.Errorf("got a %dx%d image, want a legible chart", b.Dx(), b.Dy())
			}
		})
	}
}
