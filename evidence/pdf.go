package evidence

import (
	"bytes"
	"fmt"
	"strings"

	"codeberg.org/go-fonts/liberation/liberationsansbold"
	"codeberg.org/go-fonts/liberation/liberationsansregular"
	"codeberg.org/go-pdf/fpdf"
)

// pdfDocument renders the pack's sections as a PDF, in Go, with the
// Liberation fonts (any UTF-8 text: names, reasons), the chart included.
func pdfDocument(p *Pack, chart []byte) ([]byte, error) {
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetCompression(true)
	doc.SetCreationDate(p.Generated)
	doc.SetModificationDate(p.Generated)
	doc.AddUTF8FontFromBytes("Sans", "", liberationsansregular.TTF)
	doc.AddUTF8FontFromBytes("Sans", "B", liberationsansbold.TTF)
	doc.SetTitle(fmt.Sprintf("Access evidence %s to %s", day(p.From), day(p.To.Add(-1))), true)
	doc.SetCreator("jitbot", true)
	doc.SetAutoPageBreak(true, 15)
	doc.SetFooterFunc(func() {
		doc.SetY(-12)
		doc.SetFont("Sans", "", 8)
		doc.CellFormat(0, 5, fmt.Sprintf("jitbot evidence %s to %s — chain head %s — page %d", day(p.From), day(p.To.Add(-1)), p.Chain.Head, doc.PageNo()), "", 0, "C", false, 0, "")
	})
	doc.AddPage()
	text := func(size float64, style, s string) {
		doc.SetFont("Sans", style, size)
		doc.MultiCell(0, size*0.5, s, "", "L", false)
	}
	text(18, "B", fmt.Sprintf("Access evidence, %s to %s", day(p.From), day(p.To.Add(-1))))
	doc.Ln(2)
	verified := "PASS"
	if !p.Chain.Verified {
		verified = "FAIL: " + p.Chain.Problem
	}
	text(9, "", fmt.Sprintf("Made by jitbot %s from the database's audit chain: %d events, head %s, verification %s. "+
		"Every file of the pack is listed with its SHA-256 in MANIFEST.sha256. The command that makes it again, against the same database: %s",
		stamp(p.Generated), p.Chain.Events, p.Chain.Head, verified, p.Command))
	chartAdded := false
	for _, c := range p.Controls() {
		doc.Ln(4)
		text(13, "B", c.Title)
		doc.Ln(1)
		text(9, "", c.Asks)
		doc.Ln(1)
		for _, f := range c.Figures {
			doc.SetFont("Sans", "", 9)
			doc.CellFormat(95, 5, f.Label, "1", 0, "L", false, 0, "")
			doc.CellFormat(0, 5, f.Value, "1", 1, "L", false, 0, "")
		}
		for _, ch := range c.Checks {
			doc.Ln(1)
			mark := "PASS"
			if !ch.Pass {
				mark = "FAIL"
			}
			text(10, "B", mark+"  "+ch.Name)
			text(8.5, "", ch.Detail)
			for _, it := range ch.Items {
				text(8, "", "  • "+it)
			}
		}
		if c.ID == "sox-removal" && !chartAdded {
			doc.Ln(2)
			opt := fpdf.ImageOptions{ImageType: "PNG", ReadDpi: true}
			doc.RegisterImageOptionsReader("lag", opt, bytes.NewReader(chart))
			doc.ImageOptions("lag", doc.GetX(), doc.GetY(), 170, 0, true, opt, 0, "")
			chartAdded = true
		}
		doc.Ln(1)
		text(8, "", "Population: "+strings.Join(c.Evidence, ", "))
	}
	if err := doc.Error(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := doc.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
