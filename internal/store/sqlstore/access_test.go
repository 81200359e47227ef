package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// TestNotesOfManySessionsLandInBatches: flushNotes writes its notes a few
// hundred sessions to a statement; every note of a flush lands, on both
// backends, whichever statement carries it, and none moves a session's
// last_accessed_at back. (Batches of 2 here, over 7 sessions.)
func TestNotesOfManySessionsLandInBatches(t *testing.T) {
	defer func(n int) { rowsPerStatement = n }(rowsPerStatement)
	rowsPerStatement = 2
	onBothBackends(t, 7, func(t *testing.T, db *DB, p store.Project) {
		ctx := context.Background()
		want := map[string]time.Time{}
		for i := range 7 {
			id := fmt.Sprintf("session-test-%d", i)
			at := t0.Add(time.Duration(i+1) * time.Minute)
			db.NoteAccess(p.ID, id, at)
			want[id] = at
		}
		db.flushNotes()
		// And a note older than what is stored changes nothing.
		db.NoteAccess(p.ID, "session-test-0", t0)
		db.flushNotes()
		for id, at := range want {
			got, err := db.GetSession(ctx, p.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastAccessedAt.Equal(at) {
				t.Errorf("%s: last_accessed_at %v, want %v", id, got.LastAccessedAt, at)
			}
		}
	})
}

// TestABatchOfTouchesWritesEachAsIfInTurn: commitTouches writes a batch a
// few sessions to a statement (2 here); two touches of one session both
// get the outcome of the later, whose values are written; a touch without
// an expiry keeps the session's; a touch of a session deleted meanwhile is
// ErrNotFound, and fails no other.
func TestABatchOfTouchesWritesEachAsIfInTurn(t *testing.T) {
	defer func(n int) { rowsPerStatement = n }(rowsPerStatement)
	rowsPerStatement = 2
	onBothBackends(t, 4, func(t *testing.T, db *DB, p store.Project) {
		ctx := context.Background()
		if err := db.DeleteSession(ctx, p.ID, "session-test-3"); err != nil {
			t.Fatal(err)
		}
		mk := func(id string, last time.Duration, expires *time.Duration) *touch {
			x := &touch{projectID: p.ID, sessionID: id, last: ms(t0.Add(last)), done: make(chan struct{})}
			if expires != nil {
				e := ms(t0.Add(*expires))
				x.expires = &e
			}
			return x
		}
		d := func(v time.Duration) *time.Duration { return &v }
		batch := []*touch{
			mk("session-test-0", time.Minute, d(2*time.Hour)),
			mk("session-test-1", time.Minute, nil),
			mk("session-test-3", time.Minute, d(2*time.Hour)),
			mk("session-test-0", 2*time.Minute, d(3*time.Hour)),
			mk("session-test-2", 3*time.Minute, d(30*time.Minute)),
		}
		db.commitTouches(batch)
		for i, x := range batch {
			<-x.done
			want := error(nil)
			if x.sessionID == "session-test-3" {
				want = store.ErrNotFound
			}
			if x.err != want {
				t.Errorf("touch %d of %s: err %v, want %v", i, x.sessionID, x.err, want)
			}
		}
		for id, want := range map[string][2]time.Duration{
			"session-test-0": {2 * time.Minute, 3 * time.Hour},
			"session-test-1": {time.Minute, time.Hour},
			"session-test-2": {3 * time.Minute, 30 * time.Minute},
		} {
			got, err := db.GetSession(ctx, p.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastAccessedAt.Equal(t0.Add(want[0])) || !got.ExpiresAt.Equal(t0.Add(want[1])) {
				t.Errorf("%s: last_accessed_at %v expires_at %v, want %v and %v", id, got.LastAccessedAt, got.ExpiresAt, t0.Add(want[0]), t0.Add(want[1]))
			}
		}
		if _, err := db.GetSession(ctx, p.ID, "session-test-3"); err != store.ErrNotFound {
			t.Fatalf("the deleted session came back: %v", err)
		}
	})
}

// t0 is the time the sessions of these tests start at.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// onBothBackends runs fn on a fresh SQLite file and a fresh PostgreSQL
// schema, each with a project and a user holding n sessions,
// session-test-0 … session-test-<n-1>, started at t0 and ending an hour
// later.
func onBothBackends(t *testing.T, n int, fn func(t *testing.T, db *DB, p store.Project)) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			p := store.Project{ID: "project-test-batch", Name: "batch", CreatedAt: t0, LockThreshold: 10, LockTTL: time.Hour}
			if err := db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			u := store.User{ID: "user-test-batch", ProjectID: p.ID, Status: "active", CreatedAt: t0}
			if err := db.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				x := store.Session{ID: fmt.Sprintf("session-test-%d", i), ProjectID: p.ID, UserID: u.ID,
					TokenHash: []byte(fmt.Sprintf("token-%d", i)), StartedAt: t0, LastAccessedAt: t0,
					ExpiresAt: t0.Add(time.Hour), CustomClaims: json.RawMessage(`{}`)}
				if err := db.CreateSession(ctx, x); err != nil {
					t.Fatal(err)
				}
			}
			fn(t, db, p)
		})
	}
}

