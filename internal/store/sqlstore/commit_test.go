package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// openFile opens and migrates a fresh SQLite file with one project.
func openFile(t *testing.T) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := store.Project{ID: "project-test-commit", Name: "commit", LockThreshold: 10}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	return db, p.ID
}

// holdWriter queues a write that keeps the writer busy until release is
// called, and returns once it runs.
func holdWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started, free := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(context.Background(), func(store.Store) error {
			close(started)
			<-free
			return nil
		})
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(free)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release) // a test that stops early fails instead of hanging
	return release
}

// longBatches lifts the batch's time budget for the test, until its
// database has closed (cleanups run last-registered first).
func longBatches(t *testing.T) {
	d := maxBatchWork
	t.Cleanup(func() { maxBatchWork = d })
	maxBatchWork = time.Minute
}

// waitQueued waits until n writes wait for the writer.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(db.commits.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(db.commits.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func hits(t *testing.T, db *DB, pid, key string) int {
	t.Helper()
	var n int
	err := db.r.QueryRow(`SELECT COALESCE(SUM(hits), 0) FROM rate_limits WHERE project_id = ? AND bucket = ?`, pid, key).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWritesThatArriveTogetherShareOneCommit(t *testing.T) {
	// Fifty writes take longer than the batch's budget under -race; the
	// budget is not what this test is about.
	longBatches(t)
	db, pid := openFile(t)
	ctx := context.Background()
	release := holdWriter(t, db)
	before := db.commits.commits.Load()
	const writers = 50
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if _, err := db.CountHit(ctx, pid, "k", time.Unix(int64(i), 0)); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, db, writers)
	release()
	wg.Wait()
	if got := db.commits.commits.Load() - before; got > 2 {
		t.Errorf("%d commits for the held write and %d queued ones, want at most 2", got, writers)
	}
	if n := hits(t, db, pid, "k"); n != writers {
		t.Errorf("%d hits durable, want %d", n, writers)
	}
}

func TestAFailedWriteLeavesItsBatchNeighboursCommitted(t *testing.T) {
	// One batch, however slow the machine: the budget is not what this
	// test is about.
	longBatches(t)
	db, pid := openFile(t)
	release := holdWriter(t, db)
	window := time.Unix(0, 0)
	count := func(key string) func(store.Store) error {
		return func(s store.Store) error {
			_, err := s.CountHit(context.Background(), pid, key, window)
			return err
		}
	}
	errRefused := errors.New("refused after writing")
	var wg sync.WaitGroup
	results := map[string]error{}
	var mu sync.Mutex
	run := func(name string, ctx context.Context, fn func(store.Store) error) {
		wg.Go(func() {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						err = errors.New("panicked")
					}
				}()
				err = db.InTx(ctx, fn)
			}()
			mu.Lock()
			results[name] = err
			mu.Unlock()
		})
	}
	run("ok-before", context.Background(), count("ok-before"))
	waitQueued(t, db, 1)
	run("fails", context.Background(), func(s store.Store) error {
		if err := count("fails")(s); err != nil {
			return err
		}
		return errRefused
	})
	waitQueued(t, db, 2)
	run("panics", context.Background(), func(s store.Store) error {
		if err := count("panics")(s); err != nil {
			return err
		}
		panic("a bug in a write")
	})
	waitQueued(t, db, 3)
	gone, giveUp := context.WithCancel(context.Background())
	run("abandoned", gone, count("abandoned"))
	waitQueued(t, db, 4)
	giveUp()
	// The caller who gave up while queued has its answer before the
	// writer is free.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		_, answered := results["abandoned"]
		mu.Unlock()
		if answered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a caller who gave up while queued is still waiting")
		}
		time.Sleep(time.Millisecond)
	}
	run("ok-after", context.Background(), count("ok-after"))
	waitQueued(t, db, 5)
	before := db.commits.commits.Load()
	release()
	wg.Wait()
	if got := db.commits.commits.Load() - before; got > 2 {
		t.Errorf("%d commits, want at most 2 (the held write's and the batch's)", got)
	}
	want := map[string]struct {
		err  error
		hits int
	}{
		"ok-before": {nil, 1},
		"fails":     {errRefused, 0},
		"panics":    {errors.New("panicked"), 0},
		"abandoned": {context.Canceled, 0},
		"ok-after":  {nil, 1},
	}
	for name, w := range want {
		err := results[name]
		switch {
		case w.err == nil && err != nil, w.err != nil && err == nil,
			w.err != nil && !errors.Is(err, w.err) && err.Error() != w.err.Error():
			t.Errorf("%s: error %v, want %v", name, err, w.err)
		}
		if n := hits(t, db, pid, name); n != w.hits {
			t.Errorf("%s: %d hits durable, want %d", name, n, w.hits)
		}
	}
}

