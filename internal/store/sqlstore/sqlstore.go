// Package sqlstore implements store.Store over database/sql for SQLite
// (modernc.org/sqlite) and PostgreSQL (pgx). Queries are written once with
// "?" placeholders; a small dialect covers the differences.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/latch-auth/latch/internal/store"
)

// Backend names returned by (*DB).Backend.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// dialect holds what differs between the two databases.
type dialect struct {
	name string
	// dollar rewrites "?" placeholders to "$1, $2, …".
	dollar bool
	// skipLocked is appended to row-locking subqueries when supported.
	skipLocked string
}

var (
	sqliteDialect   = dialect{name: BackendSQLite}
	postgresDialect = dialect{name: BackendPostgres, dollar: true, skipLocked: " FOR UPDATE SKIP LOCKED"}
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is a store.Store over a SQL database. A DB returned by Open is safe for
// concurrent use; the copy handed to an InTx callback is bound to one
// transaction.
type DB struct {
	d dialect
	w *sql.DB // writes and transactions (SQLite: one connection)
	r *sql.DB // reads (SQLite: a pool of read-only connections; PostgreSQL: == w)
	// tx is set on the copy passed to an InTx callback.
	tx *sql.Tx
	// touches group-commits TouchSession on SQLite (nil on PostgreSQL).
	touches *toucher
	// stmts caches prepared statements on SQLite (nil on PostgreSQL).
	stmts *stmtCache
	// notes coalesces NoteAccess writes (shared by transactional copies).
	notes *accessNotes
	// commits group-commits every write on a SQLite file (nil on
	// PostgreSQL and in memory).
	commits *committer
	// batched is set on the copy bound to a group commit's transaction:
	// its statements run to the end even when their caller gives up.
	batched bool
}

var _ store.Store = (*DB)(nil)

// Open connects to the database named by rawURL:
//
//	sqlite:path/to/file.db, sqlite://path/to/file.db, file:path/to/file.db
//	postgres://user@host:5432/db?sslmode=disable[&search_path=s][&pool_max_conns=20]
//
// PostgreSQL URLs may also set pool_max_conn_lifetime and
// pool_max_conn_idle_time (Go durations); other parameters go to pgx, which
// sends the ones it does not know (search_path, …) to the server.
//
// For SQLite the file's folder must exist; "sqlite::memory:"
// is a private in-memory database on one connection, for tests. Open does
// not migrate; call Migrate.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL)
	case strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		return openSQLite(ctx, rawURL)
	default:
		return nil, fmt.Errorf("sqlstore: unsupported database url %q (want sqlite:path or postgres://…)", redact(rawURL))
	}
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// SQLitePath is the file of a SQLite database URL (sqlite:PATH,
// sqlite://PATH, file:PATH or file://PATH; a ?query is dropped). ok is
// false for other URLs and for sqlite::memory:.
func SQLitePath(rawURL string) (path string, ok bool) {
	path, _, ok = parseSQLiteURL(rawURL)
	if !ok || path == "" || path == ":memory:" {
		return "", false
	}
	return path, true
}

// parseSQLiteURL splits a SQLite URL into its path and its query: the one
// place the forms SQLitePath lists are read.
func parseSQLiteURL(rawURL string) (path, query string, ok bool) {
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, found := strings.CutPrefix(rawURL, p); found {
			path, query, _ = strings.Cut(rest, "?")
			return path, query, true
		}
	}
	return "", "", false
}