// TestABacklogOfExpiredSessionsIsSweptAChunkAtATime: the janitor deletes
// a backlog of expired sessions in writes of a few rows (3 here), each its
// own commit on SQLite, so that other writes go between them; it deletes
// the whole backlog and nothing live.
func TestABacklogOfExpiredSessionsIsSweptAChunkAtATime(t *testing.T) {
	defer func(n int) { sweepChunk = n }(sweepChunk)
	sweepChunk = 3
	onBothBackends(t, 10, func(t *testing.T, db *DB, p store.Project) {
		ctx := context.Background()
		for i := range 2 {
			live := store.Session{ID: fmt.Sprintf("session-test-live-%d", i), ProjectID: p.ID, UserID: "user-test-batch",
				TokenHash: []byte(fmt.Sprintf("live-%d", i)), StartedAt: t0, LastAccessedAt: t0,
				ExpiresAt: t0.Add(2 * time.Hour), CustomClaims: json.RawMessage(`{}`)}
			if err := db.CreateSession(ctx, live); err != nil {
				t.Fatal(err)
			}
		}
		commits, _ := db.GroupCommits()
		n, err := db.DeleteExpired(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 10 {
			t.Errorf("swept %d rows, want the 10 expired sessions", n)
		}
		for i := range 10 {
			if _, err := db.GetSession(ctx, p.ID, fmt.Sprintf("session-test-%d", i)); err != store.ErrNotFound {
				t.Errorf("expired session %d: %v, want it swept", i, err)
			}
		}
		for i := range 2 {
			if _, err := db.GetSession(ctx, p.ID, fmt.Sprintf("session-test-live-%d", i)); err != nil {
				t.Errorf("live session %d: %v", i, err)
			}
		}
		if c, _ := db.GroupCommits(); db.Backend() == BackendSQLite && c-commits < 4 {
			t.Errorf("%d commits for 10 rows in chunks of 3, want 4", c-commits)
		}
	})
}

// TestASessionExtendedWhileTheSweepRunsSurvivesIt: a session whose
// extension is being written when the janitor's sweep reaches it is not
// swept once the extension commits (PostgreSQL, where the two run at once).
func TestASessionExtendedWhileTheSweepRunsSurvivesIt(t *testing.T) {
	onBothBackends(t, 1, func(t *testing.T, db *DB, p store.Project) {
		if db.Backend() != BackendPostgres {
			t.Skip("SQLite's one writer runs the sweep and the extension one after the other")
		}
		ctx := context.Background()
		locked, release := make(chan struct{}), make(chan struct{})
		extended := make(chan error, 1)
		go func() {
			extended <- db.InTx(ctx, func(tx store.Store) error {
				later := t0.Add(3 * time.Hour)
				if err := tx.TouchSession(ctx, p.ID, "session-test-0", t0.Add(50*time.Minute), &later); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		swept := make(chan error, 1)
		go func() {
			_, err := db.DeleteExpired(ctx, t0.Add(time.Hour))
			swept <- err
		}()
		select {
		case err := <-swept: // it passed over the row the extension holds
			close(release)
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second): // it waits for that row: let the extension commit first
			close(release)
			if err := <-swept; err != nil {
				t.Fatal(err)
			}
		}
		if err := <-extended; err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetSession(ctx, p.ID, "session-test-0"); err != nil {
			t.Fatalf("a session extended while the sweep ran was swept: %v", err)
		}
	})
}
