package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

func newTOTP(t *testing.T, s store.Store, u store.User, codes ...string) store.TOTP {
	t.Helper()
	exp := t0.Add(time.Hour)
	tt := store.TOTP{ID: id("totp"), ProjectID: u.ProjectID, UserID: u.ID, SecretSealed: []byte("sealed"), CreatedAt: t0, ExpiresAt: &exp, LastStep: -1}
	var rc []store.RecoveryCode
	for _, c := range codes {
		rc = append(rc, store.RecoveryCode{ID: id("totp-recovery-code"), CodeHash: []byte("h:" + c), CodeSealed: []byte("s:" + c)})
	}
	must(t, s.CreateTOTP(ctx(), tt, rc))
	return tt
}

var totpBehaviours = []behaviour{
	{"ATOTPStepIsAcceptedOnceAndOnlyForward", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		tt := newTOTP(t, s, newUser(t, s, p.ID))
		must(t, s.AcceptTOTPStep(ctx(), p.ID, tt.ID, 100, t0))
		mustBe(t, s.AcceptTOTPStep(ctx(), p.ID, tt.ID, 100, t0), store.ErrConsumed)
		mustBe(t, s.AcceptTOTPStep(ctx(), p.ID, tt.ID, 99, t0), store.ErrConsumed)
		got, err := s.GetTOTP(ctx(), p.ID, tt.ID)
		must(t, err)
		equal(t, "Verified", got.Verified, true)
		equal(t, "LastStep", got.LastStep, int64(100))
		equal(t, "ExpiresAt cleared", got.ExpiresAt == nil, true)
		// Verified, it no longer expires.
		must(t, s.AcceptTOTPStep(ctx(), p.ID, tt.ID, 101, t0.Add(48*time.Hour)))
	}},
	{"AnUnverifiedTOTPPastItsExpiryAcceptsNothing", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		tt := newTOTP(t, s, newUser(t, s, p.ID))
		mustBe(t, s.AcceptTOTPStep(ctx(), p.ID, tt.ID, 5, t0.Add(time.Hour)), store.ErrConsumed)
	}},
	{"ConcurrentAcceptsOfOneStepSucceedOnce", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		tt := newTOTP(t, s, newUser(t, s, p.ID))
		var wins atomic.Int32
		parallel(8, func(int) {
			if s.AcceptTOTPStep(ctx(), p.ID, tt.ID, 7, t0) == nil {
				wins.Add(1)
			}
		})
		equal(t, "successful accepts", wins.Load(), int32(1))
	}},
	{"ARecoveryCodeIsRedeemedOnce", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		tt := newTOTP(t, s, newUser(t, s, p.ID), "a", "b")
		var wins atomic.Int32
		parallel(6, func(int) {
			if _, err := s.RedeemRecoveryCode(ctx(), p.ID, tt.ID, []byte("h:a"), t0); err == nil {
				wins.Add(1)
			}
		})
		equal(t, "successful redemptions", wins.Load(), int32(1))
		_, err := s.RedeemRecoveryCode(ctx(), p.ID, tt.ID, []byte("h:a"), t0)
		mustBe(t, err, store.ErrNotFound)
		left, err := s.ListRecoveryCodes(ctx(), p.ID, tt.ID)
		must(t, err)
		equal(t, "codes left", len(left), 1)
		equal(t, "the code left", string(left[0].CodeSealed), "s:b")
		// Another project cannot redeem it.
		q := newProject(t, s)
		_, err = s.RedeemRecoveryCode(ctx(), q.ID, tt.ID, []byte("h:b"), t0)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"AUserHasOneTOTPAndAVerifiedOneBlocksANewOne", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		first := newTOTP(t, s, u, "x")
		second := newTOTP(t, s, u, "y") // replaces the unverified first
		_, err := s.GetTOTP(ctx(), p.ID, first.ID)
		mustBe(t, err, store.ErrNotFound)
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "TOTPs", len(got.TOTPs), 1)
		equal(t, "TOTP id", got.TOTPs[0].ID, second.ID)
		must(t, s.AcceptTOTPStep(ctx(), p.ID, second.ID, 1, t0))
		exp := t0.Add(time.Hour)
		mustBe(t, s.CreateTOTP(ctx(), store.TOTP{ID: id("totp"), ProjectID: p.ID, UserID: u.ID, SecretSealed: []byte("s"), CreatedAt: t0, ExpiresAt: &exp, LastStep: -1}, nil), store.ErrAlreadyExists)
		must(t, s.DeleteTOTP(ctx(), p.ID, second.ID))
		mustBe(t, s.DeleteTOTP(ctx(), p.ID, second.ID), store.ErrNotFound)
		got, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "TOTPs after delete", len(got.TOTPs), 0)
	}},
	{"TheSweepRemovesUnverifiedTOTPsPastTheirExpiry", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		stale := newTOTP(t, s, newUser(t, s, p.ID))
		kept := newTOTP(t, s, newUser(t, s, p.ID))
		must(t, s.AcceptTOTPStep(ctx(), p.ID, kept.ID, 1, t0))
		_, err := s.DeleteExpired(ctx(), t0.Add(2*time.Hour))
		must(t, err)
		_, err = s.GetTOTP(ctx(), p.ID, stale.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetTOTP(ctx(), p.ID, kept.ID)
		must(t, err)
	}},
}
