package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The playground's browser test drives Debian's chromium, headless, with
// chromedp: the Chrome DevTools Protocol from Go, so the test runs in `go
// test` beside the others and needs no Node.js. .ci/run installs chromium;
// without a chromium binary the test says so and skips.

// chromiumPath finds a chromium binary.
func chromiumPath() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startPlayground runs `jitbot playground` in-process on a free port and
// returns its URL, once it printed it.
func startPlayground(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir()) // the playground's folder
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	argv := append([]string{"playground", "--listen", "127.0.0.1:0", "--log-level", "warn", "--log-format", "json"}, args...)
	go func() {
		code := Run(ctx, argv, strings.NewReader(""), pw, stderr, func(string) string { return "" })
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("jitbot playground exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("jitbot playground did not stop within 20s of Ctrl-C")
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		url, ok := strings.CutPrefix(line, "jitbot playground: ")
		if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("the playground printed %q, want its URL", line)
		}
		return url, stderr
	case code := <-done:
		t.Fatalf("jitbot playground exited %d before printing its URL:\n%s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("jitbot playground printed no URL within 30s:\n%s", stderr.String())
	}
	return "", nil
}

// browser starts headless chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("no chromium binary (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome): " +
			"the playground's browser test needs one; `apt-get install -y chromium` (.ci/run does)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		// Without these chromium reaches for the network, which a closed
		// machine refuses.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", chrome, err)
	}
	return ctx
}

// page drives the playground's page.
type page struct {
	t    *testing.T
	ctx  context.Context
	url  string
	shot string // folder for screenshots
	n    int
}

func (p *page) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.failed(what, err)
	}
}

// failed stops the test, showing the conversation and writing a
// screenshot.
func (p *page) failed(what string, err error) {
	p.t.Helper()
	html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("#part-main")))
	p.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
	p.t.Fatalf("%s: %v\nthe conversation shows:\n%s", what, err, html)
}

// waitJS waits until the JavaScript expression is true.
func (p *page) waitJS(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(25*time.Second),
		chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.failed(what, err)
	}
}

// waitText waits until the element sel holds text.
func (p *page) waitText(what, sel, text string) {
	p.t.Helper()
	p.waitJS(what, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, text))
}

// eval runs JavaScript and returns its result.
func eval[T any](p *page, what, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.failed(what, err)
	}
	return v
}

// actAs switches the page to another person.
func (p *page) actAs(id string) {
	p.t.Helper()
	p.choose("act as "+id, "#as", id)
	p.waitJS("switched to "+id, fmt.Sprintf(`document.body.dataset.as !== undefined && new URL(location.href).searchParams.get("as") === %q`, id))
}

// choose picks an option of a select, as a person does (a change event).
func (p *page) choose(what, sel, value string) {
	p.t.Helper()
	p.run(what, chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, value)))
}

