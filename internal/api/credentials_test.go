package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/api"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// sessionTouches counts what the store is asked about sessions.
type sessionTouches struct {
	store.Store
	n atomic.Int64
}

func (s *sessionTouches) GetSessionWithUser(ctx context.Context, projectID string, tokenHash []byte, id string) (store.SessionRead, error) {
	s.n.Add(1)
	return s.Store.GetSessionWithUser(ctx, projectID, tokenHash, id)
}

func (s *sessionTouches) GetSession(ctx context.Context, projectID, id string) (store.Session, error) {
	s.n.Add(1)
	return s.Store.GetSession(ctx, projectID, id)
}

func (s *sessionTouches) GetSessionByTokenHash(ctx context.Context, projectID string, hash []byte) (store.Session, error) {
	s.n.Add(1)
	return s.Store.GetSessionByTokenHash(ctx, projectID, hash)
}

func (s *sessionTouches) NoteAccess(projectID, id string, at time.Time) {
	s.n.Add(1)
	s.Store.NoteAccess(projectID, id, at)
}

// TestAWrongSecretIsRefusedBeforeAnySessionIsRead: every route checks the
// secret first (api.authed, the one place), so a caller without it learns
// nothing from the answer or its timing about whether a session exists
// (issue 13, point 4; internal/attack TestAWrongSecretTellsNothingOfASession
// measures it): the store is not asked about any session at all.
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
	st := &sessionTouches{Store: db}
	svc := auth.New(auth.Config{Store: st, Keys: keys.New(st, ring, nil), Ring: ring})
	cp, err := svc.CreateProject(ctx, auth.NewProject{Name: "wrong secret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(svc, nil))
	defer srv.Close()
	wrong := cp.Secret[:len(cp.Secret)-4] + "0000"
	for _, c := range []struct{ path, body string }{
		{"/v1/sessions/authenticate", `{"session_token":"any-token"}`},
		{"/sessions/authenticate", `{"session_jwt":"not.a.jwt"}`},
		{"/v1/sessions/authenticate", `{"session_token":"a","session_jwt":"b"}`},
		{"/v1/sessions/authenticate", `{"session_token":`},
		{"/v1/sessions/revoke", `{"session_token":"any-token"}`},
		{"/v1/magic_links/authenticate", `{"token":"x","session_token":"any-token"}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+c.path, strings.NewReader(c.body))
		req.SetBasicAuth(cp.Project.ID, wrong)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s %s with a wrong secret: %d, want 401", c.path, c.body, res.StatusCode)
		}
	}
	if n := st.n.Load(); n != 0 {
		t.Fatalf("wrong secrets made %d reads or notes of sessions before they were refused", n)
	}
}
