package review

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chartBars bounds how many departments the chart names; the rest are
// summed as "others" (the CSV lists everyone).
const chartBars = 15

// Chart colours: inactive people, and the licences the run reclaims.
var (
	chartInactive    = color.RGBA{R: 0x45, G: 0x7b, B: 0x9d, A: 0xff}
	chartReclaimable = color.RGBA{R: 0xe6, G: 0x39, B: 0x46, A: 0xff}
)

// WritePNG draws the report as a PNG chart: inactive people per department
// (the largest first), and per product the inactive people beside the
// licences this run reclaims. It is what the IT digest attaches.
func (r *Report) WritePNG(w io.Writer) error {
	depts := topCounts(r.ByDepartment, chartBars)
	products := topCounts(r.ByProduct, chartBars)

	top := plot.New()
	top.Title.Text = fmt.Sprintf("Inactive people by department — rule %s", r.Run.Rule)
	top.Y.Label.Text = "people"
	if err := addBars(top, depts, nil, 0); err != nil {
		return err
	}

	bottom := plot.New()
	bottom.Title.Text = "By product: inactive people and licences reclaimed"
	bottom.Y.Label.Text = "licences"
	reclaim := make([]float64, len(products))
	for i, p := range products {
		reclaim[i] = float64(r.Reclaimable[p.name])
	}
	if err := addBars(bottom, products, reclaim, 1); err != nil {
		return err
	}
	bottom.Legend.Top = true

	const width, height = 9 * vg.Inch, 8 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))
	dc := draw.New(img)
	// An empty canvas is transparent; a chart pasted into Slack's dark
	// theme must stay legible.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8),
		PadRight: vg.Points(16), PadY: vg.Points(20)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

type namedCount struct {
	name string
	n    int
}

// topCounts returns the n largest counts (ties by name), the rest summed
// as "others".
func topCounts(m map[string]int, n int) []namedCount {
	out := make([]namedCount, 0, len(m))
	for k, v := range m {
		out = append(out, namedCount{k, v})
	}
	slices.SortFunc(out, func(a, b namedCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	if len(out) > n {
		rest := 0
		for _, c := range out[n-1:] {
			rest += c.n
		}
		out = append(out[:n-1], namedCount{fmt.Sprintf("%d others", len(out)-n+1), rest})
	}
	return out
}

// addBars draws counts as bars; with second, a second series beside them
// (the licences reclaimed). An empty series draws an empty, labelled plot.
func addBars(p *plot.Plot, counts []namedCount, second []float64, legend int) error {
	if len(counts) == 0 {
		p.NominalX("nobody inactive")
		return nil
	}
	names := make([]string, len(counts))
	values := make(plotter.Values, len(counts))
	for i, c := range counts {
		names[i] = shortLabel(c.name)
		values[i] = float64(c.n)
	}
	width := vg.Points(min(40, 420/float64(len(counts))))
	bars, err := plotter.NewBarChart(values, width)
	if err != nil {
		return err
	}
	bars.Color, bars.LineStyle.Width = chartInactive, 0
	p.Add(plotter.NewGrid(), bars)
	highest := 0.0
	for _, v := range values {
		highest = max(highest, v)
	}
	if second != nil {
		bars.Offset = -width / 2
		other, err := plotter.NewBarChart(plotter.Values(second), width)
		if err != nil {
			return err
		}
		other.Color, other.LineStyle.Width, other.Offset = chartReclaimable, 0, width/2
		p.Add(other)
		if legend > 0 {
			p.Legend.Add("inactive", bars)
			p.Legend.Add("reclaimed", other)
		}
	}
	p.NominalX(names...)
	// Room above the highest bar for the legend.
	p.Y.Min, p.Y.Max = 0, max(1, highest*1.2)
	if len(counts) > 6 {
		p.X.Tick.Label.Rotation = 0.6
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	return nil
}

// shortLabel keeps an axis label legible.
func shortLabel(s string) string {
	r := []rune(s)
	if len(r) > 22 {
		return string(r[:21]) + "…"
	}
	return s
}
