package localslack

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Slack's pace for chat.postMessage (https://docs.slack.dev/apis/web-api/rate-limits):
// "generally allows posting one message per second per channel", with
// short bursts. The emulator keeps one bucket per channel (GCRA, exact on
// Options.Now); other methods are not paced, see doc.go.
const (
	defaultPostRate  = 1.0
	defaultPostBurst = 4
)

// pacer is chat.postMessage's pace in one channel: the theoretical arrival
// time of the next message under a steady pace (GCRA). A message is
// accepted while it arrives no earlier than tat minus the burst tolerance.
type pacer struct {
	tat time.Time
}

// paceLocked takes a chat.postMessage slot in channel ch. When none is
// free it reports the whole seconds, rounded up and at least 1, until one
// is: the honest Retry-After.
func (s *Server) paceLocked(ch string) (retryAfter int, ok bool) {
	if s.postInterval <= 0 {
		return 0, true
	}
	now := s.now()
	p := s.pacers[ch]
	if p == nil {
		p = &pacer{tat: now}
		s.pacers[ch] = p
	}
	tat := p.tat
	if tat.Before(now) {
		tat = now
	}
	tolerance := time.Duration(s.postBurst-1) * s.postInterval
	if wait := tat.Sub(now) - tolerance; wait > 0 {
		return ceilSeconds(wait), false
	}
	p.tat = tat.Add(s.postInterval)
	return 0, true
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

// window is a time-window fault: while Options.Now is before end, every
// call of one of methods (any method when empty) is rate limited or held.
type window struct {
	hang       bool
	methods    []string
	end        time.Time
	retryAfter int           // seconds; 0 means the time left in the window
	hold       time.Duration // wall-clock cap of one hang
}

func (w *window) matches(method string, now time.Time) bool {
	return now.Before(w.end) && (len(w.methods) == 0 || slices.Contains(w.methods, method))
}

// RateLimitFor answers every call of methods (every Web API method when
// none is given) with HTTP 429, {"ok":false,"error":"ratelimited"} and a
// Retry-After of retryAfter seconds for the next d, measured on
// Options.Now. A retryAfter of 0 or less sends the whole seconds left in
// the window instead. The calls are recorded with Injected set and do not
// take effect. Heal ends the window early.
func (s *Server) RateLimitFor(d time.Duration, retryAfter int, methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, &window{methods: slices.Clone(methods), end: s.now().Add(d), retryAfter: retryAfter})
}

// HangFor holds every call of methods (every Web API method when none is
// given) that arrives within the next d, measured on Options.Now: the
// handler answers nothing until the first of
//
//   - the window ends on Options.Now (a fake clock advanced past it),
//   - d of wall-clock time has passed since the call arrived,
//   - the client gives up (its request context is cancelled),
//   - Heal or Close.
//
// A call released by the window, the wall-clock cap or Heal is then served
// as usual (late); one whose client gave up, or released by Close, is not
// served at all and is recorded with Outcome OutcomeAbandoned. Held
// reports how many calls are being held.
func (s *Server) HangFor(d time.Duration, methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, &window{hang: true, methods: slices.Clone(methods), end: s.now().Add(d), hold: d})
}

// Heal ends every injected fault: time windows (RateLimitFor, HangFor),
// pending count faults (RateLimit, FailNext, ServerErrorNext), and releases
// every held call, which is then served. It does not reset the
// chat.postMessage pace, which is Slack's own behaviour, not a fault.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = nil
	clear(s.faults)
	s.releaseLocked()
	s.notifyLocked()
}

// releaseLocked wakes every held call.
func (s *Server) releaseLocked() {
	close(s.released)
	s.released = make(chan struct{})
}

// Held reports how many Web API calls HangFor is holding right now.
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// RateLimited counts the calls of method (of every method when method is
// "") answered with HTTP 429, whether by the chat.postMessage pace or by an
// injected fault (Call.Injected tells them apart).
func (s *Server) RateLimited(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if (method == "" || c.Method == method) && c.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

// windowFaultLocked answers a call that falls in a RateLimitFor window.
func (s *Server) windowFaultLocked(method string) (int, map[string]any, map[string]string, bool) {
	now := s.now()
	for _, w := range s.windows {
		if w.hang || !w.matches(method, now) {
			continue
		}
		ra := w.retryAfter
		if ra <= 0 {
			ra = ceilSeconds(w.end.Sub(now))
		}
		return http.StatusTooManyRequests, fail("ratelimited"), map[string]string{"Retry-After": strconv.Itoa(ra)}, true
	}
	return 0, nil, nil, false
}

// hangWindowLocked returns the HangFor window that holds a call of method
// arriving now, or nil.
func (s *Server) hangWindowLocked(method string) *window {
	now := s.now()
	for _, w := range s.windows {
		if w.hang && w.matches(method, now) {
			return w
		}
	}
	return nil
}

// hold blocks a call held by w until it is released, and reports whether
// it is to be served. It is called without s.mu held.
func (s *Server) hold(ctx context.Context, w *window, released <-chan struct{}) bool {
	limit := time.NewTimer(w.hold)
	defer limit.Stop()
	// A fake clock gives no signal when it moves: look at it often.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-released:
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			return !closed
		case <-limit.C:
			return true
		case <-tick.C:
			if !s.now().Before(w.end) {
				return true
			}
		}
	}
}
