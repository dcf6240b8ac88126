package evidence

import (
	"bytes"
	"html/template"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var page = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"stamp": stamp, "day": day, "minutes": minutes, "approval": approvalText,
	"result": func(pass bool) string {
		if pass {
			return "PASS"
		}
		return "FAIL"
	},
	"lastDay": func(t time.Time) string { return day(t.Add(-time.Nanosecond)) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>jitbot evidence {{day .P.From}} to {{lastDay .P.To}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f6}.pass{color:#0a7a2f;font-weight:600}.fail{color:#b00020;font-weight:600}.muted{color:#666}
code{font-size:.9em;word-break:break-all}img{max-width:100%}
</style></head><body>
<h1>Access evidence, {{day .P.From}} to {{lastDay .P.To}}</h1>
<p class="muted">Made by jitbot {{stamp .P.Generated}} from the database's audit chain (head <code>{{.P.Chain.Head}}</code>,
{{.P.Chain.Events}} events, verification: <span class="{{if .P.Chain.Verified}}pass{{else}}fail{{end}}">{{result .P.Chain.Verified}}</span>).
Every file is listed with its SHA-256 in <a href="MANIFEST.sha256">MANIFEST.sha256</a>; the command that makes it again, against the same database, is<br><code>{{.P.Command}}</code> (also in <a href="REGENERATE.txt">REGENERATE.txt</a>).</p>

<h2 id="summary">Summary</h2>
<table><tr><th>Control</th><th>Tests</th></tr>
{{range .C}}<tr><td><a href="#{{.ID}}">{{.Title}}</a></td><td>{{range .Checks}}<span class="{{if .Pass}}pass{{else}}fail{{end}}">{{result .Pass}}</span> {{.Name}}<br>{{end}}</td></tr>
{{end}}</table>

{{range .C}}<h2 id="{{.ID}}">{{.Title}}</h2>
<p>{{.Asks}}</p>
<table>{{range .Figures}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
{{range .Checks}}<p><span class="{{if .Pass}}pass{{else}}fail{{end}}">{{result .Pass}}</span> {{.Name}}.<br><span class="muted">{{.Detail}}</span></p>
{{if .Items}}<ul>{{range .Items}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
{{if eq .ID "sox-removal"}}<p><img src="removal-lag.png" alt="Removals by the time from the grant's end to the membership's removal"></p>{{end}}
<p class="muted">Population: {{range $i, $f := .Evidence}}{{if $i}}, {{end}}<a href="{{$f}}">{{$f}}</a>{{end}}</p>
{{end}}

<h2 id="privileged">Privileged grants</h2>
{{if .Privileged}}<table><tr><th>Request</th><th>Person</th><th>Group</th><th>Why</th><th>Approval</th><th>Ended</th><th>Removed</th></tr>
{{range .Privileged}}<tr><td><code>{{.RequestID}}</code></td><td>{{.Person}}</td><td>{{.Group}}</td><td>{{.Reason}}{{if .Ticket}} ({{.Ticket}}){{end}}</td><td>{{approval .}}</td><td>{{stamp .Ended}} {{.EndedHow}}</td><td>{{stamp .Removed}}</td></tr>
{{end}}</table>{{else}}<p>No privileged grant was live in the period.</p>{{end}}

<h2 id="reviewers">Who answered the licence reviews</h2>
{{if .Answerers}}<table><tr><th>Answered by</th><th>Answers</th></tr>{{range .Answerers}}<tr><td>{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}</table>
{{else}}<p>No review answer in the period.</p>{{end}}

<h2 id="break-glass">Break-glass</h2>
{{if .P.BreakGlass}}<table><tr><th>When</th><th>Person</th><th>Resource</th><th>Why</th><th>For</th><th>Review after the fact</th></tr>
{{range .P.BreakGlass}}<tr><td>{{stamp .Time}}</td><td>{{.Person}}{{if .Filer}} (filed by {{.Filer}}){{end}}</td><td>{{.Resource}}</td><td>{{.Reason}}</td><td>{{.Duration}}</td><td>{{if .Review}}{{.Review}} by {{.ReviewedBy}} {{stamp .ReviewedAt}}{{if .FlagReason}}: {{.FlagReason}}{{end}}{{else}}<span class="fail">not reviewed</span>{{if .Escalated}} (escalated){{end}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>No break-glass access was used in the period.</p>{{end}}

<h2 id="failures">Failures, and how they ended</h2>
{{if .P.Failures}}<table><tr><th>When</th><th>What</th><th>Request</th><th>Who</th><th>Why</th><th>How it ended</th></tr>
{{range .P.Failures}}<tr><td>{{stamp .Time}}</td><td>{{.Action}}</td><td><code>{{.RequestID}}</code></td><td>{{.Subject}}</td><td>{{.Reason}}</td><td>{{.Outcome}}</td></tr>
{{end}}</table>{{else}}<p>Nothing failed in the period.</p>{{end}}

<h2 id="policies">Policy versions</h2>
<table><tr><th>Loaded</th><th>SHA-256</th><th>File</th></tr>
{{range .P.Policies}}<tr><td>{{stamp .Loaded}}{{if .InForceAtStart}} (in force when the period began){{end}}</td><td><code>{{.SHA256}}</code></td><td>{{.File}}</td></tr>
{{end}}</table>
</body></html>
`))

// htmlPage renders index.html; everything from the database is escaped.
func htmlPage(p *Pack) ([]byte, error) {
	var privileged []Grant
	for _, g := range p.Grants {
		if g.Privileged {
			privileged = append(privileged, g)
		}
	}
	var b bytes.Buffer
	err := page.Execute(&b, map[string]any{"P": p, "C": p.Controls(), "Privileged": privileged, "Answerers": p.Stats().Answerers()})
	return b.Bytes(), err
}

// lagChart draws the removals of the period by the time from the grant's
// end to the membership's removal.
func lagChart(p *Pack) ([]byte, error) {
	s := p.Stats()
	pl := plot.New()
	pl.Title.Text = "Removals by the time from the grant's end to the membership's removal"
	pl.Y.Label.Text = "removals"
	values := make(plotter.Values, len(s.LagBuckets))
	for i, n := range s.LagBuckets {
		values[i] = float64(n)
	}
	bars, err := plotter.NewBarChart(values, vg.Points(40))
	if err != nil {
		return nil, err
	}
	bars.Color = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}
	bars.LineStyle.Width = 0
	pl.Add(bars)
	pl.NominalX(LagBucketNames[:]...)
	img := vgimg.NewWith(vgimg.UseWH(7*vg.Inch, 3.5*vg.Inch), vgimg.UseDPI(110))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	pl.Draw(dc)
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
