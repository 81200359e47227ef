package sqlstore

import (
	"context"
	"strings"
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
// sessions to a statement (touchesUpdate). It runs detached from any one
// caller's context so that a caller giving up does not fail the others'
// writes. Two touches of one session in a batch both get the outcome of
// the later, which is what is written, as if they had run in turn.
func (db *DB) commitTouches(batch []*touch) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type key struct{ projectID, sessionID string }
	last := make(map[key]*touch, len(batch))
	var unique []*touch
	for _, t := range batch {
		k := key{t.projectID, t.sessionID}
		if _, seen := last[k]; !seen {
			unique = append(unique, t)
		}
		last[k] = t
	}
	written := make(map[key]bool, len(unique))
	err := db.inTx(ctx, func(tx *DB) error {
		for len(unique) > 0 {
			n := min(len(unique), notesPerStatement)
			args := make([]any, 0, 4*n)
			for _, t := range unique[:n] {
				w := last[key{t.projectID, t.sessionID}]
				var expires any
				if w.expires != nil {
					expires = *w.expires
				}
				args = append(args, w.projectID, w.sessionID, w.last, expires)
			}
			unique = unique[n:]
			rows, err := tx.query(ctx, touchesUpdate(n), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k key
				if err := rows.Scan(&k.projectID, &k.sessionID); err != nil {
					rows.Close()
					return db.wrap(err)
				}
				written[k] = true
			}
			if err := rows.Close(); err != nil {
				return db.wrap(err)
			}
			if err := rows.Err(); err != nil {
				return db.wrap(err)
			}
		}
		return nil
	})
	for _, t := range batch {
		switch {
		case err != nil:
			t.err = err
		case !written[key{t.projectID, t.sessionID}]:
			t.err = store.ErrNotFound // deleted meanwhile: revocation stays immediate
		}
		close(t.done)
	}
}

// touchesUpdate is the UPDATE writing n touches, given as n quadruples of
// (project id, session id, last_accessed_at, expires_at or NULL to keep
// it) parameters; it returns the keys of the sessions it found.
func touchesUpdate(n int) string {
	var b strings.Builder
	b.WriteString(`WITH v (project_id, id, last, expires) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT))`)
	}
	b.WriteString(`) UPDATE sessions SET last_accessed_at = v.last, expires_at = COALESCE(v.expires, sessions.expires_at) FROM v
		WHERE sessions.project_id = v.project_id AND sessions.id = v.id
		RETURNING sessions.project_id, sessions.id`)
	return b.String()
}
