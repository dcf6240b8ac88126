package store

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Work another process queues — the CLI's review run, grants revoke, users
// restore — is announced to the running bot, so that it takes it at once
// instead of at its next poll: after each write it commits, a process
// opened with Options.Announce touches PATH.wake, and the bot (Exclusive)
// watches that file (WatchWork).

// wakeFile is the file a database's announcements touch.
func wakeFile(path string) string { return path + ".wake" }

// announce tells a running bot that this process committed a write.
func (db *DB) announce() {
	if db.announces {
		// Best effort: the bot's poll finds the work anyway.
		_ = os.WriteFile(wakeFile(db.path), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600)
	}
}

// WatchWork calls wake once it watches, then whenever another process
// announces a write, until ctx ends (approvals.WorkWatcher). Only the
// process that works the database (Exclusive) watches; for the others it
// returns at once.
func (db *DB) WatchWork(ctx context.Context, wake func()) error {
	if db.lock == nil {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	// The folder, not the file: the file may not exist yet, and an editor
	// or a copy may replace it.
	if err := w.Add(filepath.Dir(db.path)); err != nil {
		return err
	}
	name := filepath.Clean(wakeFile(db.path))
	wake() // anything announced while nobody watched
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create) != 0 {
				wake()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return err
		}
	}
}
