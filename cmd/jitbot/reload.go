package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// Policy reload without restart: on SIGHUP, and when the policy file (or
// its directory file) changes, the bot re-reads the policy. A valid one
// comes into force for the next request (Service.SetPolicy records it with
// its sha256); an invalid one is refused, its problems logged and posted to
// the alert channel, and the policy in force stays. Requests already filed
// keep the route they were filed under: it is stored with them. A policy
// that drops a resource or a provider with live grants is accepted: the
// grants are served to their end by the providers the process keeps
// (providers.go, warnUnnamed), and pending requests for a removed resource
// are ended (approvals.Service.SetPolicy).

// ActionPolicyRefused is the audit action of a reload that was refused.
const ActionPolicyRefused = "policy.refused"

// reloadDebounce lets an editor finish writing (several events for one
// save) before the file is read.
const reloadDebounce = 500 * time.Millisecond

// maxAlertProblems bounds the problems an alert lists.
const maxAlertProblems = 10

// reloadPolicy re-reads the policy file and puts it in force if it is
// valid and differs from the one in force. why says what asked for it
// (SIGHUP, a file change), for the log. It returns whether the policy
// changed, and the reason it was refused.
func (m *Main) reloadPolicy(ctx context.Context, why string) (bool, error) {
	log := m.Log.With(zap.String("policy", m.Config.Policy), zap.String("trigger", why))
	p, err := loadPolicy(m.Config.Policy, m.Config.PolicyFrom)
	if err == nil && m.Adapt != nil {
		p = m.Adapt(p)
	}
	if err == nil {
		err = m.checkReload(ctx, p)
	}
	// The stored directory is read and the policy put in force under
	// policyMu: a directory sync that ends meanwhile is then in one or
	// the other, never undone by this.
	m.policyMu.Lock()
	defer m.policyMu.Unlock()
	if err == nil {
		p, err = withDirectory(ctx, m.DB, p) // idp.go
	}
	if err != nil {
		log.Error("policy reload refused; the policy in force stays", zap.Error(err))
		m.refuseReload(ctx, err)
		return false, err
	}
	old := m.Service.Policy()
	if old != nil && old.Hash == p.Hash {
		log.Debug("policy unchanged", zap.String("policy_sha256", p.Hash))
		return false, nil
	}
	if err := m.Service.SetPolicy(ctx, p); err != nil {
		log.Error("policy reload could not be recorded; the policy in force stays", zap.Error(err))
		return false, err
	}
	if m.Review != nil {
		m.Review.SetPolicy(p) // review.go
	}
	if m.directoryWake != nil {
		m.wakeDirectory(old, p) // directory.go
	}
	log.Info("policy reloaded", zap.String("policy_sha256", p.Hash), zap.Int("rules", len(p.Rules)),
		zap.Int("resources", len(p.Resources)), zap.Int("people", len(p.People)))
	m.warnFindings(ctx, p, "The policy "+m.Config.Policy+" was reloaded")
	m.warnUnnamed(ctx, p, "The policy "+m.Config.Policy+" was reloaded")
	m.warnProviderMoved(ctx, p)
	return true, nil
}

