package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// toucher group-commits session touches on SQLite. Every
// sessions/authenticate writes last_accessed_at (and, with a duration, a
// new expiry); with synchronous=FULL each commit is an fsync, so one commit
// per request would cap throughput at the disk's sync rate. Instead the
// first caller to arrive becomes the leader and commits everything queued
// in one transaction, while later callers queue for the next batch. Each
// caller still returns only after its own write is durable, so a 200 keeps
// meaning durable, and a touch of a session deleted meanwhile still reports
// ErrNotFound (revocation stays immediate).
type toucher struct {
	mu      sync.Mutex
	pending []*touch
	leading bool
}

type touch struct {
	projectID, sessionID string
	last                 int64
	expires              *int64
	err                  error
	done                 chan struct{}
}

// maxTouchBatch bounds one transaction.
const maxTouchBatch = 512

func (db *DB) groupTouch(ctx context.Context, projectID, sessionID string, last time.Time, expiresAt *time.Time) error {
	t := &touch{projectID: projectID, sessionID: sessionID, last: ms(last), done: make(chan struct{})}
	if expiresAt != nil {
		e := ms(*expiresAt)
		t.expires = &e
	}
	tc := db.touches
	tc.mu.Lock()
	tc.pending = append(tc.pending, t)
	lead := !tc.leading
	if lead {
		tc.leading = true
	}
	tc.mu.Unlock()
	if !lead {
		select {
		case <-t.done:
			return t.err
		case <-ctx.Done():
			// The write may still commit with its batch; the caller gives up.
			return db.wrap(ctx.Err())
		}
	}
	for {
		tc.mu.Lock()
		batch := tc.pending
		if len(batch) > maxTouchBatch {
			batch = batch[:maxTouchBatch]
		}
		tc.pending = tc.pending[len(batch):]
		if len(batch) == 0 {
			tc.leading = false
			tc.mu.Unlock()
			break
		}
		tc.mu.Unlock()
		db.commitTouches(batch)
	}
	<-t.done
	return t.err
}

// commitTouches writes one batch in one transaction. It runs detached from
// any one caller's context so that a caller giving up does not fail the
// others' writes.
func (db *DB) commitTouches(batch []*touch) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := db.inTx(ctx, func(tx *DB) error {
		for _, t := range batch {
			if t.expires == nil {
				t.err = tx.execOne(ctx, `UPDATE sessions SET last_accessed_at = ? WHERE project_id = ? AND id = ?`,
					t.last, t.projectID, t.sessionID)
			} else {
				t.err = tx.execOne(ctx, `UPDATE sessions SET last_accessed_at = ?, expires_at = ? WHERE project_id = ? AND id = ?`,
					t.last, *t.expires, t.projectID, t.sessionID)
			}
			if t.err != nil && t.err != store.ErrNotFound {
				return t.err
			}
		}
		return nil
	})
	for _, t := range batch {
		if err != nil {
			t.err = err
		}
		close(t.done)
	}
}