// click clicks the element sel (a CSS selector, or an XPath starting
// with / or () once it is visible.
func (p *page) click(what, sel string) {
	p.t.Helper()
	if strings.HasPrefix(sel, "/") || strings.HasPrefix(sel, "(") {
		p.run(what, chromedp.WaitVisible(chromedp.Search(sel)), chromedp.Click(chromedp.Search(sel)))
		return
	}
	p.run(what, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// openChannel shows a conversation of the sidebar.
func (p *page) openChannel(name string) {
	p.t.Helper()
	p.click("open "+name, fmt.Sprintf(`//nav//button[contains(., %q)]`, name))
	p.waitText("show "+name, ".main-title", strings.TrimPrefix(name, "Messages"))
}

// screenshot writes a PNG of the viewport.
func (p *page) screenshot(name string) string {
	p.n++
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(p.shot, fmt.Sprintf("%02d-%s.png", p.n, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
	}
	return path
}

// noOverflow checks that the page fits the viewport's width.
func (p *page) noOverflow(what string) {
	p.t.Helper()
	if over := eval[int](p, what, `document.documentElement.scrollWidth - window.innerWidth`); over > 1 {
		p.t.Errorf("%s: the page is %dpx wider than the viewport", what, over)
	}
}

// Issue 22: the playground, end to end in a real browser. alice asks for
// jira-admins for 1h with a reason in the form; bob, her manager, and
// dave, an IT lead, approve from their cards; alice's DM says active and
// the local Jira has her in the group; the clock, paused, moves 1h and her
// DM says ended and the membership is gone. Then the employees review
// runs: bob keeps carol with a reason and suspends frank (the local Admin
// API suspends him), the digest in #it-licences shows its chart and CSV,
// and dave, in IT, restores frank. Along the way: what alice typed is
// shown as text, never HTML; keyboard-only use reaches every button and
// field; the page fits 1280×800 and a phone's width. Screenshots go to
// $JITBOT_PLAYGROUND_SCREENSHOTS, or to the test's temporary folder.
func TestPlayground_Browser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test starts chromium")
	}
	ctx := browser(t)
	url, stderr := startPlayground(t, "--start", "2026-12-08T10:00:00Z")
	shots := os.Getenv("JITBOT_PLAYGROUND_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: ctx, url: url, shot: shots}
	defer func() {
		if t.Failed() {
			t.Logf("the playground's log:\n%s", stderr.String())
		}
		t.Logf("screenshots in %s", shots)
	}()

	p.run("open the page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#composer-text")))
	p.waitText("the page says time is simulated", ".notice", "Time is simulated")
	p.noOverflow("1280×800")

	// alice opens the form and asks for jira-admins for 1h.
	const hostile = `<img src=x onerror="window.__xss=1"><b>fixing</b> the deploy & "more"`
	p.run("type /access", chromedp.SendKeys(chromedp.CSS("#composer-text"), "/access\r"))
	p.waitJS("the form opens", `!!document.querySelector("dialog.slack-modal[open] select[data-dispatch]")`)
	p.choose("choose jira-admins", `dialog[open] select[name="resource/resource"]`, "jira-admins")
	p.waitText("the form bounds the duration for jira-admins", "dialog[open]", "for you and jira-admins")
	p.choose("choose 1h", `dialog[open] select[name="duration/duration"]`, "1h")
	p.run("fill the reason and ticket",
		chromedp.SendKeys(chromedp.CSS(`dialog[open] textarea[name="reason/text"]`), hostile),
		chromedp.SendKeys(chromedp.CSS(`dialog[open] input[name="ticket/text"]`), "OPS-12"))
	p.screenshot("alice-asks")
	p.click("submit the form", `dialog[open] button[type=submit]`)
	p.waitJS("the form closes", `!document.querySelector("dialog.slack-modal[open]")`)
	p.waitText("alice's DM says it waits", "#part-main", "Your access request")

	// What alice typed is text: no element was made of it, no script ran.
	type injected struct {
		Ran  bool `json:"ran"`
		Imgs int  `json:"imgs"`
		Text bool `json:"text"`
	}
	xss := eval[injected](p, "look for injected HTML", `({ran: !!window.__xss, imgs: document.querySelectorAll("#part-main img[src=x]").length + [...document.querySelectorAll("#part-main b")].filter(e => e.textContent === "fixing").length,
		text: document.querySelector("#part-main").textContent.includes('<img src=x onerror="window.__xss=1"><b>fixing</b>')})`)
	if xss.Ran || xss.Imgs > 0 || !xss.Text {
		t.Errorf("the reason alice typed: script ran %v, %d elements made of it, shown as text %v; want false, 0, true", xss.Ran, xss.Imgs, xss.Text)
	}

	// bob, her manager, approves from his card.
	p.actAs("U0BOB")
	p.waitText("bob sees the card", "#part-main", "asks for Jira administrators")
	p.screenshot("bob-card")
	keyboard(t, p)
	// dave approves step 2 (an IT lead).
	p.actAs("U0DAVE")
	p.click("dave approves", `#part-main button[data-action="approve"]`)
	p.waitText("dave's card says approved", "#part-main", "approved by dave@example.com")

	// alice's DM says active; the local Jira has her in jira-admins.
	p.actAs("U0ALICE")
	p.waitText("alice's DM says active", "#part-main", "Active until")
	p.waitJS("alice is in jira-admins", `!!document.querySelector('#part-atlassian .member[data-group="jira-admins"][data-email="alice@example.com"]')`)
	for _, action := range []string{"request.submitted", "approval.recorded", "grant.provisioned"} {
		p.waitJS("the audit panel lists "+action, fmt.Sprintf(`!!document.querySelector('#part-audit li[data-action=%q]')`, action))
	}
	p.screenshot("alice-active")

	// The clock, paused so that only the button moves it, moves 1h.
	p.click("pause the clock", "#clock-toggle")
	p.waitText("the clock is paused", "#part-clock", "paused")
	p.click("+1 hour", `button[data-skip="1h"]`)
	p.waitText("alice's DM says ended", "#part-main", "Ended")
	p.waitJS("the membership is gone", `!document.querySelector('#part-atlassian .member[data-group="jira-admins"][data-email="alice@example.com"]')`)
	p.waitText("the Jira removal is listed", "#part-atlassian .changes", "removed alice from jira-admins")
	p.screenshot("alice-ended")

	// The employees review runs; bob keeps carol and suspends frank.
	p.click("run the employees review", "#review-employees")
	p.waitText("the run is done", "#part-review", "inactive to review")
	p.actAs("U0BOB")
	p.waitText("bob's prompt lists frank", "#part-main", "frank@example.com")
	item := func(email, action string) string {
		return fmt.Sprintf(`(//div[contains(@class,"bk-section")][contains(., %q)]/following-sibling::div[contains(@class,"bk-actions")][1]//button[starts-with(@data-action, %q)])[last()]`, email, action)
	}
	p.click("keep carol", item("carol@example.com", "review_keep."))
	p.waitJS("the keep form opens", `!!document.querySelector("dialog.slack-modal[open] textarea")`)
	p.run("give the reason", chromedp.SendKeys(chromedp.CSS(`dialog[open] textarea`), "month-end close in Finance"))
	p.click("submit the keep", `dialog[open] button[type=submit]`)
	p.waitJS("the keep form closes", `!document.querySelector("dialog.slack-modal[open]")`)
	p.click("suspend frank", item("frank@example.com", "review_suspend."))
	if eval[bool](p, "is there a confirm dialog", `!!document.querySelector("dialog#confirm[open]")`) {
		p.click("confirm", "#confirm-ok")
	}
	p.waitJS("frank is suspended in Atlassian", `(() => { const r = document.querySelector('#part-atlassian tr[data-email="frank@example.com"] .status-suspended'); return !!r; })()`)
	p.waitText("bob's prompt says kept", "#part-main", "Kept")
	p.waitText("bob's prompt says suspended", "#part-main", "Suspended")
	p.screenshot("bob-review")

	// The digest in #it-licences, with its chart and CSV.
	p.actAs("U0DAVE")
	p.openChannel("it-licences")
	p.waitText("the digest", "#part-main", "Licence review: employees")
	p.waitJS("the chart is shown", `(() => { const i = document.querySelector('#part-main figure.file img'); return !!i && i.complete && i.naturalWidth > 100; })()`)
	p.waitJS("the CSV is there", `!!document.querySelector('#part-main figure.file a[download$=".csv"]')`)
	p.run("show the chart", chromedp.ScrollIntoView(chromedp.CSS(`#part-main figure.file img`)))
	p.screenshot("digest")

	// IT restores frank.
	p.run("type /access restore @frank", chromedp.SendKeys(chromedp.CSS("#composer-text"), "/access restore @frank\r"))
	p.waitText("dave is told frank is restored", "#part-main", "frank@example.com is restored")
	p.waitJS("frank is active in Atlassian", `!!document.querySelector('#part-atlassian tr[data-email="frank@example.com"] .status-active')`)
	p.waitText("the audit trail shows the restore", "#part-audit", "restore")
	p.run("scroll to the reply", chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector("#part-main"); c.scrollTop = c.scrollHeight; })()`))
	p.screenshot("restored")

	// The export is what jitbot audit export prints.
	resp, err := http.Get(url + "audit/export?format=jsonl")
	if err != nil {
		t.Fatal(err)
	}
	export, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"action":"request.submitted"`, `"action":"grant.removed"`, `"reason":"month-end close in Finance"`} {
		if !bytes.Contains(export, []byte(want)) {
			t.Errorf("the audit export lacks %s", want)
		}
	}

	// The evidence pack from the page: a zip of what jitbot evidence pack
	// writes, its manifest over every file, the grants of the session in it.
	resp, err = http.Get(url + "evidence/pack.zip")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("the evidence pack: %s, %v", resp.Status, err)
	}
	packFiles := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		packFiles[path.Base(f.Name)] = string(b)
	}
	for _, want := range []string{"index.html", "evidence.pdf", "grants.csv", "MANIFEST.sha256"} {
		if packFiles[want] == "" {
			t.Errorf("the playground's evidence pack has no %s (files: %d)", want, len(packFiles))
		}
	}
	if !strings.Contains(packFiles["grants.csv"], "alice@example.com,jira-admins") || !strings.Contains(packFiles["MANIFEST.sha256"], "grants.csv") {
		t.Errorf("the playground's evidence pack does not hold the session's grants:\n%s", packFiles["grants.csv"])
	}

	// A phone's width: everything still fits.
	p.run("a phone's width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(url+"?as=U0BOB"),
		chromedp.WaitVisible(chromedp.CSS("#composer-text")))
	p.waitText("bob's messages on a phone", "#part-main", "frank@example.com")
	p.noOverflow("390×844")
	p.screenshot("phone")
}

