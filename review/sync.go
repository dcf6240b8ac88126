package review

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"go.uber.org/zap"
)

// SyncProgress is reported after each page of a sync.
type SyncProgress struct {
	Users    int           // users stored so far
	Pages    int           // pages read so far
	Expected int           // users the previous sync saw (0: unknown), for an ETA
	Elapsed  time.Duration // since the sync started
}

// Sync reads the whole organisation directory page by page and stores, for
// every user, their profile and one activity snapshot per product for
// today. Each page is one transaction, so a sync that fails part-way keeps
// what it read. At the end, users the sync did not see are flagged gone and
// snapshots older than the retention are pruned. progress, if not nil, is
// called after each page.
func (e *Engine) Sync(ctx context.Context, progress func(SyncProgress)) (*SyncRecord, error) {
	if e.dir == nil {
		return nil, approvals.Errorf(EInvalid, "no Atlassian directory is configured: set the atlassian-admin settings (ATLASSIAN_ORG_ID, ATLASSIAN_ADMIN_API_KEY)")
	}
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	start := e.now()
	wall := e.clock.Now()
	rec := &SyncRecord{StartedAt: start}
	expected := 0
	err := e.store.UpdateReview(ctx, func(tx Tx) error {
		var err error
		if expected, err = tx.CountUsers(); err != nil {
			return err
		}
		return tx.InsertSync(rec)
	})
	if err != nil {
		return nil, err
	}
	// Pages are stored by a writer goroutine while the next page is being
	// fetched: at a rate-limited API the sync keeps pace with the limit
	// instead of adding each page's write to each request.
	pages := make(chan []DirectoryUser, 8)
	var (
		werrMu sync.Mutex
		werr   error
	)
	writerErr := func() error {
		werrMu.Lock()
		defer werrMu.Unlock()
		return werr
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		for page := range pages {
			if writerErr() != nil {
				continue
			}
			// Pages that queued up while the last write ran go in the same
			// transaction: fewer commits when the API is faster than the disk.
			batch := [][]DirectoryUser{page}
		more:
			for len(batch) < 8 {
				select {
				case p, ok := <-pages:
					if !ok {
						break more
					}
					batch = append(batch, p)
				default:
					break more
				}
			}
			err := e.store.UpdateReview(ctx, func(tx Tx) error {
				for _, p := range batch {
					n, err := tx.PutUsers(p, start)
					if err != nil {
						return err
					}
					rec.Snapshots += n
				}
				return nil
			})
			if err != nil {
				werrMu.Lock()
				werr = fmt.Errorf("store page %d: %w", rec.Pages+1, err)
				werrMu.Unlock()
				continue
			}
			for _, p := range batch {
				rec.Users += len(p)
				rec.Pages++
				if progress != nil {
					progress(SyncProgress{Users: rec.Users, Pages: rec.Pages, Expected: expected, Elapsed: e.clock.Since(wall)})
				}
			}
		}
	}()
	syncErr := e.dir.Users(ctx, func(page []DirectoryUser) error {
		if err := writerErr(); err != nil {
			return err
		}
		own := make([]DirectoryUser, len(page)) // the directory may reuse its page
		copy(own, page)
		for i := range own {
			own[i].Email = normEmail(own[i].Email)
		}
		select {
		case pages <- own:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(pages)
	<-written
	if syncErr == nil {
		syncErr = writerErr()
	}
	rec.FinishedAt = e.now()
	if syncErr != nil {
		rec.Error = syncErr.Error()
	}
	err = e.store.UpdateReview(ctx, func(tx Tx) error {
		if syncErr == nil {
			// Only a complete sync can say who is gone.
			n, err := tx.MarkGone(start)
			if err != nil {
				return err
			}
			rec.Gone = n
			if rec.Pruned, err = tx.PruneActivity(day(start).Add(-e.retention)); err != nil {
				return err
			}
		}
		if err := tx.FinishSync(rec); err != nil {
			return err
		}
		data := map[string]string{"users": strconv.Itoa(rec.Users), "pages": strconv.Itoa(rec.Pages),
			"snapshots": strconv.Itoa(rec.Snapshots), "gone": strconv.Itoa(rec.Gone), "pruned": strconv.FormatInt(rec.Pruned, 10)}
		return e.event(tx, approvals.ActorSystem, ActionSynced, "", "", rec.Error, data)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		e.log.Error("record sync", zap.Error(err))
	}
	e.log.Info("activity synced", zap.Int("users", rec.Users), zap.Int("pages", rec.Pages),
		zap.Int("gone", rec.Gone), zap.Int64("pruned", rec.Pruned), zap.Duration("took", rec.FinishedAt.Sub(start)), zap.NamedError("sync_error", syncErr))
	if syncErr != nil {
		return rec, fmt.Errorf("activity sync stopped after %d users: %w", rec.Users, syncErr)
	}
	return rec, err
}

// day returns midnight UTC of t's day: snapshots are one per user, product and day.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Day is day for the store: midnight UTC of t's day.
func Day(t time.Time) time.Time { return day(t) }
