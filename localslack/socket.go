package localslack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxAckSize is Slack's limit for a Socket Mode response: larger ones are
// silently dropped.
const maxAckSize = 20 * 1024

// wsConn is one Socket Mode websocket.
type wsConn struct {
	id        int
	ws        *websocket.Conn
	wmu       sync.Mutex    // gorilla allows one concurrent writer
	done      chan struct{} // closed when the reader stops
	closeOnce sync.Once
	closing   bool // guarded by Server.mu: told to disconnect, gets no envelopes
}

func (c *wsConn) write(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// close sends a close frame and closes the connection.
func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
}

// drop closes the TCP connection without a websocket close frame.
func (c *wsConn) drop() { _ = c.ws.NetConn().Close() }

type pendingEnvelope struct {
	ch chan ackMsg
}

type ackMsg struct {
	payload json.RawMessage
	at      time.Time
}

type sentEvent struct {
	payload  map[string]any
	attempts int
}

var upgrader = websocket.Upgrader{
	// slack-go sends Origin: https://api.slack.com.
	CheckOrigin: func(*http.Request) bool { return true },
}

func (s *Server) handleSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	ok := s.tickets[ticket] && !s.closed
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !ok {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	ws.SetPongHandler(func(string) error {
		s.pongs.Add(1)
		return nil
	})

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.connTotal++
	c.id = s.connTotal
	open := 1
	for _, o := range s.conns {
		if !o.closing {
			open++
		}
	}
	s.wg.Add(2) // reader (this goroutine) and pinger
	s.mu.Unlock()
	defer s.wg.Done()

	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": open,
		"debug_info": map[string]any{
			"host": "applink-localslack", "build_number": 1, "approximate_connection_time": 18060,
		},
		"connection_info": map[string]any{"app_id": s.opts.AppID},
	})
	// The first ping follows hello at once, before any envelope.
	err = c.write(hello)
	if err == nil {
		err = c.ping(1)
	}
	if err != nil {
		s.wg.Done()
		_ = ws.Close()
		return
	}
	// Registered only after hello, so no envelope can overtake it.
	s.mu.Lock()
	s.conns = append(s.conns, c)
	closed := s.closed
	s.notifyLocked()
	s.mu.Unlock()
	if closed {
		c.close()
	}
	go s.pingLoop(c)

	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			break
		}
		s.handleFrame(data)
	}
	s.mu.Lock()
	s.conns = slices.DeleteFunc(s.conns, func(o *wsConn) bool { return o == c })
	s.notifyLocked()
	s.mu.Unlock()
	_ = ws.Close()
	close(c.done)
}

// ping sends a websocket ping.
func (c *wsConn) ping(n int) error {
	return c.ws.WriteControl(websocket.PingMessage, []byte(strconv.Itoa(n)), time.Now().Add(time.Second))
}

// pingLoop pings the client every PingInterval, as Slack does; slack-go
// drops a connection that hears no ping for 30s.
func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for n := 2; ; n++ {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ping(n); err != nil {
				return
			}
		}
	}
}

// handleFrame matches an ack to its envelope.
func (s *Server) handleFrame(data []byte) {
	at := time.Now()
	var f struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := json.Unmarshal(data, &f); err != nil || f.EnvelopeID == "" {
		s.violationLocked(ViolationProtocol, "socket", fmt.Sprintf("frame is not an ack: %.200s", data), false)
		return
	}
	if len(data) >= maxAckSize {
		s.violationLocked(ViolationProtocol, "socket", fmt.Sprintf("ack for %s is %d bytes; Slack drops acks of 20KB or more", f.EnvelopeID, len(data)), false)
		return
	}
	p, ok := s.pending[f.EnvelopeID]
	if !ok {
		msg := fmt.Sprintf("ack for unknown envelope %s", f.EnvelopeID)
		if s.acked[f.EnvelopeID] {
			msg = fmt.Sprintf("duplicate ack for envelope %s", f.EnvelopeID)
		}
		s.violationLocked(ViolationProtocol, "socket", msg, false)
		return
	}
	delete(s.pending, f.EnvelopeID)
	s.acked[f.EnvelopeID] = true
	if string(f.Payload) == "null" {
		f.Payload = nil
	}
	p.ch <- ackMsg{payload: f.Payload, at: at}
}