// warnProviderMoved alerts, once per move, when policy p points the
// directory source of an identity provider that also serves access
// requests at another organisation (its url, tenant or customer). The
// directory sync and the licence review follow the reload; the grants
// provider keeps the organisation jitbot started with, so that the
// memberships it added there are removed there. A restart moves it, and
// would then remove those memberships at the new organisation instead:
// the alert says to let them end, or revoke them, first.
func (m *Main) warnProviderMoved(ctx context.Context, p *policies.Policy) {
	where := func(d *policies.DirectorySettings, kind string) string {
		if d != nil {
			for _, s := range d.Sources {
				if s.Kind == kind {
					return cmp.Or(s.URL, s.Tenant, s.Customer, "its default")
				}
			}
		}
		return ""
	}
	for _, name := range policies.IdPs {
		if _, ok := m.Providers[name].(liveProvider); !ok {
			continue
		}
		was, now := where(m.Policy.Directory, name), where(p.Directory, name)
		if was == "" || now == "" || was == now {
			continue
		}
		if m.movedSeen[name] == now {
			continue
		}
		msg := fmt.Sprintf("The policy %s was reloaded: the %s directory source now points at %s, but access requests for %s groups still go to %s, "+
			"where jitbot started: the memberships it added there are removed there. Restarting jitbot moves them to %s; "+
			"let the live %s grants end, or revoke them, before restarting, or their memberships at %s stay.",
			m.Config.Policy, name, now, name, was, now, name, was)
		m.Log.Warn("an identity provider's source moved; its grants provider stays where jitbot started", zap.String("provider", name),
			zap.String("started_at", was), zap.String("now", now))
		if err := m.Service.RaiseAlert(ctx, "", msg); err != nil {
			m.Log.Error("the alert about the moved source could not be recorded", zap.Error(err))
			continue
		}
		if m.movedSeen == nil {
			m.movedSeen = map[string]string{}
		}
		m.movedSeen[name] = now
	}
}

