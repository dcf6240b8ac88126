package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store"
)

// parseRun runs Main.ParseFlags over env and args and returns the exit code
// (-1: go on), the configuration and stderr.
func parseRun(t *testing.T, env map[string]string, args ...string) (int, Config, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	m := &Main{Getenv: c.getenv}
	code := m.ParseFlags(c, args)
	return code, m.Config, errb.String()
}

// Issue 10 item 14: JITBOT_DRY_RUN=on meant live. Every usual spelling is
// accepted, and anything else stops start-up naming the variable.
func TestIntegrity14_BooleanSpellings(t *testing.T) {
	for _, tc := range []struct {
		give string
		want bool
	}{
		{"1", true}, {"true", true}, {"TRUE", true}, {"yes", true}, {"Yes", true}, {"on", true}, {"ON", true}, {"y", true},
		{"0", false}, {"false", false}, {"no", false}, {"off", false}, {"Off", false}, {"n", false}, {"", false},
	} {
		code, cfg, errOut := parseRun(t, map[string]string{"JITBOT_DRY_RUN": tc.give})
		if code != -1 || cfg.DryRun != tc.want {
			t.Errorf("JITBOT_DRY_RUN=%q: got exit %d dry run %v (%s), want dry run %v", tc.give, code, cfg.DryRun, errOut, tc.want)
		}
	}
	for _, give := range []string{"maybe", "enabled", "2", "tru"} {
		code, _, errOut := parseRun(t, map[string]string{"JITBOT_DRY_RUN": give})
		if code != exitUsage || !strings.Contains(errOut, "JITBOT_DRY_RUN") || !strings.Contains(errOut, "on/off") {
			t.Errorf("JITBOT_DRY_RUN=%q: got exit %d, stderr %q; want exit 2 naming the variable and the accepted values", give, code, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--dry-run"}, true}, {[]string{"--dry-run=on"}, true}, {[]string{"--dry-run=yes"}, true},
		{[]string{"--dry-run=off"}, false}, {[]string{"--dry-run=0"}, false},
	} {
		code, cfg, errOut := parseRun(t, map[string]string{"JITBOT_DRY_RUN": "no"}, tc.args...)
		if code != -1 || cfg.DryRun != tc.want {
			t.Errorf("%v: got exit %d dry run %v (%s), want dry run %v", tc.args, code, cfg.DryRun, errOut, tc.want)
		}
	}
	if code, _, errOut := parseRun(t, nil, "--dry-run=perhaps"); code != exitUsage || !strings.Contains(errOut, "--dry-run") {
		t.Errorf("--dry-run=perhaps: got exit %d, stderr %q; want exit 2 naming the flag", code, errOut)
	}
}

// Issue 10 item 14: duration settings read what policy durations read
// (d included) and refuse garbage naming the setting.
func TestIntegrity14_DurationSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want time.Duration
	}{
		{nil, nil, time.Hour},
		{map[string]string{"JITBOT_RECONCILE_INTERVAL": "1d"}, nil, 24 * time.Hour},
		{map[string]string{"JITBOT_RECONCILE_INTERVAL": "90m"}, nil, 90 * time.Minute},
		{map[string]string{"JITBOT_RECONCILE_INTERVAL": "0"}, nil, 0},
		{nil, []string{"--reconcile-interval", "1d"}, 24 * time.Hour},
		{map[string]string{"JITBOT_RECONCILE_INTERVAL": "2h"}, []string{"--reconcile-interval=1d12h"}, 36 * time.Hour},
		{nil, []string{"--reconcile-interval", "0"}, 0},
	} {
		code, cfg, errOut := parseRun(t, tc.env, tc.args...)
		if code != -1 || cfg.Reconcile != tc.want {
			t.Errorf("%v %v: got exit %d interval %v (%s), want %v", tc.env, tc.args, code, cfg.Reconcile, errOut, tc.want)
		}
	}
	for env, want := range map[string]int{"": 2, "1": 1, "4": 4} {
		if code, cfg, errOut := parseRun(t, map[string]string{"JITBOT_SOCKET_CONNECTIONS": env}); code != -1 || cfg.SocketConnections != want {
			t.Errorf("JITBOT_SOCKET_CONNECTIONS=%q: got exit %d, %d connections (%s), want %d", env, code, cfg.SocketConnections, errOut, want)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		name string
	}{
		{map[string]string{"JITBOT_RECONCILE_INTERVAL": "garbage"}, nil, "JITBOT_RECONCILE_INTERVAL"},
		{map[string]string{"JITBOT_RECONCILE_INTERVAL": "-1h"}, nil, "JITBOT_RECONCILE_INTERVAL"},
		{nil, []string{"--reconcile-interval", "soon"}, "--reconcile-interval"},
		{map[string]string{"JITBOT_SOCKET_CONNECTIONS": "0"}, nil, "JITBOT_SOCKET_CONNECTIONS"},
		{map[string]string{"JITBOT_SOCKET_CONNECTIONS": "11"}, nil, "JITBOT_SOCKET_CONNECTIONS"},
		{map[string]string{"JITBOT_SOCKET_CONNECTIONS": "two"}, nil, "JITBOT_SOCKET_CONNECTIONS"},
	} {
		code, _, errOut := parseRun(t, tc.env, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.name) {
			t.Errorf("%v %v: got exit %d, stderr %q; want exit 2 naming %s", tc.env, tc.args, code, errOut, tc.name)
		}
	}
	base := map[string]string{"ATLASSIAN_SITE_URL": "https://x.atlassian.net", "ATLASSIAN_EMAIL": "a@b.c", "ATLASSIAN_API_TOKEN": "t"}
	with := func(k, v string) func(string) string {
		return func(key string) string {
			if key == k {
				return v
			}
			return base[key]
		}
	}
	if _, err := atlassianProvider(with("ATLASSIAN_TIMEOUT", "1m30s"), "jira", nil, nil); err != nil {
		t.Errorf("ATLASSIAN_TIMEOUT=1m30s: got %v, want it accepted", err)
	}
	if _, err := atlassianProvider(with("ATLASSIAN_TIMEOUT", "garbage"), "jira", nil, nil); err == nil || !strings.Contains(err.Error(), "ATLASSIAN_TIMEOUT") {
		t.Errorf("ATLASSIAN_TIMEOUT=garbage: got %v, want an error naming ATLASSIAN_TIMEOUT", err)
	}
}

// Issue 10 item 13, from the command line: the anchor of a fresh database
// verifies.
func TestIntegrity13_CLIEmptyChainAnchor(t *testing.T) {
	env := map[string]string{"JITBOT_DB": filepath.Join(t.TempDir(), "j.db")}
	db, err := store.Open(context.Background(), env["JITBOT_DB"], store.Options{}) // as jitbot run creates it
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, errOut := runCLI(t, env, "audit", "anchor")
	if code != exitOK || !strings.HasPrefix(out, "anchor 0:"+audit.GenesisHash) {
		t.Fatalf("audit anchor on a fresh database: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, env, "audit", "verify", "--anchor", "0:"+audit.GenesisHash)
	if code != exitOK || !strings.HasPrefix(out, "ok: 1 events") {
		t.Fatalf("audit verify --anchor 0:…: got exit %d, %q %q; want ok", code, out, errOut)
	}
}
