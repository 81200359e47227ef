package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// DefaultPostgresURL is used when LATCH_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SQLiteURL returns the URL of a fresh SQLite database file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
}

// PostgresURL creates a fresh schema in the test PostgreSQL database
// (LATCH_TEST_POSTGRES_URL, default DefaultPostgresURL), drops it when the
// test ends, and returns a URL whose search_path is that schema.
//
// When PostgreSQL does not answer, the test is skipped, unless CI is set or
// LATCH_REQUIRE_POSTGRES=1, in which case it fails.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("LATCH_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", base, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		msg := "storetest: PostgreSQL at %s does not answer (%v); set LATCH_TEST_POSTGRES_URL"
		if os.Getenv("CI") != "" || os.Getenv("LATCH_REQUIRE_POSTGRES") == "1" {
			t.Fatalf(msg, redacted(base), err)
		}
		t.Skipf(msg+", or LATCH_REQUIRE_POSTGRES=1 to make this a failure", redacted(base), err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "latch_test_" + hex.EncodeToString(b)
	_, err = admin.ExecContext(ctx, `CREATE SCHEMA `+schema)
	admin.Close() // hold no connection while the test runs
	if err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", redacted(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if q.Get("pool_max_conns") == "" {
		// Many tests may hold a store at once; stay well under max_connections.
		q.Set("pool_max_conns", "8")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