func openSQLite(ctx context.Context, rawURL string) (*DB, error) {
	path, extra, _ := parseSQLiteURL(rawURL)
	if path == "" {
		return nil, fmt.Errorf("sqlstore: empty sqlite path in %q", rawURL)
	}
	memory := path == ":memory:"
	if !memory {
		// A mistyped path is not created with all its folders: the folder
		// must exist.
		if dir := filepath.Dir(path); dir != "." {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("sqlstore: the folder %s of the SQLite database %s does not exist", dir, path)
			}
		}
	}
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	writerDSN := path + "?" + common + "&_pragma=journal_mode(WAL)&_txlock=immediate"
	readerDSN := path + "?" + common + "&_pragma=query_only(1)"
	if extra != "" {
		writerDSN += "&" + extra
		readerDSN += "&" + extra
	}
	w, err := sql.Open("sqlite", writerDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{d: sqliteDialect, w: w, r: w, touches: &toucher{}, stmts: newStmtCache(), notes: newAccessNotes()}
	// The writer connects first so that the file exists in WAL mode before
	// any reader opens it. Switching a new file to WAL takes an exclusive
	// lock, and SQLite answers SQLITE_BUSY at once (without its busy
	// handler) to a second process doing the same at that moment, as a CLI
	// command and a server starting together on a new file do: retry for
	// as long as busy_timeout would have waited.
	err = w.PingContext(ctx)
	for wait, deadline := 5*time.Millisecond, time.Now().Add(10*time.Second); err != nil && isBusy(err) && time.Now().Before(deadline); wait = min(2*wait, 200*time.Millisecond) {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		err = w.PingContext(ctx)
	}
	if err != nil {
		w.Close()
		return nil, db.wrap(fmt.Errorf("sqlstore: open sqlite %s: %w", path, err))
	}
	if memory {
		// A private in-memory database lives in one connection.
		return db, nil
	}
	r, err := sql.Open("sqlite", readerDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.r = r
	db.commits = newCommitter(db)
	return db, nil
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: parse postgres url: %w", err)
	}
	maxConns := 20
	var lifetime, idleTime time.Duration
	q := u.Query()
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("sqlstore: invalid pool_max_conns %q", v)
		}
		maxConns = n
	}
	for key, d := range map[string]*time.Duration{"pool_max_conn_lifetime": &lifetime, "pool_max_conn_idle_time": &idleTime} {
		if v := q.Get(key); v != "" {
			if *d, err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("sqlstore: invalid %s %q", key, v)
			}
		}
	}
	// pgx would send unknown parameters to the server as settings; the
	// pool_* ones (pgxpool's names) are ours. search_path and the like go
	// through to the server.
	for key := range q {
		if strings.HasPrefix(key, "pool_") {
			q.Del(key)
		}
	}
	u.RawQuery = q.Encode()

	w, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	w.SetMaxOpenConns(maxConns)
	w.SetMaxIdleConns(maxConns)
	w.SetConnMaxLifetime(lifetime)
	w.SetConnMaxIdleTime(idleTime)
	db := &DB{d: postgresDialect, w: w, r: w, notes: newAccessNotes()}
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, db.wrap(fmt.Errorf("sqlstore: connect to postgres %s: %w", u.Redacted(), err))
	}
	return db, nil
}

// Backend returns "sqlite" or "postgres".
func (db *DB) Backend() string { return db.d.name }

// SQL returns the underlying writer pool, for tools and tests.
func (db *DB) SQL() *sql.DB { return db.w }

// Ping checks the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if db.tx != nil {
		// The transaction holds the (SQLite: only) writer connection.
		var one int
		return db.wrap(db.tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one))
	}
	if err := db.w.PingContext(ctx); err != nil {
		return db.wrap(err)
	}
	if db.r != db.w {
		if err := db.r.PingContext(ctx); err != nil {
			return db.wrap(err)
		}
	}
	return nil
}

