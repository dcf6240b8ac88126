package approvals

import (
	"context"
)

// Notification is what a notify job hands the Notifier: which request, and
// what happened to it since the last notification (several pending
// notifications of one request are folded into one job). The notifier reads
// the rest from the store.
type Notification struct {
	Kinds     []string // Note* constants, oldest first
	RequestID string
	JobID     int64
}

// Has reports whether the notification carries kind.
func (n Notification) Has(kind string) bool {
	for _, k := range n.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// A Notifier tells people what happened (the Slack front end). Notify must be
// idempotent per JobID: it may be called again after a crash, and after it
// returned an error made by Later. It must never wait for a rate limit or
// an outage: it returns Later instead.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Alerter is told about failures IT must look at. Optional. Alerts are
// delivered by message-lane jobs queued with the alert.raised audit event
// that records them, so an alert is never lost and never delivered from
// inside a transaction or a membership lock. Alert may return an error made
// by Later to be called again later.
type Alerter interface {
	Alert(ctx context.Context, requestID, message string) error
}

// notify queues a notification of r in the current transaction, folded
// into a notification of r that is still waiting. It is queued even when
// this process has no notifier (the CLI): the bot delivers it.
func (s *Service) notify(tx Tx, r *Request, kind string) error {
	return s.Enqueue(tx, &Job{Kind: JobNotify, Key: "request:" + r.ID, RequestID: r.ID, Note: kind, Coalesce: true})
}

// deliver performs a notify job.
func (s *Service) deliver(ctx context.Context, j *Job) error {
	if n := s.notifier.Load(); n != nil && n.n != nil {
		return n.n.Notify(ctx, Notification{Kinds: j.Notes(), RequestID: j.RequestID, JobID: j.ID})
	}
	return nil
}

// notifyFailed records that a notification could not be delivered.
func (s *Service) notifyFailed(tx Tx, j *Job, cause error) error {
	return s.RaiseAlertTx(tx, j.RequestID, "", "notification could not be delivered: "+cause.Error(),
		map[string]string{"notification": j.Note})
}

// RaiseAlertTx records an alert IT must look at in tx (an alert.raised
// audit event) and queues its delivery to the Alerter.
func (s *Service) RaiseAlertTx(tx Tx, requestID, subject, message string, data map[string]string) error {
	e := &Event{Time: s.now(), Actor: ActorSystem, Action: ActionAlert, Subject: subject, RequestID: requestID,
		Reason: message, Data: data}
	if requestID != "" {
		if r, err := tx.GetRequest(requestID); err == nil {
			e.Resource, e.Rule, e.CorrelationID = r.Resource, r.Rule, r.CorrelationID
			if e.Subject == "" {
				e.Subject = r.Requester
			}
		}
	}
	if err := tx.Append(e); err != nil {
		return err
	}
	return s.Enqueue(tx, &Job{Kind: JobAlert, Key: "alert", RequestID: requestID, Note: message})
}

// RaiseAlert records and delivers an alert outside any transaction (the
// Slack front end's own failures).
func (s *Service) RaiseAlert(ctx context.Context, requestID, message string) error {
	err := s.store.Update(ctx, func(tx Tx) error { return s.RaiseAlertTx(tx, requestID, "", message, nil) })
	if err == nil {
		s.poke()
	}
	return err
}

// deliverAlert performs an alert job.
func (s *Service) deliverAlert(ctx context.Context, j *Job) error {
	if a := s.alerter.Load(); a != nil && a.a != nil {
		return a.a.Alert(ctx, j.RequestID, j.Note)
	}
	return nil
}
