package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// seeded is what the bench seeded: row i of each slice is one user with
// one verified email and one live session.
type seeded struct {
	tokens     []string
	sessionIDs []string
	userIDs    []string
	emailIDs   []string
	emails     []string
	active     []int // indexes of the sessions the load draws from
}

// chooseActive picks n of the seeded sessions at random, spread over the
// whole store (not the first n rows), as the active ones.
func (s *seeded) chooseActive(n int) {
	s.active = rand.Perm(len(s.tokens))[:min(n, len(s.tokens))]
}

// table is one bulk insert: its columns and a function giving row i.
type table struct {
	name  string
	cols  []string
	row   func(i int) []any
	ready <-chan struct{} // closed when row may be called; nil = now
}

// seedStore writes n users, n emails and n live sessions of projectID
// straight into the database at dbURL, with multi-row INSERTs in large
// transactions (SQLite) or COPY (PostgreSQL), encoded as sqlstore encodes
// them: unix-ms timestamps, SHA-256 token hashes, the token sealed under the
// master key with the session id as associated data.
func seedStore(ctx context.Context, dbURL, projectID string, ring *secret.Keyring, n int, now time.Time) (*seeded, error) {
	// The seeded data stays live throughout: collect less often.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	s := &seeded{
		tokens: make([]string, n), sessionIDs: make([]string, n), userIDs: make([]string, n),
		emailIDs: make([]string, n), emails: make([]string, n),
	}
	hashes := make([][]byte, n)
	sealed := make([][]byte, n)
	factors := make([]string, n)
	nowMS := now.UnixMilli()
	// Ids are "<kind>-test-<uuid>" like Latch's, with time-ordered (v7)
	// UUIDs so that rows go in in primary-key order and the B-trees grow at
	// their end.
	var wg sync.WaitGroup
	for kind, ids := range map[string][]string{"user": s.userIDs, "email": s.emailIDs, "session": s.sessionIDs} {
		wg.Go(func() {
			for i := range ids {
				ids[i] = kind + "-test-" + uuid.Must(uuid.NewV7()).String()
			}
			if !slices.IsSorted(ids) {
				slices.Sort(ids)
			}
		})
	}
	wg.Go(func() {
		for i := range s.emails {
			s.emails[i] = "bench-user-" + fmt.Sprintf("%08d", i) + "@bench.example"
		}
	})
	wg.Wait()
	// The factor as sqlstore stores it, encoded once.
	tmpl, err := json.Marshal([]store.Factor{{
		Type: "magic_link", DeliveryMethod: "email", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now,
		EmailFactor: &store.EmailFactor{EmailID: "\x01", EmailAddress: "\x02"},
	}})
	if err != nil {
		return nil, err
	}
	before, rest, _ := strings.Cut(string(tmpl), `\u0001`)
	middle, after, _ := strings.Cut(rest, `\u0002`)
	// The sessions' tokens, hashes and sealed copies are made while users
	// and emails go in. The sessions are ordered by token hash before they
	// get their (ordered) ids, so that both unique indexes of the table grow
	// at their end.
	sessionsReady := make(chan struct{})
	go func() {
		defer close(sessionsReady)
		parallel(n, func(i int) {
			s.tokens[i] = secret.SessionToken()
			hashes[i] = secret.Hash(s.tokens[i])
		})
		byHash := make([]int, n)
		for i := range byHash {
			byHash[i] = i
		}
		slices.SortFunc(byHash, func(a, b int) int { return bytes.Compare(hashes[a], hashes[b]) })
		tokens, sortedHashes := make([]string, n), make([][]byte, n)
		for i, j := range byHash {
			tokens[i], sortedHashes[i] = s.tokens[j], hashes[j]
		}
		s.tokens, hashes = tokens, sortedHashes
		parallel(n, func(i int) {
			sealed[i] = ring.Seal([]byte(s.tokens[i]), []byte(s.sessionIDs[i]))
			factors[i] = before + s.emailIDs[i] + middle + s.emails[i] + after
		})
	}()
	defer func() { <-sessionsReady }()
	// Expiries spread over a day around a week from now, as live sessions are.
	expires := func(i int) int64 { return nowMS + 7*24*3600*1000 + int64(i%86400)*1000 }
	tables := []table{
		{"users", []string{"id", "project_id", "external_id", "status", "first_name", "middle_name", "last_name",
			"trusted_metadata", "untrusted_metadata", "roles", "created_at", "failed_auths", "lock_created_at", "lock_expires_at"},
			func(i int) []any {
				return []any{s.userIDs[i], projectID, nil, "active", "", "", "", "{}", "{}", "[]", nowMS, int64(0), nil, nil}
			}, nil},
		{"emails", []string{"id", "project_id", "user_id", "address", "address_norm", "verified", "created_at", "pending_until"},
			func(i int) []any {
				return []any{s.emailIDs[i], projectID, s.userIDs[i], s.emails[i], s.emails[i], true, nowMS, nil}
			}, nil},
		{"sessions", []string{"id", "project_id", "user_id", "token_hash", "token_sealed", "started_at", "last_accessed_at",
			"expires_at", "ip_address", "user_agent", "custom_claims", "factors", "roles"},
			func(i int) []any {
				return []any{s.sessionIDs[i], projectID, s.userIDs[i], hashes[i], sealed[i], nowMS, nowMS, expires(i),
					"", "", "{}", factors[i], `["stytch_user"]`}
			}, sessionsReady},
	}

	db, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if db.Backend() == sqlstore.BackendPostgres {
		for _, t := range tables {
			if t.ready != nil {
				<-t.ready
			}
			if err := copyRows(ctx, conn, t, n); err != nil {
				return nil, err
			}
		}
		if _, err := conn.ExecContext(ctx, `ANALYZE users, emails, sessions`); err != nil {
			return nil, err
		}
		return s, nil
	}
	// A throw-away load: no fsync per commit, a large page cache, statement
	// journals in memory. The foreign keys hold by construction.
	for _, p := range []string{`PRAGMA synchronous = OFF`, `PRAGMA cache_size = -262144`, `PRAGMA temp_store = MEMORY`,
		`PRAGMA foreign_keys = OFF`, `PRAGMA wal_autocheckpoint = 0`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	// With no other connection open (the bench's case, not the in-process
	// tests'), pages are written once, without the WAL; it comes back after.
	noJournal := false
	if _, err := conn.ExecContext(ctx, `PRAGMA journal_mode = OFF`); err == nil {
		noJournal = true
	}
	for _, t := range tables {
		// Secondary indexes are dropped for the load and made again after
		// it, from their own CREATE statements: building one from sorted
		// keys beats n random inserts.
		idx, err := secondaryIndexes(ctx, conn, t.name)
		if err != nil {
			return nil, err
		}
		for name := range idx {
			if _, err := conn.ExecContext(ctx, `DROP INDEX `+name); err != nil {
				return nil, err
			}
		}
		if t.ready != nil {
			<-t.ready
		}
		if err := insertRows(ctx, conn, t, n); err != nil {
			return nil, err
		}
		for _, create := range idx {
			if _, err := conn.ExecContext(ctx, create); err != nil {
				return nil, fmt.Errorf("%s: %w", create, err)
			}
		}
	}
	// No ANALYZE: Latch never runs one, so neither does its bench.
	final := []string{`PRAGMA foreign_keys = ON`, `PRAGMA synchronous = FULL`, `PRAGMA temp_store = DEFAULT`,
		`PRAGMA wal_autocheckpoint = 1000`, `PRAGMA wal_checkpoint(TRUNCATE)`}
	if noJournal {
		final = append(final, `PRAGMA journal_mode = WAL`)
	}
	for _, p := range final {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return s, nil
}

// parallel runs fn(0) … fn(n-1) on every CPU.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// secondaryIndexes returns the CREATE INDEX statements of a SQLite table's
// explicit indexes (not those of its PRIMARY KEY and UNIQUE constraints),
// by name.
func secondaryIndexes(ctx context.Context, conn *sql.Conn, tableName string) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, tableName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			return nil, err
		}
		out[name] = create
	}
	return out, rows.Err()
}