// Close closes the connection pools. Closing a transactional copy does nothing.
func (db *DB) Close() error {
	if db.tx != nil {
		return nil
	}
	db.closeNotes()
	if db.commits != nil {
		db.commits.close()
	}
	if db.stmts != nil {
		db.stmts.close()
	}
	err := db.w.Close()
	if db.r != db.w {
		if rerr := db.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// InTx runs fn with a copy of db bound to one transaction; fn's error (or a
// panic) rolls back. On a copy that is already in a transaction, fn runs in
// that transaction.
func (db *DB) InTx(ctx context.Context, fn func(store.Store) error) error {
	return db.inTx(ctx, func(tx *DB) error { return fn(tx) })
}

func (db *DB) inTx(ctx context.Context, fn func(*DB) error) (err error) {
	if db.tx != nil {
		return fn(db)
	}
	if db.commits != nil {
		return db.commits.write(ctx, fn)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(err)
	}
	c := *db
	c.tx = tx
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = fn(&c); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return db.wrap(err)
	}
	return nil
}

// atomically runs fn as one unit: in a transaction of its own, or, inside
// the caller's transaction, under a savepoint so that a failure undoes only
// fn's writes and leaves the caller's transaction usable.
func (db *DB) atomically(ctx context.Context, fn func(*DB) error) error {
	if db.tx == nil {
		return db.inTx(ctx, fn)
	}
	return db.withSavepoint(ctx, func() error { return fn(db) })
}

// guard runs fn, one write that may fail on a constraint. A failed
// statement aborts a whole PostgreSQL transaction, so inside one fn runs
// under a savepoint: the caller may handle ErrDuplicateEmail and carry on,
// as on SQLite, where only the failed statement is undone.
func (db *DB) guard(ctx context.Context, fn func() error) error {
	if db.tx == nil || db.d.name != BackendPostgres {
		return fn()
	}
	return db.withSavepoint(ctx, fn)
}

func (db *DB) withSavepoint(ctx context.Context, fn func() error) error {
	ctx = db.sctx(ctx)
	if _, err := db.tx.ExecContext(ctx, `SAVEPOINT latch_write`); err != nil {
		return db.wrap(err)
	}
	if err := fn(); err != nil {
		if _, rerr := db.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT latch_write`); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint: %v)", err, db.wrap(rerr))
		}
		// ROLLBACK TO keeps the savepoint; let it go.
		db.tx.ExecContext(ctx, `RELEASE SAVEPOINT latch_write`)
		return err
	}
	_, err := db.tx.ExecContext(ctx, `RELEASE SAVEPOINT latch_write`)
	return db.wrap(err)
}

// write runs fn, one write or a few: outside a transaction on a SQLite
// file in the next group commit, else directly.
func (db *DB) write(ctx context.Context, fn func(*DB) error) error {
	if db.tx == nil && db.commits != nil {
		return db.commits.write(ctx, fn)
	}
	return fn(db)
}

// insert runs one write through guard.
func (db *DB) insert(ctx context.Context, query string, args ...any) error {
	return db.guard(ctx, func() error {
		_, err := db.exec(ctx, query, args...)
		return err
	})
}

// reader is where plain reads go: the transaction if any, else the read pool.
func (db *DB) reader() querier {
	if db.tx != nil {
		return db.tx
	}
	return db.r
}

// writer is where writes go: the transaction if any, else the write pool.
func (db *DB) writer() querier {
	if db.tx != nil {
		return db.tx
	}
	return db.w
}

// q rewrites a query written with "?" placeholders for the dialect. (The
// rewrite is a scan of a few hundred bytes; pgx caches the statements.)
func (db *DB) q(query string) string {
	if !db.d.dollar {
		return query
	}
	return rebind(query)
}

// rebind turns each "?" outside string literals into $1, $2, ….
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	inString := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inString = !inString
			b.WriteByte(c)
		case c == '?' && !inString:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.tx == nil && db.commits != nil {
		var res sql.Result
		err := db.write(ctx, func(t *DB) (err error) {
			res, err = t.exec(ctx, query, args...)
			return err
		})
		return res, err
	}
	ctx = db.sctx(ctx)
	if st := db.cached(ctx, db.w, query); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, db.wrap(err)
	}
	res, err := db.writer().ExecContext(ctx, db.q(query), args...)
	return res, db.wrap(err)
}

// cached returns a prepared statement for a query on SQLite, or nil. In a
// transaction it is the writer's statement bound to the transaction; one
// not prepared yet is prepared after the transaction (the transaction holds
// the writer's only connection).
func (db *DB) cached(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if db.stmts == nil {
		return nil
	}
	if db.tx == nil {
		return db.stmts.get(ctx, pool, query)
	}
	st := db.stmts.lookup(db.w, query)
	if st == nil {
		db.stmts.want(query)
		return nil
	}
	return db.tx.StmtContext(ctx, st)
}

// sctx is the context a statement runs under: on the copy bound to a group
// commit, one that its caller giving up does not cancel (SQLite rolls back
// the whole transaction when a write inside it is interrupted).
func (db *DB) sctx(ctx context.Context) context.Context {
	if db.batched {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// execOne runs a write that must change exactly one row; ErrNotFound if none.
func (db *DB) execOne(ctx context.Context, query string, args ...any) error {
	res, err := db.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.wrap(err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (db *DB) execCount(ctx context.Context, query string, args ...any) (int, error) {
	res, err := db.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), db.wrap(err)
}

func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.rowsOn(ctx, db.r, db.reader(), query, args)
}

// writeQuery runs a write with RETURNING of several rows on the writer: in
// a transaction, or in a write (see write) on a SQLite file.
func (db *DB) writeQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.rowsOn(ctx, db.w, db.writer(), query, args)
}

func (db *DB) rowsOn(ctx context.Context, pool *sql.DB, q querier, query string, args []any) (*sql.Rows, error) {
	ctx = db.sctx(ctx)
	if st := db.cached(ctx, pool, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, db.wrap(err)
	}
	rows, err := q.QueryContext(ctx, db.q(query), args...)
	return rows, db.wrap(err)
}

func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = db.sctx(ctx)
	if st := db.cached(ctx, db.r, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.reader().QueryRowContext(ctx, db.q(query), args...)
}

// writeRow runs a write with RETURNING on the writer. Outside a
// transaction on a SQLite file the write joins the next group commit when
// the row is scanned.
func (db *DB) writeRow(ctx context.Context, query string, args ...any) rowScanner {
	if db.tx == nil && db.commits != nil {
		return groupRow{db, ctx, query, args}
	}
	ctx = db.sctx(ctx)
	if st := db.cached(ctx, db.w, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.writer().QueryRowContext(ctx, db.q(query), args...)
}

// groupRow is a writeRow whose statement runs, and is scanned, inside a
// group commit.
type groupRow struct {
	db    *DB
	ctx   context.Context
	query string
	args  []any
}

func (r groupRow) Scan(dest ...any) error {
	return r.db.write(r.ctx, func(t *DB) error {
		return t.writeRow(r.ctx, r.query, r.args...).Scan(dest...)
	})
}
