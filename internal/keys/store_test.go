package keys_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// openStore opens a migrated SQLite database in the test's temporary folder.
func openStore(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func createProject(t testing.TB, st store.Store, id string, live bool) {
	t.Helper()
	err := st.CreateProject(context.Background(), store.Project{
		ID: id, Name: "test", Live: live, CreatedAt: t0, LockThreshold: 10, LockTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countingStore counts the reads of signing keys, to test the cache.
type countingStore struct {
	store.Store
	lists atomic.Int64
}

func (c *countingStore) ListSigningKeys(ctx context.Context, projectID string, now time.Time) ([]store.SigningKey, error) {
	c.lists.Add(1)
	return c.Store.ListSigningKeys(ctx, projectID, now)
}

// failingAdd is a store whose transactions cannot add a signing key.
type failingAdd struct{ store.Store }

var errAdd = errors.New("disk full")

func (f failingAdd) InTx(ctx context.Context, fn func(store.Store) error) error {
	return f.Store.InTx(ctx, func(tx store.Store) error { return fn(failingAdd{tx}) })
}

func (f failingAdd) AddSigningKey(ctx context.Context, k store.SigningKey) error { return errAdd }

// blockingStore holds the first read of signing keys until released.
type blockingStore struct {
	store.Store
	first    atomic.Bool
	entered  chan struct{}
	released chan struct{}
}

func (b *blockingStore) ListSigningKeys(ctx context.Context, projectID string, now time.Time) ([]store.SigningKey, error) {
	rows, err := b.Store.ListSigningKeys(ctx, projectID, now)
	if b.first.CompareAndSwap(false, true) {
		close(b.entered)
		<-b.released
	}
	return rows, err
}
