package auth_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// sessionReads counts the reads of sessions made through it.
type sessionReads struct {
	store.Store
	n atomic.Int64
}

func (s *sessionReads) GetSessionWithUser(ctx context.Context, projectID string, tokenHash []byte, id string) (store.SessionRead, error) {
	s.n.Add(1)
	return s.Store.GetSessionWithUser(ctx, projectID, tokenHash, id)
}

func (s *sessionReads) GetSession(ctx context.Context, projectID, id string) (store.Session, error) {
	s.n.Add(1)
	return s.Store.GetSession(ctx, projectID, id)
}

func (s *sessionReads) GetSessionByTokenHash(ctx context.Context, projectID string, hash []byte) (store.Session, error) {
	s.n.Add(1)
	return s.Store.GetSessionByTokenHash(ctx, projectID, hash)
}

// TestAWrongSecretIsRefusedBeforeAnySessionIsRead: sessions/authenticate
// checks the secret first, so a caller without it learns nothing from the
// answer or its timing about whether a session exists (issue 13, point 4;
// internal/attack TestAWrongSecretTellsNothingOfASession measures it).
func TestAWrongSecretIsRefusedBeforeAnySessionIsRead(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, storetest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ring, err := secret.NewKeyring(secret.Bytes(secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	st := &sessionReads{Store: db}
	svc := auth.New(auth.Config{Store: st, Keys: keys.New(st, ring, nil), Ring: ring})
	cp, err := svc.CreateProject(ctx, auth.NewProject{Name: "wrong secret"})
	if err != nil {
		t.Fatal(err)
	}
	wrong := cp.Secret[:len(cp.Secret)-4] + "0000"
	for _, r := range []auth.AuthenticateSessionRequest{
		{SessionOptions: auth.SessionOptions{SessionToken: "any-token"}},
		{SessionOptions: auth.SessionOptions{SessionJWT: "not.a.jwt"}},
		{SessionOptions: auth.SessionOptions{SessionToken: "any-token", SessionJWT: "both"}},
		{},
	} {
		p, c, err := svc.ProjectFor(ctx, cp.Project.ID, wrong)
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.AuthenticateSession(ctx, p, c, r)
		if !errors.Is(err, auth.ErrUnauthorizedCredentials) {
			t.Fatalf("%+v with a wrong secret: %v, want the 401", r, err)
		}
	}
	if n := st.n.Load(); n != 0 {
		t.Fatalf("a wrong secret made %d reads of sessions before it was refused", n)
	}
}
