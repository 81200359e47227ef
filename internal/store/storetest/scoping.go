package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var scopingBehaviours = []behaviour{
	{"AnotherProjectCannotReadChangeOrRedeemAnything", func(t *testing.T, s store.Store) {
		a, b := newProject(t, s), newProject(t, s)
		u := newUser(t, s, a.ID, func(u *store.User) { u.ExternalID = "ext-a" })
		ml := newMagicLink(t, s, u)
		otp := newOTP(t, s, u)
		sess := newSession(t, s, u)
		key := newSigningKey(t, s, a.ID, t0)
		secret := store.ProjectSecret{ID: id("secret"), ProjectID: a.ID, Hash: []byte{9}, CreatedAt: t0}
		must(t, s.AddProjectSecret(ctx(), secret))
		must(t, s.AddRedirectURL(ctx(), store.RedirectURL{ProjectID: a.ID, URL: "https://a.example/cb", CreatedAt: t0}))
		_, err := s.CountHit(ctx(), a.ID, "k", t0)
		must(t, err)
		email, phone := u.Emails[0], u.Phones[0]
		B := b.ID

		notFound := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("project B %s: error = %v, want ErrNotFound", what, err)
			}
		}
		empty := func(what string, n int, err error) {
			t.Helper()
			if err != nil || n != 0 {
				t.Errorf("project B %s: %d, %v; want nothing", what, n, err)
			}
		}

		// Reads.
		_, err = s.GetUser(ctx(), B, u.ID)
		notFound("GetUser", err)
		_, err = s.GetUser(ctx(), B, "ext-a")
		notFound("GetUser by external id", err)
		_, err = s.GetUserByEmail(ctx(), B, email.Address)
		notFound("GetUserByEmail", err)
		_, err = s.GetUserByPhone(ctx(), B, phone.Number)
		notFound("GetUserByPhone", err)
		_, err = s.GetEmail(ctx(), B, email.ID)
		notFound("GetEmail", err)
		_, err = s.GetPhone(ctx(), B, phone.ID)
		notFound("GetPhone", err)
		_, err = s.GetLatestOTP(ctx(), B, otp.MethodID)
		notFound("GetLatestOTP", err)
		_, err = s.GetSession(ctx(), B, sess.ID)
		notFound("GetSession", err)
		_, err = s.GetSessionByTokenHash(ctx(), B, sess.TokenHash)
		notFound("GetSessionByTokenHash", err)
		list, err := s.ListSessions(ctx(), B, u.ID, t0)
		empty("ListSessions", len(list), err)
		users, total, err := s.SearchUsers(ctx(), B, store.UserQuery{}, store.Page{Limit: 10})
		empty("SearchUsers", len(users)+total, err)
		users, total, err = s.SearchUsers(ctx(), B, store.UserQuery{Operator: "AND", Filters: []store.UserFilter{
			{Name: "user_id", Strings: []string{u.ID}}}}, store.Page{Limit: 10})
		empty("SearchUsers by id", len(users)+total, err)
		keys, err := s.ListSigningKeys(ctx(), B, t0)
		empty("ListSigningKeys", len(keys), err)
		secrets, err := s.ListProjectSecrets(ctx(), B)
		empty("ListProjectSecrets", len(secrets), err)
		urls, err := s.ListRedirectURLs(ctx(), B)
		empty("ListRedirectURLs", len(urls), err)

		// Writes.
		moved := u
		moved.ProjectID = B
		moved.FirstName = "Mallory"
		notFound("UpdateUser", s.UpdateUser(ctx(), moved))
		notFound("VerifyEmail", s.VerifyEmail(ctx(), B, email.ID))
		notFound("VerifyPhone", s.VerifyPhone(ctx(), B, phone.ID))
		_, err = s.RecordAuthFailure(ctx(), B, u.ID, t0, 1, time.Hour)
		notFound("RecordAuthFailure", err)
		notFound("ResetAuthFailures", s.ResetAuthFailures(ctx(), B, u.ID, t0, time.Time{}))
		_, err = s.RedeemMagicLink(ctx(), B, ml.TokenHash, t0)
		notFound("RedeemMagicLink", err)
		must(t, s.RevokeMagicLinks(ctx(), B, u.ID, "", t0))
		notFound("RedeemOTP", s.RedeemOTP(ctx(), B, otp.ID, t0, 5))
		_, err = s.RecordOTPFailure(ctx(), B, otp.ID)
		notFound("RecordOTPFailure", err)
		// A code for A's user in B's name fails, and does not end A's code.
		notFound("CreateOTP", s.CreateOTP(ctx(), store.OTP{ID: id("otp"), ProjectID: B, UserID: u.ID, MethodID: otp.MethodID,
			Channel: store.ChannelSMS, CodeHash: []byte("x"), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}, t0))
		bad := sess
		bad.ProjectID = B
		bad.ExpiresAt = t0.Add(-time.Hour)
		notFound("UpdateSession", s.UpdateSession(ctx(), bad))
		notFound("TouchSession", s.TouchSession(ctx(), B, sess.ID, t0, ptr(t0.Add(-time.Hour))))
		must(t, s.RetireSigningKeys(ctx(), B, t0, t0))
		notFound("DeleteProjectSecret", s.DeleteProjectSecret(ctx(), B, secret.ID))
		notFound("DeleteRedirectURL", s.DeleteRedirectURL(ctx(), B, "https://a.example/cb"))
		n, err := s.CountHit(ctx(), B, "k", t0)
		must(t, err)
		equal(t, "B's own counter", n, 1)

		// Attaching things of B to A's user.
		notFound("AddEmail", s.AddEmail(ctx(), newEmail(B, u.ID)))
		notFound("AddPhone", s.AddPhone(ctx(), newPhone(B, u.ID)))
		notFound("CreateMagicLink", s.CreateMagicLink(ctx(), store.MagicLink{TokenHash: []byte("b"), ProjectID: B, UserID: u.ID,
			Kind: store.MagicLinkLogin, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		notFound("CreateSession", s.CreateSession(ctx(), store.Session{ID: id("session"), ProjectID: B, UserID: u.ID,
			TokenHash: []byte("b"), StartedAt: t0, LastAccessedAt: t0, ExpiresAt: t0.Add(time.Hour), CustomClaims: json.RawMessage(`{}`)}))

		// Deletes.
		notFound("DeleteEmail", s.DeleteEmail(ctx(), B, email.ID))
		notFound("DeletePhone", s.DeletePhone(ctx(), B, phone.ID))
		notFound("DeleteSession", s.DeleteSession(ctx(), B, sess.ID))
		n, err = s.DeleteUserSessions(ctx(), B, u.ID)
		empty("DeleteUserSessions", n, err)
		notFound("DeleteUser", s.DeleteUser(ctx(), B, u.ID))

		// A's data is intact.
		got, err := s.GetUser(ctx(), a.ID, u.ID)
		must(t, err)
		equal(t, "FirstName", got.FirstName, u.FirstName)
		equal(t, "FailedAuths", got.FailedAuths, 0)
		equal(t, "emails", len(got.Emails), 1)
		equal(t, "phones", len(got.Phones), 1)
		equal(t, "email verified", got.Emails[0].Verified, false)
		equal(t, "phone verified", got.Phones[0].Verified, false)
		gotSess, err := s.GetSession(ctx(), a.ID, sess.ID)
		must(t, err)
		sameTime(t, "session ExpiresAt", gotSess.ExpiresAt, sess.ExpiresAt)
		sameTime(t, "session LastAccessedAt", gotSess.LastAccessedAt, sess.LastAccessedAt)
		gotOTP, err := s.GetLatestOTP(ctx(), a.ID, otp.MethodID)
		must(t, err)
		equal(t, "otp attempts", gotOTP.Attempts, 0)
		must(t, s.RedeemOTP(ctx(), a.ID, otp.ID, t0, 5))
		_, err = s.RedeemMagicLink(ctx(), a.ID, ml.TokenHash, t0)
		must(t, err)
		keys, err = s.ListSigningKeys(ctx(), a.ID, t0.Add(time.Hour))
		must(t, err)
		equal(t, "keys", len(keys), 1)
		sameTimePtr(t, "key not retired", keys[0].RetiredAt, nil)
		equal(t, "key", keys[0].KID, key.KID)
		secrets, err = s.ListProjectSecrets(ctx(), a.ID)
		must(t, err)
		equal(t, "secrets", len(secrets), 1)
		urls, err = s.ListRedirectURLs(ctx(), a.ID)
		must(t, err)
		equal(t, "urls", len(urls), 1)
		n, err = s.CountHit(ctx(), a.ID, "k", t0)
		must(t, err)
		equal(t, "A's counter", n, 2)
	}},
}

var txBehaviours = []behaviour{
	{"PingAnswersInAndOutOfATransaction", func(t *testing.T, s store.Store) {
		must(t, s.Ping(ctx()))
		must(t, s.InTx(ctx(), func(tx store.Store) error { return tx.Ping(ctx()) }))
	}},
	{"InTxRollsBackEverythingWhenFnFails", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		boom := errors.New("boom")
		var userID string
		err := s.InTx(ctx(), func(tx store.Store) error {
			u := newUser(t, tx, p.ID)
			userID = u.ID
			newSession(t, tx, u)
			if _, err := tx.EnqueueMessage(ctx(), store.OutboxMessage{ProjectID: p.ID, Channel: store.ChannelEmail,
				Recipient: "r@example.com", Payload: []byte("x"), CreatedAt: t0, NextAttemptAt: t0}); err != nil {
				return err
			}
			// Reads inside the transaction see its writes.
			if _, err := tx.GetUser(ctx(), p.ID, u.ID); err != nil {
				return err
			}
			return boom
		})
		mustBe(t, err, boom)
		_, err = s.GetUser(ctx(), p.ID, userID)
		mustBe(t, err, store.ErrNotFound)
		n, err := s.CountPendingMessages(ctx())
		must(t, err)
		equal(t, "messages", n, 0)
	}},
	{"InTxCommitsWhenFnSucceedsAndNests", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		var u store.User
		err := s.InTx(ctx(), func(tx store.Store) error {
			u = newUser(t, tx, p.ID)
			return tx.InTx(ctx(), func(inner store.Store) error {
				return inner.CreateMagicLink(ctx(), store.MagicLink{TokenHash: []byte("nested"), ProjectID: p.ID, UserID: u.ID,
					EmailID: u.Emails[0].ID, Kind: store.MagicLinkLogin, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
			})
		})
		must(t, err)
		_, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		_, err = s.RedeemMagicLink(ctx(), p.ID, []byte("nested"), t0)
		must(t, err)
	}},
	{"AFailingNestedInTxRollsBackTheOuterOne", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		boom := errors.New("inner")
		var userID string
		err := s.InTx(ctx(), func(tx store.Store) error {
			userID = newUser(t, tx, p.ID).ID
			return tx.InTx(ctx(), func(store.Store) error { return boom })
		})
		mustBe(t, err, boom)
		_, err = s.GetUser(ctx(), p.ID, userID)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"AFailedWriteInsideATransactionUndoesOnlyItselfAndTheTransactionGoesOn", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		taken := newUser(t, s, p.ID)
		var a, b store.User
		err := s.InTx(ctx(), func(tx store.Store) error {
			a = newUser(t, tx, p.ID)
			// A user whose second email is taken: nothing of it may stay.
			b = store.User{ID: id("user"), ProjectID: p.ID, Status: "active", CreatedAt: t0}
			e := newEmail(p.ID, b.ID)
			dup := newEmail(p.ID, b.ID)
			dup.Address = strings.ToUpper(taken.Emails[0].Address)
			b.Emails = []store.Email{e, dup}
			if err := tx.CreateUser(ctx(), b); !errors.Is(err, store.ErrDuplicateEmail) {
				t.Errorf("CreateUser = %v, want ErrDuplicateEmail", err)
			}
			if _, err := tx.GetUser(ctx(), p.ID, b.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("half-created user inside the transaction: %v", err)
			}
			dupPhone := newPhone(p.ID, a.ID)
			dupPhone.Number = taken.Phones[0].Number
			if err := tx.AddPhone(ctx(), dupPhone); !errors.Is(err, store.ErrDuplicatePhone) {
				t.Errorf("AddPhone = %v, want ErrDuplicatePhone", err)
			}
			if _, err := tx.EnqueueMessage(ctx(), store.OutboxMessage{ProjectID: id("project"), Channel: store.ChannelEmail,
				Recipient: "x@example.com", Payload: []byte("x"), CreatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("EnqueueMessage for a missing project = %v, want ErrNotFound", err)
			}
			// The transaction is still usable.
			return tx.CreateMagicLink(ctx(), store.MagicLink{TokenHash: []byte("after"), ProjectID: p.ID, UserID: a.ID,
				EmailID: a.Emails[0].ID, Kind: store.MagicLinkLogin, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		})
		must(t, err)
		_, err = s.GetUser(ctx(), p.ID, a.ID)
		must(t, err)
		_, err = s.GetUser(ctx(), p.ID, b.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetEmail(ctx(), p.ID, b.Emails[0].ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.RedeemMagicLink(ctx(), p.ID, []byte("after"), t0)
		must(t, err)
	}},
	{"ConcurrentTransactionsDoNotLoseWrites", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		const n = 10
		parallel(n, func(i int) {
			err := s.InTx(ctx(), func(tx store.Store) error {
				u := store.User{ID: id("user"), ProjectID: p.ID, Status: "active", CreatedAt: t0}
				if err := tx.CreateUser(ctx(), u); err != nil {
					return err
				}
				_, err := tx.CountHit(ctx(), p.ID, "tx", t0)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
		_, total, err := s.SearchUsers(ctx(), p.ID, store.UserQuery{}, store.Page{Limit: 1})
		must(t, err)
		equal(t, "users", total, n)
		got, err := s.CountHit(ctx(), p.ID, "tx", t0)
		must(t, err)
		equal(t, "hits", got, n+1)
	}},
}
