package sqlstore

import (
	"context"
	"sync"
	"time"
)

// accessNotes coalesces NoteAccess calls: a map of the newest
// last_accessed_at per session, written in one transaction at most every
// accessFlushDelay. sessions/authenticate without a new expiry then costs
// no write of its own: on SQLite no fsync per request, on PostgreSQL no
// commit per request.
type accessNotes struct {
	mu        sync.Mutex
	pending   map[accessKey]int64
	scheduled bool
	flushing  sync.WaitGroup
	closed    bool
}

type accessKey struct{ projectID, sessionID string }

func newAccessNotes() *accessNotes { return &accessNotes{pending: map[accessKey]int64{}} }

// accessFlushDelay is how long a note may wait before it is written.
const accessFlushDelay = 500 * time.Millisecond

// NoteAccess implements store.Store.
func (db *DB) NoteAccess(projectID, sessionID string, at time.Time) {
	n := db.notes
	v := ms(at)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	k := accessKey{projectID, sessionID}
	if old, ok := n.pending[k]; !ok || v > old {
		n.pending[k] = v
	}
	if !n.scheduled {
		n.scheduled = true
		n.flushing.Add(1)
		time.AfterFunc(accessFlushDelay, func() {
			defer n.flushing.Done()
			db.flushNotes()
		})
	}
}

// flushNotes writes the pending notes. A note for a session deleted
// meanwhile changes nothing.
func (db *DB) flushNotes() {
	n := db.notes
	n.mu.Lock()
	batch := n.pending
	n.pending = make(map[accessKey]int64, len(batch))
	n.scheduled = false
	n.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = db.inTx(ctx, func(tx *DB) error {
		for k, v := range batch {
			if _, err := tx.exec(ctx, `UPDATE sessions SET last_accessed_at = ?
				WHERE project_id = ? AND id = ? AND last_accessed_at < ?`, v, k.projectID, k.sessionID, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// closeNotes writes what is pending and stops taking notes.
func (db *DB) closeNotes() {
	n := db.notes
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.flushing.Wait()
	db.flushNotes()
}