// insertRows inserts n rows of t with prepared multi-row INSERTs,
// committing every 100,000 rows.
func insertRows(ctx context.Context, conn *sql.Conn, t table, n int) error {
	const perStmt = 500 // rows per INSERT: 14 columns × 500 stays under SQLite's 32,766 variables
	const perTx = 100_000
	stmtFor := func(rows int) string {
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
		return "INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
	}
	full := stmtFor(perStmt)
	args := make([]any, 0, perStmt*len(t.cols))
	for start := 0; start < n; start += perTx {
		end := min(start+perTx, n)
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, full)
		if err != nil {
			tx.Rollback()
			return err
		}
		for i := start; i < end; i += perStmt {
			j := min(i+perStmt, end)
			args = args[:0]
			for k := i; k < j; k++ {
				args = append(args, t.row(k)...)
			}
			if j-i == perStmt {
				_, err = stmt.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, stmtFor(j-i), args...)
			}
			if err != nil {
				stmt.Close()
				tx.Rollback()
				return fmt.Errorf("insert into %s: %w", t.name, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// copyRows loads n rows of t with PostgreSQL's COPY, through pgx.
func copyRows(ctx context.Context, conn *sql.Conn, t table, n int) error {
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{t.name}, t.cols,
			pgx.CopyFromSlice(n, func(i int) ([]any, error) { return t.row(i), nil }))
		if err != nil {
			return fmt.Errorf("copy into %s: %w", t.name, err)
		}
		return nil
	})
}

// writeFiles writes what the load generators read: tokens.txt (one session
// token a line), users.txt (one user id a line), the same two for the active
// sessions only (active-tokens.txt, active-users.txt) and sessions.tsv
// (token, session id, user id, email id, address) for the baseline.
func (s *seeded) writeFiles(dir string) error {
	write := func(name string, line func(i int) string) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for i := range s.tokens {
			w.WriteString(line(i))
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	writeActive := func(name string, line func(i int) string) error {
		var b strings.Builder
		for _, i := range s.active {
			b.WriteString(line(i))
			b.WriteByte('\n')
		}
		return os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600)
	}
	if err := writeActive("active-tokens.txt", func(i int) string { return s.tokens[i] }); err != nil {
		return err
	}
	if err := writeActive("active-users.txt", func(i int) string { return s.userIDs[i] }); err != nil {
		return err
	}
	if err := write("tokens.txt", func(i int) string { return s.tokens[i] }); err != nil {
		return err
	}
	if err := write("users.txt", func(i int) string { return s.userIDs[i] }); err != nil {
		return err
	}
	return write("sessions.tsv", func(i int) string {
		return s.tokens[i] + "\t" + s.sessionIDs[i] + "\t" + s.userIDs[i] + "\t" + s.emailIDs[i] + "\t" + s.emails[i]
	})
}
