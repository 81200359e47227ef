package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var attemptBehaviours = []behaviour{
	{"ReservedAttemptsAreCountedAndRefusedOnceLocked", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		for i := 1; i <= 3; i++ {
			ok, err := s.ReserveAuthAttempt(ctx(), p.ID, u.ID, t0, 3, time.Hour)
			must(t, err)
			equal(t, "allowed up to the threshold", ok, true)
		}
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths after the lock", got.FailedAuths, 0)
		sameTimePtr(t, "LockExpiresAt", got.LockExpiresAt, ptr(t0.Add(time.Hour)))
		ok, err := s.ReserveAuthAttempt(ctx(), p.ID, u.ID, t0.Add(time.Minute), 3, time.Hour)
		must(t, err)
		equal(t, "allowed while locked", ok, false)
		got, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		sameTimePtr(t, "LockExpiresAt unchanged", got.LockExpiresAt, ptr(t0.Add(time.Hour)))
		// The lock ends: counted from zero, lock fields cleared.
		ok, err = s.ReserveAuthAttempt(ctx(), p.ID, u.ID, t0.Add(time.Hour), 3, time.Hour)
		must(t, err)
		equal(t, "allowed after the lock", ok, true)
		got, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths", got.FailedAuths, 1)
		sameTimePtr(t, "LockExpiresAt cleared", got.LockExpiresAt, nil)
		// Another project's user, or none: refused.
		q := newProject(t, s)
		ok, err = s.ReserveAuthAttempt(ctx(), q.ID, u.ID, t0, 3, time.Hour)
		must(t, err)
		equal(t, "another project's user", ok, false)
	}},
	{"ReservedAttemptsAtOnceAllowAtMostTheThreshold", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		var allowed atomic.Int64
		parallel(30, func(int) {
			ok, err := s.ReserveAuthAttempt(ctx(), p.ID, u.ID, t0, 7, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
		equal(t, "allowed", allowed.Load(), int64(7))
	}},
}
