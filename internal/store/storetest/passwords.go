package storetest

import (
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var passwordBehaviours = []behaviour{
	{"APasswordIsStoredReadAndShownOnItsUser", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "PasswordID before", got.PasswordID, "")
		pw, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "$argon2id$first", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		read, err := s.GetPassword(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "ID", read.ID, pw.ID)
		equal(t, "Hash", read.Hash, "$argon2id$first")
		sameTime(t, "CreatedAt", read.CreatedAt, t0)
		got, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "PasswordID", got.PasswordID, pw.ID)
	}},
	{"SettingAPasswordAgainReplacesTheHashAndKeepsTheID", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		first, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "one", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		later := t0.Add(time.Hour)
		second, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "two", CreatedAt: later, UpdatedAt: later})
		must(t, err)
		equal(t, "ID kept", second.ID, first.ID)
		sameTime(t, "CreatedAt kept", second.CreatedAt, t0)
		sameTime(t, "UpdatedAt", second.UpdatedAt, later)
		read, err := s.GetPassword(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "Hash", read.Hash, "two")
	}},
	{"ReplacingAPasswordHashIsConditionalOnTheOldHash", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		pw, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "old", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		must(t, s.ReplacePasswordHash(ctx(), p.ID, pw.ID, "old", "new", t0))
		mustBe(t, s.ReplacePasswordHash(ctx(), p.ID, pw.ID, "old", "newer", t0), store.ErrConsumed)
		read, err := s.GetPassword(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "Hash", read.Hash, "new")
	}},
	{"APasswordOfAMissingUserIsNotFound", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		_, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: id("user"), Hash: "h", CreatedAt: t0, UpdatedAt: t0})
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetPassword(ctx(), p.ID, id("user"))
		mustBe(t, err, store.ErrNotFound)
	}},
	{"DeletingAPasswordNeedsItsProjectAndGoesWithItsUser", func(t *testing.T, s store.Store) {
		p, other := newProject(t, s), newProject(t, s)
		u := newUser(t, s, p.ID)
		pw, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "h", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		_, err = s.DeletePassword(ctx(), other.ID, pw.ID)
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.ReplacePasswordHash(ctx(), other.ID, pw.ID, "h", "x", t0), store.ErrConsumed)
		_, err = s.GetPassword(ctx(), other.ID, u.ID)
		mustBe(t, err, store.ErrNotFound)
		owner, err := s.DeletePassword(ctx(), p.ID, pw.ID)
		must(t, err)
		equal(t, "owner", owner, u.ID)
		_, err = s.GetPassword(ctx(), p.ID, u.ID)
		mustBe(t, err, store.ErrNotFound)

		v := newUser(t, s, p.ID)
		_, err = s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: v.ID, Hash: "h", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		must(t, s.DeleteUser(ctx(), p.ID, v.ID))
		_, err = s.GetPassword(ctx(), p.ID, v.ID)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"APasswordMarkedForResetStaysMarkedUntilSetAgain", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, p.ID)
		must(t, s.RequirePasswordReset(ctx(), p.ID, v.ID)) // no password: nothing to mark
		_, err := s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "h", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		must(t, s.RequirePasswordReset(ctx(), p.ID, u.ID))
		pw, err := s.GetPassword(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "RequiresReset", pw.RequiresReset, true)
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "user's PasswordRequiresReset", got.PasswordRequiresReset, true)
		must(t, s.ReplacePasswordHash(ctx(), p.ID, pw.ID, "h", "h2", t0))
		pw, err = s.GetPassword(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "RequiresReset after a rehash", pw.RequiresReset, true)
		_, err = s.SetPassword(ctx(), store.Password{ID: id("password"), ProjectID: p.ID, UserID: u.ID, Hash: "h3", CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
		pw, err = s.GetPassword(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "RequiresReset after a new password", pw.RequiresReset, false)
	}},
	{"PasswordPolicySettingsAreStored", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		got, err := s.GetProject(ctx(), p.ID)
		must(t, err)
		equal(t, "default policy", got.PasswordPolicy, store.PolicyZxcvbn)
		got.PasswordPolicy, got.LUDSMinLength, got.LUDSComplexity = store.PolicyLUDS, 12, 4
		must(t, s.UpdateProjectSettings(ctx(), got))
		again, err := s.GetProject(ctx(), p.ID)
		must(t, err)
		equal(t, "policy", again.PasswordPolicy, store.PolicyLUDS)
		equal(t, "min length", again.LUDSMinLength, 12)
		equal(t, "complexity", again.LUDSComplexity, 4)
	}},
}
