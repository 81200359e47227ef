package sqlstore_test

import (
	"context"
	"sync"
	"testing"

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
	storetest.Run(t, func(t *testing.T) store.Store {
		db := open(t, storetest.SQLiteURL(t))
		if db.Backend() != sqlstore.BackendSQLite {
			t.Fatalf("Backend() = %q", db.Backend())
		}
		return db
	})
}

func TestPostgres(t *testing.T) {
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
