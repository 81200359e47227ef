package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// committer group-commits every write to a SQLite file. SQLite has one
// writer, and with synchronous=FULL each commit waits for an fsync of the
// WAL; a login makes several writes (a send's counters and message, the
// redemption and its session), so one commit per write would cap logins
// at the disk's sync rate, with the writer idle during each sync. Instead
// one goroutine owns the writer: it takes every write (a transaction of
// InTx, or a lone statement) queued while the previous commit was syncing,
// runs each under a savepoint of one shared transaction, and commits them
// together. As in PostgreSQL's group commit, the batch forms on its own
// while the disk is busy; nothing waits for company.
//
// What each caller sees does not change:
//   - a write returns only after the commit that holds it is durable, so a
//     200 still means durable;
//   - a write that fails (its error, or a panic) rolls back to its own
//     savepoint: its neighbours in the batch commit without it;
//   - writes in a batch run in turn, each seeing the ones before it, as
//     they would have in separate transactions in that order;
//   - a caller that gives up while its write is queued takes it back; once
//     the write has started it runs to the end (a statement interrupted
//     inside a transaction would make SQLite roll back the whole batch), and
//     the caller waits for its outcome;
//   - when the commit itself fails, every write of the batch gets the error
//     and none is kept.
type committer struct {
	queue chan *writeJob
	quit  chan struct{}
	done  chan struct{}
	// mu guards closed: a write is queued under the read lock, so none
	// lands in the queue after close has drained it.
	mu     sync.RWMutex
	closed bool
	// commits counts the commits that changed rows and writes the writes
	// they held, for tests and metrics; changes is the connection's
	// total_changes() at the last commit (read by the loop only).
	commits, writes atomic.Int64
	changes         int64
}

// GroupCommits reports the commits on a SQLite file since Open that
// changed rows and the writes they held (their ratio is the mean batch);
// zero on PostgreSQL and in memory.
func (db *DB) GroupCommits() (commits, writes int64) {
	if db.commits == nil {
		return 0, 0
	}
	return db.commits.commits.Load(), db.commits.writes.Load()
}

// writeJob is one caller's write.
type writeJob struct {
	ctx   context.Context
	fn    func(*DB) error
	state atomic.Int32 // jobQueued, jobRunning or jobAbandoned
	err   error
	panic any
	done  chan struct{}
}

const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

// maxWriteBatch bounds the writes of one commit, and maxBatchWork the time
// spent running them before the commit, so that the first write of a batch
// does not wait on an unbounded queue behind it.
const maxWriteBatch = 256

var maxBatchWork = 5 * time.Millisecond // a variable for tests

// errClosed answers writes sent after Close.
var errClosed = errors.New("sqlstore: the database is closed")

func newCommitter(db *DB) *committer {
	c := &committer{queue: make(chan *writeJob, maxWriteBatch), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop(db)
	return c
}

// write runs fn in the next group commit and returns its outcome once that
// commit is durable.
func (c *committer) write(ctx context.Context, fn func(*DB) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &writeJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	select {
	case c.queue <- j:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		<-j.done // started: its outcome is coming
	}
	if j.panic != nil {
		panic(j.panic)
	}
	return j.err
}

// close stops the loop; queued writes get errClosed.
func (c *committer) close() {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if !already {
		close(c.quit)
	}
	<-c.done
}

func (c *committer) loop(db *DB) {
	defer close(c.done)
	batch := make([]*writeJob, 0, maxWriteBatch)
	for {
		select {
		case j := <-c.queue:
			batch = append(batch[:0], j)
		case <-c.quit:
			for {
				select {
				case j := <-c.queue:
					j.err = errClosed
					close(j.done)
				default:
					return
				}
			}
		}
		c.commit(db, batch)
	}
}

// commit runs batch[0] and whatever else queues meanwhile (up to the
// bounds) in one transaction and commits it.
func (c *committer) commit(db *DB, batch []*writeJob) {
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		finish(batch, db.wrap(err))
		return
	}
	// Statements met for the first time in this transaction are prepared
	// once it has let go of the connection.
	defer db.stmts.prepareWanted(ctx, db.w)
	t := *db
	t.tx = tx
	t.batched = true
	start := time.Now()
	ran := batch[:0]
	next := batch
	for {
		if len(next) == 0 && len(ran) < maxWriteBatch && time.Since(start) < maxBatchWork {
			select {
			case j := <-c.queue:
				next = append(next, j)
			default:
			}
		}
		if len(next) == 0 {
			break
		}
		j := next[0]
		next = next[1:]
		if j.ctx.Err() != nil {
			// Its caller has given up and is about to take it back.
			j.state.CompareAndSwap(jobQueued, jobAbandoned)
		}
		if !j.state.CompareAndSwap(jobQueued, jobRunning) {
			j.err = j.ctx.Err()
			close(j.done)
			continue
		}
		ran = append(ran, j)
		if broken := t.runJob(j); broken != nil {
			// The transaction is gone (SQLite rolled it back): what ran in
			// it is lost, and its callers are told so.
			tx.Rollback()
			finish(ran, broken)
			c.drainInto(db, next)
			return
		}
	}
	if len(ran) == 0 {
		tx.Rollback()
		return
	}
	// A batch that changed no row (an idle outbox poll) commits without
	// writing the file; only the others count.
	var changes int64
	if err := t.queryRow(ctx, `SELECT total_changes()`).Scan(&changes); err != nil {
		changes = -1
	}
	if err := tx.Commit(); err != nil {
		finish(ran, db.wrap(err))
		return
	}
	if changes != c.changes {
		c.changes = changes
		c.commits.Add(1)
		c.writes.Add(int64(len(ran)))
	}
	for _, j := range ran {
		close(j.done)
	}
}

// drainInto commits the jobs left over from a failed transaction in a new
// one of their own.
func (c *committer) drainInto(db *DB, rest []*writeJob) {
	if len(rest) > 0 {
		c.commit(db, append([]*writeJob(nil), rest...))
	}
}

// finish fails every job of a transaction that did not commit.
func finish(jobs []*writeJob, err error) {
	for _, j := range jobs {
		if j.err == nil && j.panic == nil {
			j.err = err
		}
		close(j.done)
	}
}

// runJob runs one job under a savepoint of the shared transaction. It
// returns an error only when the transaction itself is gone.
func (t *DB) runJob(j *writeJob) (broken error) {
	ctx := j.ctx
	if _, err := t.exec(ctx, `SAVEPOINT latch_job`); err != nil {
		return err
	}
	j.panic, j.err = callJob(j.fn, t)
	if j.err == nil && j.panic == nil {
		_, err := t.exec(ctx, `RELEASE SAVEPOINT latch_job`)
		return err
	}
	if _, err := t.exec(ctx, `ROLLBACK TO SAVEPOINT latch_job`); err != nil {
		return fmt.Errorf("%w (after the write's own error: %v)", err, j.err)
	}
	_, err := t.exec(ctx, `RELEASE SAVEPOINT latch_job`)
	return err
}

// callJob calls fn, turning a panic into a value to re-raise in the
// caller's goroutine.
func callJob(fn func(*DB) error, t *DB) (p any, err error) {
	defer func() {
		if r := recover(); r != nil {
			p = r
		}
	}()
	return nil, fn(t)
}
