package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/metrics"
	"go.uber.org/zap"
)

// defaultListen is where jitbot run serves /healthz, /readyz and /metrics.
const defaultListen = "127.0.0.1:9464"

// listenOff reports whether a JITBOT_LISTEN value turns the HTTP server
// off: off, none or - in any case (an empty --listen does too). run and
// health read it alike.
func listenOff(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "none", "-":
		return true
	}
	return false
}

// health is jitbot run's HTTP side: liveness, readiness and metrics.
type health struct {
	ln      net.Listener
	metrics *metrics.Metrics
	ready   func(ctx context.Context) error
	log     *zap.Logger
}

// openHealth listens on addr (empty: no HTTP at all). A port already taken
// stops jitbot at start-up with a sentence, not later.
func (m *Main) openHealth() error {
	if m.Bot != nil {
		m.Metrics.WatchConnected(m.Bot.Connected)
	}
	if m.Config.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.Config.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s for /healthz, /readyz and /metrics (JITBOT_LISTEN, --listen): %v; name another address, or an empty one to turn it off", m.Config.Listen, err)
	}
	m.health = &health{ln: ln, metrics: m.Metrics, ready: m.ready, log: m.Log.Named("http")}
	m.closers = append(m.closers, func() error {
		err := ln.Close()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	})
	return nil
}

// ready says why jitbot is not ready to serve, or nil: the database
// answers, a policy is loaded, and Socket Mode is connected.
func (m *Main) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var errs []error
	if m.Service == nil || m.Service.Policy() == nil {
		errs = append(errs, errors.New("no policy is loaded"))
	}
	if m.DB == nil {
		errs = append(errs, errors.New("the database is not open"))
	} else if err := m.DB.View(ctx, func(tx approvals.Tx) error {
		_, _, err := tx.NextDeadline()
		return err
	}); err != nil {
		errs = append(errs, fmt.Errorf("the database does not answer: %v", err))
	}
	if m.Bot != nil && !m.Bot.Connected() {
		errs = append(errs, errors.New("the Socket Mode connection to Slack is down"))
	}
	return errors.Join(errs...)
}

// serve answers until ctx ends.
func (h *health) serve(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := h.ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: "+strings.ReplaceAll(err.Error(), "\n", "; ")+"\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", h.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(h.ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("the /healthz server stopped: %w", err)
	}
}

// healthCommand is `jitbot health`: it asks a running jitbot's /healthz (or
// /readyz) and exits 0 when it answers 200 — the Docker HEALTHCHECK.
func (c *cli) healthCommand(args []string) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	listen := fs.String("listen", c.env("JITBOT_LISTEN", defaultListen), "the address jitbot run serves on (env JITBOT_LISTEN)")
	ready := fs.Bool("ready", false, "ask /readyz (database, policy and Slack) instead of /healthz (the process)")
	if code := c.parse(fs, args, "jitbot health [--listen ADDR] [--ready]", 0); code >= 0 {
		return code
	}
	switch {
	case *listen == "":
		return c.fail(exitUsage, "JITBOT_LISTEN is empty: jitbot run serves no /healthz to ask")
	case listenOff(*listen):
		return c.fail(exitUsage, "JITBOT_LISTEN is %s: jitbot run serves no /healthz to ask", *listen)
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + *listen + path)
	if err != nil {
		return c.fail(exitFailure, "jitbot does not answer at %s: %v", *listen, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(c.stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return exitFailure
	}
	return exitOK
}