// keyboard checks, on bob's page, that Tab alone reaches every button,
// select, field and link, then approves alice's request from the keyboard.
func keyboard(t *testing.T, p *page) {
	t.Helper()
	// Still page parts while tabbing: the clock's display re-renders
	// every second while it runs.
	p.click("pause the clock", "#clock-toggle")
	p.waitText("the clock is paused", "#part-clock", "paused")
	// and a page that stopped changing (the bot may still be editing a card).
	p.waitJS("the page settles", `(() => {
		const h = document.body.innerHTML, now = Date.now();
		if (window.__settle === undefined || window.__settle.h !== h) { window.__settle = {h, at: now}; return false; }
		return now - window.__settle.at > 600;
	})()`)
	total := eval[int](p, "number the focusable elements", `(() => {
		const els = [...document.querySelectorAll('a[href], button, select, input, textarea')].filter(e => !e.closest('dialog:not([open])') && e.offsetParent !== null);
		els.forEach((e, i) => e.dataset.k = i);
		document.activeElement.blur();
		return els.length;
	})()`)
	if total < 20 {
		t.Fatalf("keyboard: only %d focusable elements on bob's page: the page is not what the test expects", total)
	}
	reached := map[string]bool{}
	for i := 0; i < total+5 && len(reached) < total; i++ {
		p.run("press Tab", chromedp.KeyEvent("\t"))
		if k := eval[string](p, "what has the focus", `document.activeElement.dataset.k || ""`); k != "" {
			reached[k] = true
		}
	}
	if len(reached) < total {
		missed := eval[[]string](p, "list what Tab missed", `[...document.querySelectorAll('[data-k]')].map(e => e.dataset.k + ":" + (e.id || e.textContent.trim().slice(0, 30)))`)
		var names []string
		for _, m := range missed {
			if k, _, _ := strings.Cut(m, ":"); !reached[k] {
				names = append(names, m)
			}
		}
		t.Errorf("keyboard: Tab reached %d of %d focusable elements; missed %v", len(reached), total, names)
	}
	// Approve from the keyboard: Tab to the button, Enter.
	approve := eval[string](p, "find Approve", `document.querySelector('#part-main button[data-action="approve"]').dataset.k`)
	for i := 0; i < total+2; i++ {
		if eval[string](p, "what has the focus", `document.activeElement.dataset.k || ""`) == approve {
			break
		}
		p.run("press Tab", chromedp.KeyEvent("\t"))
	}
	p.run("press Enter", chromedp.KeyEvent("\r"))
	p.waitText("bob's card says step 1 approved", "#part-main", "approved by bob@example.com")
	p.click("resume the clock", "#clock-toggle")
}

