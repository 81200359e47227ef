package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// open opens and migrates the database at url, closing it when t ends.
func open(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		db := open(t, storetest.SQLiteURL(t))
		if db.Backend() != sqlstore.BackendSQLite {
			t.Fatalf("Backend() = %q", db.Backend())
		}
		return db
	})
}

func TestSQLiteInMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, "sqlite::memory:") })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.PostgresURL(t) // skips (or fails in CI) when PostgreSQL is away
	storetest.Run(t, func(t *testing.T) store.Store {
		db := open(t, storetest.PostgresURL(t))
		if db.Backend() != sqlstore.BackendPostgres {
			t.Fatalf("Backend() = %q", db.Backend())
		}
		return db
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, tc.url(t))
			for range 2 {
				if err := db.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestConcurrentMigrationsOnOneDatabaseSucceed(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Each goroutine stands for one process starting up.
					db, err := sqlstore.Open(context.Background(), url)
					if err != nil {
						t.Error(err)
						return
					}
					defer db.Close()
					if err := db.Migrate(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		})
	}
}

func TestTwoHandlesOnOneSQLiteFileBothWrite(t *testing.T) {
	// Two handles stand for two processes (a server and a CLI command) on
	// one file: their writes wait for each other instead of failing.
	url := storetest.SQLiteURL(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	p := store.Project{ID: "project-test-shared", Name: "shared", LockThreshold: 10}
	if err := a.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, db := range []*sqlstore.DB{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := db.CountHit(ctx, p.ID, "k", time.Unix(0, 0)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n, err := b.CountHit(ctx, p.ID, "k", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if n != 101 {
		t.Fatalf("count = %d, want 101", n)
	}
	if _, err := b.GetProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
}

func TestOpenAcceptsTheSQLiteURLForms(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{
		"sqlite:" + filepath.Join(dir, "a", "b", "one.db"),
		"sqlite://" + filepath.Join(dir, "two.db"),
		"file:" + filepath.Join(dir, "three.db"),
	} {
		db, err := sqlstore.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		db.Close()
	}
	for _, name := range []string{filepath.Join("a", "b", "one.db"), "two.db", "three.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	if _, err := sqlstore.Open(context.Background(), "mysql://localhost/x"); err == nil {
		t.Fatal("Open accepted a mysql URL")
	}
	// A mistyped folder is refused, not created.
	missing := filepath.Join(dir, "typo", "four.db")
	if _, err := sqlstore.Open(context.Background(), "sqlite:"+missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open in a missing folder: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the folder %s: %v", filepath.Dir(missing), err)
	}
}

func TestSQLitePathNamesTheFileOfEachURLForm(t *testing.T) {
	for url, want := range map[string]string{
		"sqlite:data/l.db":      "data/l.db",
		"sqlite://data/l.db":    "data/l.db",
		"file:data/l.db":        "data/l.db",
		"file://data/l.db":      "data/l.db",
		"sqlite:/abs/l.db?_x=1": "/abs/l.db",
		"sqlite::memory:":       "",
		"postgres://h/db":       "",
		"sqlite:":               "",
	} {
		got, ok := sqlstore.SQLitePath(url)
		if got != want || ok != (want != "") {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q", url, got, ok, want)
		}
	}
}

func TestAnUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := sqlstore.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
}

func TestPostgresPoolParametersAreNotSentToTheServer(t *testing.T) {
	url := storetest.PostgresURL(t) + "&pool_max_conn_lifetime=1h&pool_max_conn_idle_time=5m"
	db := open(t, url)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
