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
	args := make([]any, 0, 3*len(batch))
	for k, v := range batch {
		args = append(args, k.projectID, k.sessionID, v)
	}
	_ = db.inTx(ctx, func(tx *DB) error {
		return inChunks(len(batch), func(lo, hi int) error {
			_, err := tx.exec(ctx, withValues("project_id, id, at", "?, ?, CAST(? AS BIGINT)", hi-lo,
				`UPDATE sessions SET last_accessed_at = v.at FROM v
				WHERE sessions.project_id = v.project_id AND sessions.id = v.id AND sessions.last_accessed_at < v.at`),
				args[3*lo:3*hi]...)
			return err
		})
	})
}

// rowsPerStatement is how many sessions one batched UPDATE (flushNotes,
// commitTouches) writes: hundreds to a statement instead of one each, well
// under both databases' limits on parameters. A variable for the tests of
// the batching only.
var rowsPerStatement = 500

// inChunks calls fn on [lo, hi) ranges of at most rowsPerStatement of n
// rows, in order, until one fails.
func inChunks(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += rowsPerStatement {
		if err := fn(lo, min(lo+rowsPerStatement, n)); err != nil {
			return err
		}
	}
	return nil
}

// withValues prefixes stmt with a table v (cols) of n rows of the
// placeholders row: `WITH v (cols) AS (VALUES (row), (row), …) stmt`.
func withValues(cols, row string, n int, stmt string) string {
	var b strings.Builder
	b.WriteString("WITH v (" + cols + ") AS (VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + row + ")")
	}
	b.WriteString(") " + stmt)
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