// pg drives a running playground through the page's own endpoints.
type pg struct {
	t   *testing.T
	url string
}

func (g pg) post(path, body string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Playground", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("POST %s %s: %d %s", path, body, resp.StatusCode, out)
	}
}

// main returns the conversation as a person sees it.
func (g pg) main(as, channel string) string {
	g.t.Helper()
	resp, err := http.Get(g.url + "api/parts?as=" + as + "&c=" + channel)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Parts map[string]string `json:"parts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		g.t.Fatal(err)
	}
	return out.Parts["main"]
}

// waitMain waits until a person's conversation shows want.
func (g pg) waitMain(what, as, channel, want string) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := g.main(as, channel)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s: %s's %s never showed %q; it shows:\n%s", what, as, channel, want, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The playground's clock is the one every loop reads: with the clock
// paused, only the page's skips move it, and each skip wakes what fell
// due — the approver's reminder halfway to the request's timeout, the
// timeout itself, the external consultants' daily review (erin warned)
// and the employees' weekly one (bob's prompt, Monday 09:00).
func TestPlayground_ClockWakesLoops(t *testing.T) {
	url, _ := startPlayground(t, "--start", "2026-12-08T10:00:00Z")
	g := pg{t: t, url: url}
	g.post("api/clock", `{"running": false}`)
	g.post("api/command", `{"as": "U0ALICE", "channel": "D0ALICE", "text": "/access confluence-finance 3d quarter close"}`)
	g.waitMain("bob's card", "U0BOB", "D0BOB", "Approve")

	g.post("api/clock", `{"skip": "12h"}`) // request_ttl 24h: reminded halfway
	g.waitMain("the reminder", "U0BOB", "D0BOB", "Reminder")
	if strings.Contains(g.main("U0ALICE", "D0ALICE"), "Timed out") {
		t.Fatal("alice's request timed out after 12h of 24")
	}
	g.post("api/clock", `{"skip": "12h"}`)
	g.waitMain("the timeout", "U0ALICE", "D0ALICE", "Timed out")

	// Wednesday 10:00: the daily external consultants' run passed at
	// midnight; erin, idle three days, is warned.
	g.waitMain("erin's warning", "U0ERIN", "D0ERIN", "will be suspended")
	if strings.Contains(g.main("U0BOB", "D0BOB"), "inactive people in your team") {
		t.Fatal("bob was prompted before the employees' Monday run")
	}
	g.post("api/clock", `{"skip": "120h"}`) // Monday 14 December, 10:00
	g.waitMain("bob's weekly prompt", "U0BOB", "D0BOB", "inactive people in your team")
	g.waitMain("frank is on it", "U0BOB", "D0BOB", "frank@example.com")
}

// parts returns every part of a person's page.
func (g pg) parts(as, channel string) map[string]string {
	g.t.Helper()
	resp, err := http.Get(g.url + "api/parts?as=" + as + "&c=" + channel)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Parts map[string]string `json:"parts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		g.t.Fatal(err)
	}
	return out.Parts
}

