// Package storetest is the conformance suite every store.Store backend must
// pass, and helpers that give tests a fresh database of each kind.
//
// A backend's test calls Run with a function that returns a fresh, migrated,
// empty store:
//
//	storetest.Run(t, func(t *testing.T) store.Store { … })
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latch-auth/latch/internal/store"
)

// running bounds the behaviours that run at once, across every Run of the
// test binary.
var running = make(chan struct{}, 4)

// behaviour is one conformance test, run against a fresh store.
type behaviour struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs every conformance test, each against a fresh store from newStore,
// as parallel subtests.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	var all []behaviour
	all = append(all, projectBehaviours...)
	all = append(all, userBehaviours...)
	all = append(all, pendingBehaviours...)
	all = append(all, tokenBehaviours...)
	all = append(all, totpBehaviours...)
	all = append(all, sessionBehaviours...)
	all = append(all, outboxBehaviours...)
	all = append(all, searchBehaviours...)
	all = append(all, scopingBehaviours...)
	all = append(all, txBehaviours...)
	all = append(all, passwordBehaviours...)
	all = append(all, consoleBehaviours...)
	all = append(all, sdkBehaviours...)
	all = append(all, attemptBehaviours...)
	for _, b := range all {
		t.Run(b.name, func(t *testing.T) {
			// Each behaviour has a store of its own, so they may overlap, a
			// few at a time so as not to exhaust the database's connections.
			t.Parallel()
			running <- struct{}{}
			defer func() { <-running }()
			b.fn(t, newStore(t))
		})
	}
}

// t0 is the suite's "now": a whole number of milliseconds, as stored.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func ctx() context.Context { return context.Background() }

var seq atomic.Int64

// id returns a fresh id of the given kind.
func id(kind string) string { return kind + "-test-" + uuid.NewString() }

// num returns a number unique in this process, for addresses and names.
func num() int64 { return seq.Add(1) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustBe(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Fatalf("%s is in %v, want UTC", what, got.Location())
	}
}

func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Fatalf("%s = %v, want %v", what, got, want)
	default:
		sameTime(t, what, *got, *want)
	}
}

func sameJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s = %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s = %s, want %s", what, gb, wb)
	}
}

func ptr[T any](v T) *T { return &v }

// parallel runs fn n times at once and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// Fixtures.

func newProject(t *testing.T, s store.Store) store.Project {
	t.Helper()
	p := store.Project{
		ID:            id("project"),
		Name:          fmt.Sprintf("Project %d", num()),
		CreatedAt:     t0,
		LockThreshold: 10,
		LockTTL:       time.Hour,
	}
	must(t, s.CreateProject(ctx(), p))
	return p
}

func newEmail(projectID, userID string) store.Email {
	return store.Email{
		ID:        id("email"),
		ProjectID: projectID,
		UserID:    userID,
		Address:   fmt.Sprintf("user%d@example.com", num()),
		CreatedAt: t0,
	}
}

func newPhone(projectID, userID string) store.Phone {
	return store.Phone{
		ID:        id("phone-number"),
		ProjectID: projectID,
		UserID:    userID,
		Number:    fmt.Sprintf("+1555%07d", num()),
		CreatedAt: t0,
	}
}

// newUser creates an active user with one email and one phone; mods change
// it before it is stored.
func newUser(t *testing.T, s store.Store, projectID string, mods ...func(*store.User)) store.User {
	t.Helper()
	u := store.User{
		ID:        id("user"),
		ProjectID: projectID,
		Status:    "active",
		FirstName: "Ada",
		LastName:  "Lovelace",
		CreatedAt: t0,
	}
	u.Emails = []store.Email{newEmail(projectID, u.ID)}
	u.Phones = []store.Phone{newPhone(projectID, u.ID)}
	for _, m := range mods {
		m(&u)
	}
	must(t, s.CreateUser(ctx(), u))
	return u
}

func newMagicLink(t *testing.T, s store.Store, u store.User, mods ...func(*store.MagicLink)) store.MagicLink {
	t.Helper()
	m := store.MagicLink{
		TokenHash: []byte(id("token")),
		ProjectID: u.ProjectID,
		UserID:    u.ID,
		EmailID:   u.Emails[0].ID,
		Kind:      store.MagicLinkLogin,
		IPAddress: "192.0.2.1",
		UserAgent: "test",
		CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour),
	}
	for _, f := range mods {
		f(&m)
	}
	must(t, s.CreateMagicLink(ctx(), m))
	return m
}

func newOTP(t *testing.T, s store.Store, u store.User, mods ...func(*store.OTP)) store.OTP {
	t.Helper()
	o := store.OTP{
		ID:        id("otp"),
		ProjectID: u.ProjectID,
		UserID:    u.ID,
		MethodID:  u.Phones[0].ID,
		Channel:   store.ChannelSMS,
		CodeHash:  []byte(id("code")),
		IPAddress: "192.0.2.1",
		UserAgent: "test",
		CreatedAt: t0,
		ExpiresAt: t0.Add(2 * time.Minute),
	}
	for _, f := range mods {
		f(&o)
	}
	must(t, s.CreateOTP(ctx(), o, o.CreatedAt))
	return o
}

func newSession(t *testing.T, s store.Store, u store.User, mods ...func(*store.Session)) store.Session {
	t.Helper()
	x := store.Session{
		ID:             id("session"),
		ProjectID:      u.ProjectID,
		UserID:         u.ID,
		TokenHash:      []byte(id("token")),
		StartedAt:      t0,
		LastAccessedAt: t0,
		ExpiresAt:      t0.Add(time.Hour),
		IPAddress:      "192.0.2.1",
		UserAgent:      "test",
		CustomClaims:   json.RawMessage(`{}`),
		Factors: []store.Factor{{
			Type:                "magic_link",
			DeliveryMethod:      "email",
			LastAuthenticatedAt: t0,
			CreatedAt:           t0,
			UpdatedAt:           t0,
			EmailFactor:         &store.EmailFactor{EmailID: u.Emails[0].ID, EmailAddress: u.Emails[0].Address},
		}},
	}
	for _, f := range mods {
		f(&x)
	}
	must(t, s.CreateSession(ctx(), x))
	return x
}

func newSigningKey(t *testing.T, s store.Store, projectID string, created time.Time) store.SigningKey {
	t.Helper()
	k := store.SigningKey{
		KID:           id("jwk"),
		ProjectID:     projectID,
		PrivateKeyEnc: []byte("sealed " + id("key")),
		CertDER:       []byte("cert " + id("cert")),
		CreatedAt:     created,
	}
	must(t, s.AddSigningKey(ctx(), k))
	return k
}

func newMessage(t *testing.T, s store.Store, projectID, recipient string, due time.Time) store.OutboxMessage {
	t.Helper()
	m := store.OutboxMessage{
		ProjectID:     projectID,
		Channel:       store.ChannelEmail,
		Recipient:     recipient,
		Payload:       []byte("sealed payload " + recipient),
		CreatedAt:     t0,
		NextAttemptAt: due,
	}
	var err error
	m.ID, err = s.EnqueueMessage(ctx(), m)
	must(t, err)
	return m
}
