package bot

import (
	"context"
	"sync"
)

// MessageRef is a message the bot posted about a request, so that later
// notifications edit it instead of posting again.
type MessageRef struct {
	RequestID string
	// Role says what the message is: "requester" (the one DM per request),
	// "approver" (one card per approver), "digest" (the request is listed
	// on a page of waiting requests, TS being the page's), "page:TS" (such
	// a page, under the approver's inbox id), "home" (a published App
	// Home), or a once-only marker such as "notify:JOB" or "reminder:JOB"
	// that makes redelivery harmless.
	Role    string
	UserID  string // the Slack user the message is for
	Person  string // their directory email, when known
	Channel string
	TS      string
	Hash    string // of the content last sent; an edit that changes nothing is skipped
}

// MessageStore keeps MessageRefs durably (the SQLite store in production).
// PutMessage replaces the ref with the same request, role and channel.
type MessageStore interface {
	PutMessage(ctx context.Context, m MessageRef) error
	Messages(ctx context.Context, requestID string) ([]MessageRef, error)
	// At returns the refs that point at the message (channel, ts), in the
	// order they were first put.
	At(ctx context.Context, channel, ts string) ([]MessageRef, error)
}

// NewMemoryMessages returns a MessageStore in memory, for tests and tools.
func NewMemoryMessages() MessageStore { return &memoryMessages{m: map[string][]MessageRef{}} }

type memoryMessages struct {
	mu    sync.Mutex
	m     map[string][]MessageRef
	order []MessageRef // every ref as first put, for At
}

func (s *memoryMessages) PutMessage(_ context.Context, m MessageRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.m[m.RequestID]
	for i, x := range list {
		if x.Role == m.Role && x.Channel == m.Channel {
			list[i] = m
			for j, o := range s.order {
				if o.RequestID == m.RequestID && o.Role == m.Role && o.Channel == m.Channel {
					s.order[j] = m
				}
			}
			return nil
		}
	}
	s.m[m.RequestID] = append(list, m)
	s.order = append(s.order, m)
	return nil
}

func (s *memoryMessages) Messages(_ context.Context, requestID string) ([]MessageRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MessageRef(nil), s.m[requestID]...), nil
}

func (s *memoryMessages) At(_ context.Context, channel, ts string) ([]MessageRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MessageRef
	for _, m := range s.order {
		if m.Channel == channel && m.TS == ts {
			out = append(out, m)
		}
	}
	return out, nil
}
