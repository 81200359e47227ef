package sqlstore

import (
	"context"
	"strings"
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
		args := make([]any, 0, 3*min(len(batch), notesPerStatement))
		flush := func() error {
			if len(args) == 0 {
				return nil
			}
			_, err := tx.exec(ctx, notesUpdate(len(args)/3), args...)
			args = args[:0]
			return err
		}
		for k, v := range batch {
			args = append(args, k.projectID, k.sessionID, v)
			if len(args) == 3*notesPerStatement {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
}

// notesPerStatement is how many sessions one UPDATE of flushNotes writes
// (a variable for the test of the batching only):
// one statement for hundreds of sessions instead of one each, well under
// both databases' limits on parameters.
var notesPerStatement = 500

// notesUpdate is the UPDATE writing n notes, given as n triples of
// (project id, session id, last_accessed_at) parameters.
func notesUpdate(n int) string {
	var b strings.Builder
	b.WriteString(`WITH v (project_id, id, at) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, CAST(? AS BIGINT))`)
	}
	b.WriteString(`) UPDATE sessions SET last_accessed_at = v.at FROM v
		WHERE sessions.project_id = v.project_id AND sessions.id = v.id AND sessions.last_accessed_at < v.at`)
	return b.String()
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
