// Package auth holds Latch's rules: users, magic links, one-time passcodes
// and sessions. It knows nothing about HTTP; it takes a clock so expiry is
// tested without sleeping, and reports caller-visible failures as *Error.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Service is the domain layer. One Service serves every project.
type Service struct {
	store  store.Store
	keys   *keys.Keys
	ring   *secret.Keyring
	now    func() time.Time
	notify func()
	log    *slog.Logger
	// projects caches project rows by id (cachedProject values).
	projects sync.Map
	// searches caps the searches in flight per project; searchTimeout
	// bounds each.
	searches      searchGate
	searchTimeout time.Duration
	deliverable   func(channel string) bool
	// passwords hashes and checks passwords (bounded, counted).
	passwords *passwordHasher
	// breached is the breached-password range files' directory, "" = none.
	breached string
}

// Config wires a Service.
type Config struct {
	Store  store.Store
	Keys   *keys.Keys
	Ring   *secret.Keyring
	Now    func() time.Time // the clock; time.Now when nil
	Notify func()           // wakes the outbox sender after a message is queued
	Logger *slog.Logger
	// SearchTimeout bounds one users/search; DefaultSearchTimeout when 0.
	SearchTimeout time.Duration
	// Deliverable reports whether a channel (email, sms, whatsapp) has a
	// transport; nil = every channel has. Without one, live projects are
	// refused sends on that channel (test projects use the dev outbox).
	Deliverable func(channel string) bool
	// BreachedPasswordsDir holds range files of breached passwords' SHA-1
	// (Have I Been Pwned's k-anonymity format); "" = no breach check.
	BreachedPasswordsDir string
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, keys: c.Keys, ring: c.Ring, now: c.Now, notify: c.Notify, log: c.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.notify == nil {
		s.notify = func() {}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.deliverable = c.Deliverable
	s.passwords = newPasswordHasher()
	s.breached = c.BreachedPasswordsDir
	s.searchTimeout = c.SearchTimeout
	if s.searchTimeout <= 0 {
		s.searchTimeout = DefaultSearchTimeout
	}
	return s
}

// Now is the service's clock, truncated to whole seconds as Stytch's
// timestamps are.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Second) }

// Store gives the api layer read access for health checks.
func (s *Service) Store() store.Store { return s.store }

// Keys gives the api layer the JWKS.
func (s *Service) Keys() *keys.Keys { return s.keys }

// checkTransport fails closed: a live project may send on a channel only
// when the channel has a transport; the dev outbox is for test projects.
// It runs before anything is written, so a refused send queues nothing.
func (s *Service) checkTransport(p store.Project, channel string) error {
	if !p.Live || s.deliverable == nil || s.deliverable(channel) {
		return nil
	}
	return ErrNoTransport(channel)
}

// storeErr maps a store error that the caller did not expect to either a
// 503 (the database is away) or an internal error.
func storeErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := AsError(err); ok {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The request's time ran out: say what timed out, not that the
		// database is down (it may only be slow).
		return fmt.Errorf("%w (%s: %v)", ErrServiceUnavailable.With("The request did not finish in time (%s timed out). Try again shortly.", what), what, err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w (%s: %v)", ErrServiceUnavailable, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