// checkReload refuses a policy the running providers cannot serve: a
// provider that was not configured at start-up, or a group that does not
// exist at a live provider.
func (m *Main) checkReload(ctx context.Context, p *policies.Policy) error {
	groups := p.Groups()
	var errs []error
	for _, name := range sortedKeys(groups) {
		prov, ok := m.Providers[name]
		if !ok {
			errs = append(errs, fmt.Errorf("provider %s was not configured when jitbot started: restart jitbot to use it", name))
			continue
		}
		if live, ok := prov.(liveProvider); ok {
			if err := live.CheckGroups(ctx, groups[name]); err != nil {
				errs = append(errs, fmt.Errorf("provider %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// warnFindings logs the warnings of policy check on a policy put in
// force and, on a reload, raises them as an alert (why says what
// happened; "" only logs, as at start).
func (m *Main) warnFindings(ctx context.Context, p *policies.Policy, why string) {
	if len(p.Findings) == 0 {
		return
	}
	lines := make([]string, len(p.Findings))
	for i, f := range p.Findings {
		lines[i] = f.String()
	}
	m.Log.Warn("the policy has warnings (jitbot policy check lists them)", zap.Strings("findings", lines))
	if why == "" {
		return
	}
	if len(lines) > maxAlertProblems {
		lines = append(lines[:maxAlertProblems:maxAlertProblems], fmt.Sprintf("… and %d more (jitbot policy check %s)", len(lines)-maxAlertProblems, m.Config.Policy))
	}
	msg := fmt.Sprintf("%s with %d warning(s); it is in force:\n%s", why, len(p.Findings), strings.Join(lines, "\n"))
	if err := m.Service.RaiseAlert(ctx, "", msg); err != nil {
		m.Log.Error("the alert about the policy's warnings could not be recorded", zap.Error(err))
	}
}

// refuseReload records the refusal in the audit trail and raises an alert
// in the same transaction (its delivery is a message-lane job); the
// policy's warnings, when known, follow its problems.
func (m *Main) refuseReload(ctx context.Context, cause error) {
	lines := strings.Split(cause.Error(), "\n")
	var le *policies.LoadError
	if errors.As(cause, &le) {
		for _, f := range le.Warnings {
			lines = append(lines, f.String())
		}
	}
	shown := lines
	if len(shown) > maxAlertProblems {
		shown = append(shown[:maxAlertProblems:maxAlertProblems], fmt.Sprintf("… and %d more (jitbot policy check %s)", len(lines)-maxAlertProblems, m.Config.Policy))
	}
	msg := fmt.Sprintf("The policy %s was not reloaded: the policy in force stays.\n%s", m.Config.Policy, strings.Join(shown, "\n"))
	sum := ""
	if data, err := os.ReadFile(m.Config.Policy); err == nil {
		sum = sha256Hex(data)
	}
	err := m.DB.Update(ctx, func(tx approvals.Tx) error {
		data := map[string]string{"file": m.Config.Policy, "problems": strconv.Itoa(len(lines))}
		if sum != "" {
			data["sha256"] = sum
		}
		if err := tx.Append(&approvals.Event{Time: m.Clock.Now(), Actor: approvals.ActorSystem, Action: ActionPolicyRefused,
			Reason: "the policy file is invalid; the policy in force stays", Data: data}); err != nil {
			return err
		}
		return m.Service.RaiseAlertTx(tx, "", "", msg, nil)
	})
	if err != nil {
		m.Log.Error("the refused policy reload could not be recorded", zap.Error(err))
		return
	}
	m.Service.Wake()
}

// openPolicyWatch starts watching the folders of the files the policy is
// read from (not the files: editors and Kubernetes replace a file, by
// rename or symlink swap, rather than write it in place) and SIGHUP, before
// Run, so that no change made after Open is missed. Without inotify, SIGHUP
// still reloads.
func (m *Main) openPolicyWatch() (w *fsnotify.Watcher, hup chan os.Signal) {
	hup, stop := notifyHUP()
	m.closers = append(m.closers, func() error { stop(); return nil })
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(m.Config.Policy)); err != nil {
			w.Close()
			w = nil
		}
	}
	if err != nil {
		m.Log.Warn("policy file changes are not watched; SIGHUP still reloads", zap.Error(err))
		m.watchFiles(nil)
		return nil, hup
	}
	m.closers = append(m.closers, w.Close)
	m.watchFiles(w)
	return w, hup
}

// policyFiles returns, absolute, every file the policy in force was read
// from — the policy file and its directory file — each as named and, when
// it is a symlink, as resolved.
func (m *Main) policyFiles() []string {
	names := []string{m.Config.Policy}
	if p := m.Service.Policy(); p != nil && p.DirectoryFile != "" {
		names = append(names, p.DirectoryFile)
	}
	var out []string
	for _, n := range names {
		paths := []string{n}
		if real, err := filepath.EvalSymlinks(n); err == nil {
			paths = append(paths, real)
		}
		for _, f := range paths {
			if abs, err := filepath.Abs(f); err == nil && !slices.Contains(out, abs) {
				out = append(out, abs)
			}
		}
	}
	return out
}

// watchFiles makes w watch the folder of every file the policy in force was
// read from (a directory file in a subfolder, a symlink's target in another
// folder), and isPolicyFile recognise them. It runs at start-up and after
// each reload: a new policy may read other files.
func (m *Main) watchFiles(w *fsnotify.Watcher) {
	files := m.policyFiles()
	m.watchMu.Lock()
	m.watched = files
	m.watchMu.Unlock()
	if w == nil {
		return
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		if slices.Contains(w.WatchList(), dir) {
			continue
		}
		if err := w.Add(dir); err != nil {
			m.Log.Warn("a folder the policy is read from is not watched; SIGHUP still reloads", zap.String("folder", dir), zap.Error(err))
		}
	}
}

// watchPolicy reloads the policy on SIGHUP and when its file or directory
// file changes, until ctx ends.
func (m *Main) watchPolicy(ctx context.Context, w *fsnotify.Watcher, hup <-chan os.Signal) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			m.reloadPolicy(ctx, "SIGHUP")
			m.watchFiles(w)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if m.isPolicyFile(ev.Name) {
				debounce = m.Clock.After(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			m.Log.Warn("watching the policy file", zap.Error(err))
		case <-debounce:
			debounce = nil
			m.reloadPolicy(ctx, "file changed")
			m.watchFiles(w)
		}
	}
}

// isPolicyFile reports whether a change to name concerns the policy: a
// file it is read from (as named or as a symlink resolves), a file of the
// policy's name in a watched folder, or Kubernetes' ..data symlink swap.
func (m *Main) isPolicyFile(name string) bool {
	base := filepath.Base(name)
	if base == filepath.Base(m.Config.Policy) || strings.HasPrefix(base, "..") {
		return true
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return false
	}
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	return slices.Contains(m.watched, abs)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// notifyHUP starts delivering SIGHUP to a channel; stop undoes it.
func notifyHUP() (ch chan os.Signal, stop func()) {
	ch = make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}
