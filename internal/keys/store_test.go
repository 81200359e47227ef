package keys_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// fakeStore keeps signing keys in memory until the SQL store lands; the rest
// of store.Store is the nil embedded interface.
type fakeStore struct {
	store.Store
	mu   sync.Mutex
	rows []store.SigningKey
}

func openStore(t testing.TB) store.Store { return &fakeStore{} }

func createProject(t testing.TB, st store.Store, id string, live bool) {}

func (f *fakeStore) InTx(ctx context.Context, fn func(store.Store) error) error { return fn(f) }

func (f *fakeStore) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rows {
		if r.KID == k.KID {
			return store.ErrAlreadyExists
		}
	}
	f.rows = append(f.rows, copyKey(k))
	return nil
}

func (f *fakeStore) ListSigningKeys(ctx context.Context, projectID string, now time.Time) ([]store.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.SigningKey
	for _, r := range f.rows {
		if r.ProjectID == projectID && (r.ExpiresAt == nil || r.ExpiresAt.After(now)) {
			out = append(out, copyKey(r))
		}
	}
	slices.SortStableFunc(out, func(a, b store.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (f *fakeStore) RetireSigningKeys(ctx context.Context, projectID string, now, expiresAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rows {
		if r.ProjectID == projectID && r.RetiredAt == nil {
			f.rows[i].RetiredAt, f.rows[i].ExpiresAt = &now, &expiresAt
		}
	}
	return nil
}

func copyKey(k store.SigningKey) store.SigningKey {
	k.PrivateKeyEnc = slices.Clone(k.PrivateKeyEnc)
	k.CertDER = slices.Clone(k.CertDER)
	if k.RetiredAt != nil {
		t := *k.RetiredAt
		k.RetiredAt = &t
	}
	if k.ExpiresAt != nil {
		t := *k.ExpiresAt
		k.ExpiresAt = &t
	}
	return k
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
