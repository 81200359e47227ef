package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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
}

// table is one bulk insert: its columns and a function giving row i.
type table struct {
	name string
	cols []string
	row  func(i int) []any
}

// seedStore writes n users, n emails and n live sessions of projectID
// straight into the database at dbURL, with multi-row INSERTs in large
// transactions (SQLite) or COPY (PostgreSQL), encoded as sqlstore encodes
// them: unix-ms timestamps, SHA-256 token hashes, the token sealed under the
// master key with the session id as associated data.
func seedStore(ctx context.Context, dbURL, projectID string, ring *secret.Keyring, n int, now time.Time) (*seeded, error) {
	s := &seeded{
		tokens: make([]string, n), sessionIDs: make([]string, n), userIDs: make([]string, n),
		emailIDs: make([]string, n), emails: make([]string, n),
	}
	hashes := make([][]byte, n)
	sealed := make([][]byte, n)
	factors := make([]string, n)
	nowMS := now.UnixMilli()
	for i := range n {
		s.userIDs[i] = secret.ID("user", false)
		s.emailIDs[i] = secret.ID("email", false)
		s.sessionIDs[i] = secret.ID("session", false)
		s.emails[i] = fmt.Sprintf("bench-user-%d@bench.example", i)
		s.tokens[i] = secret.SessionToken()
		hashes[i] = secret.Hash(s.tokens[i])
		sealed[i] = ring.Seal([]byte(s.tokens[i]), []byte(s.sessionIDs[i]))
		f, err := json.Marshal([]store.Factor{{
			Type: "magic_link", DeliveryMethod: "email", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now,
			EmailFactor: &store.EmailFactor{EmailID: s.emailIDs[i], EmailAddress: s.emails[i]},
		}})
		if err != nil {
			return nil, err
		}
		factors[i] = string(f)
	}
	// Expiries spread over a day around a week from now, as live sessions are.
	expires := func(i int) int64 { return nowMS + 7*24*3600*1000 + int64(i%86400)*1000 }
	tables := []table{
		{"users", []string{"id", "project_id", "external_id", "status", "first_name", "middle_name", "last_name",
			"trusted_metadata", "untrusted_metadata", "roles", "created_at", "failed_auths", "lock_created_at", "lock_expires_at"},
			func(i int) []any {
				return []any{s.userIDs[i], projectID, nil, "active", "", "", "", "{}", "{}", "[]", nowMS, int64(0), nil, nil}
			}},
		{"emails", []string{"id", "project_id", "user_id", "address", "address_norm", "verified", "created_at", "pending_until"},
			func(i int) []any {
				return []any{s.emailIDs[i], projectID, s.userIDs[i], s.emails[i], s.emails[i], true, nowMS, nil}
			}},
		{"sessions", []string{"id", "project_id", "user_id", "token_hash", "token_sealed", "started_at", "last_accessed_at",
			"expires_at", "ip_address", "user_agent", "custom_claims", "factors", "roles"},
			func(i int) []any {
				return []any{s.sessionIDs[i], projectID, s.userIDs[i], hashes[i], sealed[i], nowMS, nowMS, expires(i),
					"", "", "{}", factors[i], `["stytch_user"]`}
			}},
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
			if err := copyRows(ctx, conn, t, n); err != nil {
				return nil, err
			}
		}
		if _, err := conn.ExecContext(ctx, `ANALYZE users, emails, sessions`); err != nil {
			return nil, err
		}
		return s, nil
	}
	// A throw-away load: no fsync per commit, a large page cache. The
	// foreign keys hold by construction.
	for _, p := range []string{`PRAGMA synchronous = OFF`, `PRAGMA cache_size = -262144`, `PRAGMA foreign_keys = OFF`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	for _, t := range tables {
		if err := insertRows(ctx, conn, t, n); err != nil {
			return nil, err
		}
	}
	for _, p := range []string{`PRAGMA foreign_keys = ON`, `PRAGMA synchronous = FULL`, `ANALYZE`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return s, nil
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
// token a line), users.txt (one user id a line) and sessions.tsv (token,
// session id, user id, email id, address) for the baseline.
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