// The form answers as Slack's does: a submission the bot refuses stays
// open with the bot's sentence next to the field and what was typed kept.
func TestPlayground_FormErrors(t *testing.T) {
	url, _ := startPlayground(t, "--start", "2026-12-08T10:00:00Z")
	g := pg{t: t, url: url}
	g.post("api/command", `{"as": "U0ALICE", "channel": "D0ALICE", "text": "/access"}`)
	var view string
	deadline := time.Now().Add(20 * time.Second)
	for view == "" {
		if m := regexp.MustCompile(`data-view="(V[0-9A-F]+)"`).FindStringSubmatch(g.parts("U0ALICE", "D0ALICE")["modal"]); m != nil {
			view = m[1]
		} else if time.Now().After(deadline) {
			t.Fatal("the form did not open")
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// jira-admins needs a ticket under the admin rule; none is given.
	g.post("api/submit", `{"as": "U0ALICE", "view": "`+view+`", "values": {"resource": {"resource": "jira-admins"},
		"duration": {"duration": "1h"}, "reason": {"text": "fixing <b>the</b> deploy"}, "ticket": {"text": ""}}}`)
	modal := g.parts("U0ALICE", "D0ALICE")["modal"]
	for _, want := range []string{`data-view="` + view + `"`, "fixing &lt;b&gt;the&lt;/b&gt; deploy"} {
		if !strings.Contains(modal, want) {
			t.Errorf("the refused form lacks %q:\n%s", want, modal)
		}
	}
	// The sentence sits in the ticket's input block, marked for screen readers.
	m := regexp.MustCompile(`(?s)<div class="bk-input has-error"><label for="[^"]+">Ticket.*?<p class="error" id="[^"]+" role="alert">([^<]+)</p>`).FindStringSubmatch(modal)
	if m == nil || !strings.Contains(strings.ToLower(m[1]), "ticket") {
		t.Errorf("no error about the ticket next to it:\n%s", modal)
	}
	if strings.Contains(g.main("U0ALICE", "D0ALICE"), "Your access request") {
		t.Error("a refused form filed a request")
	}
}