func TestACallerGivingUpMidWriteDoesNotUndoItsBatch(t *testing.T) {
	db, pid := openFile(t)
	release := holdWriter(t, db)
	window := time.Unix(0, 0)
	var wg sync.WaitGroup
	ctx, giveUp := context.WithCancel(context.Background())
	var midErr error
	wg.Go(func() {
		midErr = db.InTx(ctx, func(s store.Store) error {
			if _, err := s.CountHit(ctx, pid, "mid", window); err != nil {
				return err
			}
			giveUp() // the client hangs up between two statements
			_, err := s.CountHit(ctx, pid, "mid", window)
			return err
		})
	})
	waitQueued(t, db, 1)
	var neighbourErr error
	wg.Go(func() {
		_, neighbourErr = db.CountHit(context.Background(), pid, "neighbour", window)
	})
	waitQueued(t, db, 2)
	release()
	wg.Wait()
	if midErr != nil {
		t.Errorf("the write that had started: %v, want it to run to the end", midErr)
	}
	if neighbourErr != nil {
		t.Errorf("its neighbour: %v", neighbourErr)
	}
	if n := hits(t, db, pid, "mid"); n != 2 {
		t.Errorf("mid: %d hits durable, want 2", n)
	}
	if n := hits(t, db, pid, "neighbour"); n != 1 {
		t.Errorf("neighbour: %d hits durable, want 1", n)
	}
}

func TestWritesAfterCloseAreRefused(t *testing.T) {
	db, pid := openFile(t)
	db.Close()
	refused := make(chan error, 1)
	go func() {
		_, err := db.CountHit(context.Background(), pid, "k", time.Unix(0, 0))
		refused <- err
	}()
	select {
	case err := <-refused:
		if !errors.Is(err, errClosed) {
			t.Fatalf("write after Close: %v, want %v", err, errClosed)
		}
	case <-time.After(10 * time.Second): // a regression waits forever: fail instead
		t.Fatal("a write after Close is still waiting for the closed writer")
	}
}

// TestAReadWaitingForTheOnlyConnectionDoesNotStallTheTransactionHoldingIt:
// on an in-memory database one connection serves reads and writes. A read
// of a shape not prepared yet waits for that connection while a
// transaction holds it; the transaction's own statements must still run.
func TestAReadWaitingForTheOnlyConnectionDoesNotStallTheTransactionHoldingIt(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() { // a stalled connection would hang Close too
			db.Close()
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := store.Project{ID: "project-test-memory", Name: "memory", LockThreshold: 10}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	inTx, proceed := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- db.InTx(ctx, func(s store.Store) error {
			close(inTx)
			<-proceed
			_, err := s.GetProject(ctx, p.ID)
			return err
		})
	}()
	<-inTx
	waits := db.w.Stats().WaitCount
	go db.GetUser(ctx, p.ID, "user-test-nobody") // a statement not prepared yet
	for deadline := time.Now().Add(10 * time.Second); db.w.Stats().WaitCount == waits; {
		if time.Now().After(deadline) {
			t.Fatal("the read never waited for the connection")
		}
		time.Sleep(time.Millisecond)
	}
	close(proceed)
	select {
	case err := <-txDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the transaction is stalled behind a read waiting for its connection")
	}
}

// TestStatementsThatGrowWithTheirInputStayOutOfTheCache: touches of many
// sessions at once are written with a statement per batch size; the large
// ones are not kept prepared, so they cannot crowd the fixed ones out.
func TestStatementsThatGrowWithTheirInputStayOutOfTheCache(t *testing.T) {
	db, pid := openFile(t)
	ctx := context.Background()
	cached := func() int {
		db.stmts.mu.RLock()
		defer db.stmts.mu.RUnlock()
		return len(db.stmts.m[db.w])
	}
	before := cached()
	for n := 1; n <= 100; n++ {
		var args []any
		for i := range n {
			args = append(args, pid, fmt.Sprintf("session-%d", i), 0)
		}
		err := db.inTx(ctx, func(tx *DB) error {
			_, err := tx.exec(ctx, withValues("project_id, id, at", "?, ?, CAST(? AS BIGINT)", n,
				`UPDATE sessions SET last_accessed_at = v.at FROM v WHERE sessions.project_id = v.project_id AND sessions.id = v.id`),
				args...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if grew := cached() - before; grew > maxCachedParams/3+5 {
		t.Fatalf("the writer's cache grew by %d statements for 100 batch sizes, want at most the %d small ones and a few fixed ones (savepoints)", grew, maxCachedParams/3)
	}
}

// TestAnIdlePollIsNotCountedAsACommit: a write that changes no row (the
// outbox sender's poll when nothing is due) writes nothing to the file, and
// the commit counter, which tells the mean batch, leaves it out.
func TestAnIdlePollIsNotCountedAsACommit(t *testing.T) {
	db, pid := openFile(t)
	ctx := context.Background()
	commits, writes := db.GroupCommits()
	now := time.Now()
	if ms, err := db.ClaimMessages(ctx, now, now.Add(time.Minute), 10); err != nil || len(ms) != 0 {
		t.Fatalf("claim with nothing due: %v %v", ms, err)
	}
	if c, w := db.GroupCommits(); c != commits || w != writes {
		t.Fatalf("an idle poll moved the counters: commits %d → %d, writes %d → %d", commits, c, writes, w)
	}
	if _, err := db.CountHit(ctx, pid, "k", time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if c, w := db.GroupCommits(); c != commits+1 || w != writes+1 {
		t.Fatalf("a write: commits %d → %d, writes %d → %d, want one more of each", commits, c, writes, w)
	}
}
