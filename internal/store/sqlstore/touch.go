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

// commitTouches writes one batch in one transaction, a few hundred
// sessions to a statement (rowsPerStatement). It runs detached from any one
// caller's context so that a caller giving up does not fail the others'
// writes. Two touches of one session in a batch both get the outcome of
// the later, which is what is written, as if they had run in turn.
func (db *DB) commitTouches(batch []*touch) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := make(map[accessKey]*touch, len(batch))
	var args []any // per session: project id, session id, last_accessed_at, expires_at or NULL to keep it
	for _, t := range batch {
		k := accessKey{t.projectID, t.sessionID}
		if _, seen := last[k]; !seen {
			args = append(args, t.projectID, t.sessionID, nil, nil)
		}
		last[k] = t
	}
	for i := 0; i < len(args); i += 4 {
		t := last[accessKey{args[i].(string), args[i+1].(string)}]
		args[i+2] = t.last
		if t.expires != nil {
			args[i+3] = *t.expires
		}
	}
	written := make(map[accessKey]bool, len(last))
	err := db.inTx(ctx, func(tx *DB) error {
		return inChunks(len(args)/4, func(lo, hi int) error {
			rows, err := tx.writeQuery(ctx, withValues("project_id, id, last, expires", "?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT)", hi-lo,
				`UPDATE sessions SET last_accessed_at = v.last, expires_at = COALESCE(v.expires, sessions.expires_at) FROM v
				WHERE sessions.project_id = v.project_id AND sessions.id = v.id
				RETURNING sessions.project_id, sessions.id`), args[4*lo:4*hi]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k accessKey
				if err := rows.Scan(&k.projectID, &k.sessionID); err != nil {
					return db.wrap(err)
				}
				written[k] = true
			}
			return db.wrap(rows.Err())
		})
	})
	for _, t := range batch {
		switch {
		case err != nil:
			t.err = err
		case !written[accessKey{t.projectID, t.sessionID}]:
			t.err = store.ErrNotFound // deleted meanwhile: revocation stays immediate
		}
		close(t.done)
	}
}