// waitConn returns the newest usable connection, waiting until deadline.
func (s *Server) waitConn(deadline time.Time) (*wsConn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errors.New("localslack: server closed")
		}
		var c *wsConn
		for i := len(s.conns) - 1; i >= 0; i-- {
			if !s.conns[i].closing {
				c = s.conns[i]
				break
			}
		}
		if s.opts.Spread && c != nil {
			open := slices.DeleteFunc(slices.Clone(s.conns), func(o *wsConn) bool { return o.closing })
			c = open[s.spreadN%len(open)]
			s.spreadN++
		}
		ch := s.changed
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, ErrNoConnection
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// send delivers an envelope and waits for its ack. meta carries the ids the
// returned Ack should report.
func (s *Server) send(typ string, payload any, extra map[string]any, meta Ack) (Ack, error) {
	s.mu.Lock()
	id := fmt.Sprintf("%s-%s-%s-%s-%s", s.randHexLocked(8), s.randHexLocked(4), s.randHexLocked(4), s.randHexLocked(4), s.randHexLocked(12))
	s.mu.Unlock()
	env := map[string]any{
		"envelope_id":              id,
		"type":                     typ,
		"payload":                  payload,
		"accepts_response_payload": typ != "events_api",
	}
	for k, v := range extra {
		env[k] = v
	}
	data, err := json.Marshal(env)
	if err != nil {
		return Ack{}, fmt.Errorf("localslack: encode %s envelope: %w", typ, err)
	}
	deadline := time.Now().Add(s.opts.ReconnectWait)
	for {
		c, err := s.waitConn(deadline)
		if err != nil {
			return Ack{}, fmt.Errorf("%s envelope %s: %w", typ, id, err)
		}
		p := &pendingEnvelope{ch: make(chan ackMsg, 1)}
		s.mu.Lock()
		s.pending[id] = p
		s.mu.Unlock()
		sent := time.Now()
		if err := c.write(data); err != nil {
			// The socket died under us: try the next connection.
			s.mu.Lock()
			delete(s.pending, id)
			s.mu.Unlock()
			c.drop()
			continue
		}
		got, err := s.awaitAck(c, p)
		s.mu.Lock()
		if err != nil {
			delete(s.pending, id)
			s.unacked = append(s.unacked, id)
			s.notifyLocked()
			s.mu.Unlock()
			return Ack{}, fmt.Errorf("%s envelope %s: %w", typ, id, err)
		}
		ack := meta
		ack.EnvelopeID = id
		ack.Type = typ
		ack.Payload = got.payload
		ack.Latency = got.at.Sub(sent)
		ack.Conn = c.id
		ack.At = s.now()
		s.acks = append(s.acks, ack)
		s.notifyLocked()
		s.mu.Unlock()
		return ack, nil
	}
}

// awaitAck waits for the ack of p, sent on c.
func (s *Server) awaitAck(c *wsConn, p *pendingEnvelope) (ackMsg, error) {
	timer := time.NewTimer(s.opts.AckTimeout)
	defer timer.Stop()
	select {
	case got := <-p.ch:
		return got, nil
	case <-c.done:
		select {
		case got := <-p.ch:
			return got, nil
		default:
			return ackMsg{}, fmt.Errorf("socket closed before the ack: %w", ErrNoAck)
		}
	case <-timer.C:
		return ackMsg{}, fmt.Errorf("no ack within %s: %w", s.opts.AckTimeout, ErrNoAck)
	}
}

// Disconnect sends {"type":"disconnect","reason":reason} on every open
// socket and, unless reason is "warning", closes each one a moment later
// if the app has not closed it first, as Slack does before a refresh.
// Envelopes sent afterwards wait for the app to reconnect.
func (s *Server) Disconnect(reason string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrNoConnection
	}
	var conns []*wsConn
	for _, c := range s.conns {
		if !c.closing {
			conns = append(conns, c)
			if reason != "warning" {
				c.closing = true
			}
		}
	}
	if len(conns) > 0 && reason != "warning" {
		s.wg.Add(len(conns))
	}
	s.notifyLocked()
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	msg, _ := json.Marshal(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "applink-localslack"},
	})
	for _, c := range conns {
		_ = c.write(msg)
		if reason == "warning" {
			continue
		}
		go func(c *wsConn) {
			defer s.wg.Done()
			t := time.NewTimer(time.Second)
			defer t.Stop()
			select {
			case <-c.done:
			case <-t.C:
			}
			c.close()
		}(c)
	}
	return nil
}

// DropSocket closes every open socket's TCP connection without a
// websocket close frame, like a network failure.
func (s *Server) DropSocket() error {
	s.mu.Lock()
	conns := slices.Clone(s.conns)
	for _, c := range conns {
		c.closing = true
	}
	s.notifyLocked()
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	for _, c := range conns {
		c.drop()
	}
	return nil
}

// Connections returns how many socket connections were accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connTotal
}

// OpenConnections returns how many sockets are open and not told to
// disconnect.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		if !c.closing {
			n++
		}
	}
	return n
}

// WaitConnections waits until at least n connections were accepted and one
// is open, and reports whether that happened within timeout.
func (s *Server) WaitConnections(n int, timeout time.Duration) bool {
	return s.WaitFor(timeout, func() bool { return s.Connections() >= n && s.OpenConnections() > 0 })
}

// Pongs returns how many pong frames the app answered to the emulator's
// pings.
func (s *Server) Pongs() int { return int(s.pongs.Load()) }

// Unacked returns the envelope ids that were never acknowledged.
func (s *Server) Unacked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.unacked)
}
