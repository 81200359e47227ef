package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var projectBehaviours = []behaviour{
	{"CreatedProjectReadsBackTheSame", func(t *testing.T, s store.Store) {
		p := store.Project{ID: id("project"), Name: "Acme", Live: true, CreatedAt: t0, LockThreshold: 7, LockTTL: 90 * time.Minute}
		must(t, s.CreateProject(ctx(), p))
		got, err := s.GetProject(ctx(), p.ID)
		must(t, err)
		equal(t, "ID", got.ID, p.ID)
		equal(t, "Name", got.Name, p.Name)
		equal(t, "Live", got.Live, true)
		sameTime(t, "CreatedAt", got.CreatedAt, t0)
		equal(t, "LockThreshold", got.LockThreshold, 7)
		equal(t, "LockTTL", got.LockTTL, 90*time.Minute)
	}},
	{"ProjectSettingsAreUpdated", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		p.Name, p.LockThreshold, p.LockTTL = "Renamed", 3, 10*time.Minute
		p.RecipientSendsPerMinute, p.ProjectSendsPerMinute = 2, 50
		must(t, s.UpdateProjectSettings(ctx(), p))
		got, err := s.GetProject(ctx(), p.ID)
		must(t, err)
		equal(t, "Name", got.Name, "Renamed")
		equal(t, "LockThreshold", got.LockThreshold, 3)
		equal(t, "LockTTL", got.LockTTL, 10*time.Minute)
		equal(t, "RecipientSendsPerMinute", got.RecipientSendsPerMinute, 2)
		equal(t, "ProjectSendsPerMinute", got.ProjectSendsPerMinute, 50)
		missing := p
		missing.ID = id("project")
		mustBe(t, s.UpdateProjectSettings(ctx(), missing), store.ErrNotFound)
	}},
	{"CreatingAProjectTwiceFailsWithAlreadyExists", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		mustBe(t, s.CreateProject(ctx(), p), store.ErrAlreadyExists)
	}},
	{"GettingAMissingProjectFailsWithNotFound", func(t *testing.T, s store.Store) {
		_, err := s.GetProject(ctx(), id("project"))
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.DeleteProject(ctx(), id("project")), store.ErrNotFound)
	}},
	{"ListProjectsReturnsEveryProject", func(t *testing.T, s store.Store) {
		ps, err := s.ListProjects(ctx())
		must(t, err)
		if ps == nil || len(ps) != 0 {
			t.Fatalf("empty store lists %v, want an empty slice", ps)
		}
		a, b := newProject(t, s), newProject(t, s)
		ps, err = s.ListProjects(ctx())
		must(t, err)
		equal(t, "len", len(ps), 2)
		seen := map[string]bool{ps[0].ID: true, ps[1].ID: true}
		if !seen[a.ID] || !seen[b.ID] {
			t.Fatalf("ListProjects = %v, want %s and %s", ps, a.ID, b.ID)
		}
	}},
	{"ProjectSecretsAreAddedListedAndDeleted", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		s1 := store.ProjectSecret{ID: id("secret"), ProjectID: p.ID, Hash: []byte{1, 2, 3}, CreatedAt: t0}
		s2 := store.ProjectSecret{ID: id("secret"), ProjectID: p.ID, Hash: []byte{4, 5, 6}, CreatedAt: t0.Add(time.Second)}
		must(t, s.AddProjectSecret(ctx(), s1))
		must(t, s.AddProjectSecret(ctx(), s2))
		mustBe(t, s.AddProjectSecret(ctx(), s1), store.ErrAlreadyExists)
		got, err := s.ListProjectSecrets(ctx(), p.ID)
		must(t, err)
		equal(t, "len", len(got), 2)
		equal(t, "first", got[0].ID, s1.ID)
		equal(t, "hash", string(got[0].Hash), string(s1.Hash))
		sameTime(t, "CreatedAt", got[1].CreatedAt, s2.CreatedAt)
		must(t, s.DeleteProjectSecret(ctx(), p.ID, s1.ID))
		mustBe(t, s.DeleteProjectSecret(ctx(), p.ID, s1.ID), store.ErrNotFound)
		got, err = s.ListProjectSecrets(ctx(), p.ID)
		must(t, err)
		equal(t, "len after delete", len(got), 1)
	}},
	{"RedirectURLsKeepTheirOrderAndRefuseRepeats", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		for i, u := range []string{"https://b.example/cb", "https://a.example/cb"} {
			must(t, s.AddRedirectURL(ctx(), store.RedirectURL{ProjectID: p.ID, URL: u, CreatedAt: t0.Add(time.Duration(i) * time.Second)}))
		}
		mustBe(t, s.AddRedirectURL(ctx(), store.RedirectURL{ProjectID: p.ID, URL: "https://a.example/cb", CreatedAt: t0}), store.ErrAlreadyExists)
		got, err := s.ListRedirectURLs(ctx(), p.ID)
		must(t, err)
		equal(t, "len", len(got), 2)
		equal(t, "oldest first", got[0].URL, "https://b.example/cb")
		must(t, s.DeleteRedirectURL(ctx(), p.ID, "https://b.example/cb"))
		mustBe(t, s.DeleteRedirectURL(ctx(), p.ID, "https://b.example/cb"), store.ErrNotFound)
		got, err = s.ListRedirectURLs(ctx(), p.ID)
		must(t, err)
		equal(t, "len after delete", len(got), 1)
	}},
	{"DeletingAProjectDeletesEverythingItOwns", func(t *testing.T, s store.Store) {
		p, other := newProject(t, s), newProject(t, s)
		u := newUser(t, s, p.ID)
		keep := newUser(t, s, other.ID)
		must(t, s.AddProjectSecret(ctx(), store.ProjectSecret{ID: id("secret"), ProjectID: p.ID, Hash: []byte{1}, CreatedAt: t0}))
		must(t, s.AddRedirectURL(ctx(), store.RedirectURL{ProjectID: p.ID, URL: "https://x.example", CreatedAt: t0}))
		ml := newMagicLink(t, s, u)
		otp := newOTP(t, s, u)
		sess := newSession(t, s, u)
		newSigningKey(t, s, p.ID, t0)
		newMessage(t, s, p.ID, "a@example.com", t0)
		_, err := s.CountHit(ctx(), p.ID, "k", t0)
		must(t, err)

		must(t, s.DeleteProject(ctx(), p.ID))

		_, err = s.GetProject(ctx(), p.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetUser(ctx(), p.ID, u.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetEmail(ctx(), p.ID, u.Emails[0].ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetPhone(ctx(), p.ID, u.Phones[0].ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.RedeemMagicLink(ctx(), p.ID, ml.TokenHash, t0)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetLatestOTP(ctx(), p.ID, otp.MethodID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSession(ctx(), p.ID, sess.ID)
		mustBe(t, err, store.ErrNotFound)
		secrets, err := s.ListProjectSecrets(ctx(), p.ID)
		must(t, err)
		equal(t, "secrets left", len(secrets), 0)
		urls, err := s.ListRedirectURLs(ctx(), p.ID)
		must(t, err)
		equal(t, "redirect urls left", len(urls), 0)
		keys, err := s.ListSigningKeys(ctx(), p.ID, t0)
		must(t, err)
		equal(t, "keys left", len(keys), 0)
		msgs, err := s.ListMessages(ctx(), "a@example.com", 10)
		must(t, err)
		equal(t, "messages left", len(msgs), 0)
		n, err := s.CountHit(ctx(), p.ID, "k", t0)
		must(t, err)
		equal(t, "rate counter restarts", n, 1)

		_, err = s.GetUser(ctx(), other.ID, keep.ID)
		must(t, err)
	}},
}

var userBehaviours = []behaviour{
	{"CreatedUserReadsBackWithEmailsPhonesAndFields", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID, func(u *store.User) {
			u.ExternalID = "ext-1"
			u.Status = "pending"
			u.MiddleName = "King"
			u.TrustedMetadata = json.RawMessage(`{"plan":"pro","n":1}`)
			u.UntrustedMetadata = json.RawMessage(`{"theme":"dark"}`)
			u.Roles = []string{"admin", "editor"}
			second := newEmail(p.ID, u.ID)
			second.CreatedAt = t0.Add(time.Second)
			second.Verified = true
			second.Address = "Second.Address@Example.COM"
			u.Emails = append(u.Emails, second)
		})
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "ID", got.ID, u.ID)
		equal(t, "ProjectID", got.ProjectID, p.ID)
		equal(t, "ExternalID", got.ExternalID, "ext-1")
		equal(t, "Status", got.Status, "pending")
		equal(t, "FirstName", got.FirstName, "Ada")
		equal(t, "MiddleName", got.MiddleName, "King")
		equal(t, "LastName", got.LastName, "Lovelace")
		sameJSON(t, "TrustedMetadata", got.TrustedMetadata, `{"plan":"pro","n":1}`)
		sameJSON(t, "UntrustedMetadata", got.UntrustedMetadata, `{"theme":"dark"}`)
		equal(t, "Roles", strings.Join(got.Roles, ","), "admin,editor")
		sameTime(t, "CreatedAt", got.CreatedAt, t0)
		equal(t, "FailedAuths", got.FailedAuths, 0)
		sameTimePtr(t, "LockExpiresAt", got.LockExpiresAt, nil)
		equal(t, "emails", len(got.Emails), 2)
		equal(t, "first email", got.Emails[0].ID, u.Emails[0].ID)
		equal(t, "second email keeps its case", got.Emails[1].Address, "Second.Address@Example.COM")
		equal(t, "second email verified", got.Emails[1].Verified, true)
		equal(t, "email user", got.Emails[0].UserID, u.ID)
		equal(t, "phones", len(got.Phones), 1)
		equal(t, "phone", got.Phones[0].Number, u.Phones[0].Number)
		equal(t, "phone verified", got.Phones[0].Verified, false)
		sameTimePtr(t, "phone PendingUntil", got.Phones[0].PendingUntil, nil)
	}},
	{"AUserWithoutMethodsOrMetadataComesBackWithEmptyValuesNotNil", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID, func(u *store.User) { u.Emails, u.Phones = nil, nil })
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		if got.Emails == nil || got.Phones == nil || got.Roles == nil {
			t.Fatalf("nil slices: emails %v phones %v roles %v", got.Emails == nil, got.Phones == nil, got.Roles == nil)
		}
		sameJSON(t, "TrustedMetadata", got.TrustedMetadata, `{}`)
		sameJSON(t, "UntrustedMetadata", got.UntrustedMetadata, `{}`)
		equal(t, "ExternalID", got.ExternalID, "")
	}},
	{"GetUserFindsAUserByExternalID", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID, func(u *store.User) { u.ExternalID = "crm-42" })
		got, err := s.GetUser(ctx(), p.ID, "crm-42")
		must(t, err)
		equal(t, "ID", got.ID, u.ID)
		equal(t, "emails", len(got.Emails), 1)
	}},
	{"AValueOfAUserIDsFormIsNeverLookedUpAsAnExternalID", func(t *testing.T, s store.Store) {
		// The API refuses such external ids; a row that has one anyway
		// (written before that rule) is not reachable through it, so a
		// deleted user's id can never find another user.
		p := newProject(t, s)
		gone := id("user")
		newUser(t, s, p.ID, func(u *store.User) { u.ExternalID = gone })
		_, err := s.GetUser(ctx(), p.ID, gone)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"GettingAMissingUserFailsWithNotFound", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		_, err := s.GetUser(ctx(), p.ID, id("user"))
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetUser(ctx(), p.ID, "")
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetUserByEmail(ctx(), p.ID, "nobody@example.com")
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetUserByPhone(ctx(), p.ID, "+15550000000")
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.UpdateUser(ctx(), store.User{ID: id("user"), ProjectID: p.ID, Status: "active"}), store.ErrNotFound)
		mustBe(t, s.DeleteUser(ctx(), p.ID, id("user")), store.ErrNotFound)
		_, err = s.RecordAuthFailure(ctx(), p.ID, id("user"), t0, 10, time.Hour)
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.ResetAuthFailures(ctx(), p.ID, id("user"), t0, time.Time{}), store.ErrNotFound)
	}},
	{"CreatingAUserTwiceFailsWithAlreadyExists", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		u.Emails, u.Phones = nil, nil
		mustBe(t, s.CreateUser(ctx(), u), store.ErrAlreadyExists)
	}},
	{"EmailsAreUniquePerProjectIgnoringCase", func(t *testing.T, s store.Store) {
		p, other := newProject(t, s), newProject(t, s)
		newUser(t, s, p.ID, func(u *store.User) { u.Emails[0].Address = "Ada@Example.com" })

		second := store.User{ID: id("user"), ProjectID: p.ID, Status: "active", CreatedAt: t0}
		e := newEmail(p.ID, second.ID)
		e.Address = "ada@EXAMPLE.com"
		second.Emails = []store.Email{e}
		mustBe(t, s.CreateUser(ctx(), second), store.ErrDuplicateEmail)
		// The failed create left nothing behind.
		_, err := s.GetUser(ctx(), p.ID, second.ID)
		mustBe(t, err, store.ErrNotFound)

		third := newUser(t, s, p.ID)
		e = newEmail(p.ID, third.ID)
		e.Address = "ADA@example.com"
		mustBe(t, s.AddEmail(ctx(), e), store.ErrDuplicateEmail)

		// Another project may use the same address.
		newUser(t, s, other.ID, func(u *store.User) { u.Emails[0].Address = "ada@example.com" })

		got, err := s.GetUserByEmail(ctx(), p.ID, "ADA@EXAMPLE.COM")
		must(t, err)
		equal(t, "address as stored", got.Emails[0].Address, "Ada@Example.com")
	}},
	{"PhonesAreUniquePerProject", func(t *testing.T, s store.Store) {
		p, other := newProject(t, s), newProject(t, s)
		u := newUser(t, s, p.ID)
		v := newUser(t, s, p.ID)
		ph := newPhone(p.ID, v.ID)
		ph.Number = u.Phones[0].Number
		mustBe(t, s.AddPhone(ctx(), ph), store.ErrDuplicatePhone)
		w := store.User{ID: id("user"), ProjectID: p.ID, Status: "active", CreatedAt: t0}
		ph = newPhone(p.ID, w.ID)
		ph.Number = u.Phones[0].Number
		w.Phones = []store.Phone{ph}
		mustBe(t, s.CreateUser(ctx(), w), store.ErrDuplicatePhone)
		newUser(t, s, other.ID, func(x *store.User) { x.Phones[0].Number = u.Phones[0].Number })
		got, err := s.GetUserByPhone(ctx(), p.ID, u.Phones[0].Number)
		must(t, err)
		equal(t, "owner", got.ID, u.ID)
	}},
	{"ExternalIDsAreUniquePerProjectAndEmptyIsNoValue", func(t *testing.T, s store.Store) {
		p, other := newProject(t, s), newProject(t, s)
		newUser(t, s, p.ID, func(u *store.User) { u.ExternalID = "ext" })
		dup := store.User{ID: id("user"), ProjectID: p.ID, ExternalID: "ext", Status: "active", CreatedAt: t0}
		mustBe(t, s.CreateUser(ctx(), dup), store.ErrDuplicateExternal)
		a := newUser(t, s, p.ID)
		newUser(t, s, p.ID) // two users without external id
		a.ExternalID = "ext"
		mustBe(t, s.UpdateUser(ctx(), a), store.ErrDuplicateExternal)
		newUser(t, s, other.ID, func(u *store.User) { u.ExternalID = "ext" })
	}},
	{"UpdateUserWritesScalarFieldsOnly", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID, func(u *store.User) { u.ExternalID = "old" })
		_, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, t0, 10, time.Hour)
		must(t, err)
		u.FirstName, u.MiddleName, u.LastName = "Grace", "B", "Hopper"
		u.Status = "pending"
		u.ExternalID = ""
		u.TrustedMetadata = json.RawMessage(`{"a":1}`)
		u.UntrustedMetadata = nil
		u.Roles = []string{"viewer"}
		u.Emails, u.Phones = nil, nil
		u.FailedAuths = 0
		u.CreatedAt = t0.Add(time.Hour)
		must(t, s.UpdateUser(ctx(), u))
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FirstName", got.FirstName, "Grace")
		equal(t, "MiddleName", got.MiddleName, "B")
		equal(t, "LastName", got.LastName, "Hopper")
		equal(t, "Status", got.Status, "pending")
		equal(t, "ExternalID", got.ExternalID, "")
		sameJSON(t, "TrustedMetadata", got.TrustedMetadata, `{"a":1}`)
		sameJSON(t, "UntrustedMetadata", got.UntrustedMetadata, `{}`)
		equal(t, "Roles", strings.Join(got.Roles, ","), "viewer")
		equal(t, "emails untouched", len(got.Emails), 1)
		equal(t, "phones untouched", len(got.Phones), 1)
		equal(t, "FailedAuths untouched", got.FailedAuths, 1)
		sameTime(t, "CreatedAt untouched", got.CreatedAt, t0)
		_, err = s.GetUser(ctx(), p.ID, "old")
		mustBe(t, err, store.ErrNotFound)
	}},
	{"DeletingAUserDeletesEverythingItOwns", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		keep := newUser(t, s, p.ID)
		ml := newMagicLink(t, s, u)
		otp := newOTP(t, s, u)
		sess := newSession(t, s, u)
		keepSess := newSession(t, s, keep)
		must(t, s.DeleteUser(ctx(), p.ID, u.ID))
		_, err := s.GetUser(ctx(), p.ID, u.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetEmail(ctx(), p.ID, u.Emails[0].ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetPhone(ctx(), p.ID, u.Phones[0].ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetUserByEmail(ctx(), p.ID, u.Emails[0].Address)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.RedeemMagicLink(ctx(), p.ID, ml.TokenHash, t0)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetLatestOTP(ctx(), p.ID, otp.MethodID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSession(ctx(), p.ID, sess.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSession(ctx(), p.ID, keepSess.ID)
		must(t, err)
		// The address is free again.
		newUser(t, s, p.ID, func(x *store.User) { x.Emails[0].Address = u.Emails[0].Address })
	}},
	{"EmailsCanBeAddedVerifiedAndDeleted", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		e := newEmail(p.ID, u.ID)
		e.CreatedAt = t0.Add(time.Minute)
		e.PendingUntil = ptr(t0.Add(5 * time.Minute))
		must(t, s.AddEmail(ctx(), e))
		got, err := s.GetEmail(ctx(), p.ID, e.ID)
		must(t, err)
		equal(t, "Address", got.Address, e.Address)
		equal(t, "UserID", got.UserID, u.ID)
		equal(t, "Verified", got.Verified, false)
		sameTimePtr(t, "PendingUntil", got.PendingUntil, e.PendingUntil)
		sameTime(t, "CreatedAt", got.CreatedAt, e.CreatedAt)
		must(t, s.VerifyEmail(ctx(), p.ID, e.ID))
		got, err = s.GetEmail(ctx(), p.ID, e.ID)
		must(t, err)
		equal(t, "Verified", got.Verified, true)
		sameTimePtr(t, "PendingUntil", got.PendingUntil, nil)
		user, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "emails", len(user.Emails), 2)
		equal(t, "newest last", user.Emails[1].ID, e.ID)
		must(t, s.DeleteEmail(ctx(), p.ID, e.ID))
		mustBe(t, s.DeleteEmail(ctx(), p.ID, e.ID), store.ErrNotFound)
		mustBe(t, s.VerifyEmail(ctx(), p.ID, e.ID), store.ErrNotFound)
		_, err = s.GetEmail(ctx(), p.ID, e.ID)
		mustBe(t, err, store.ErrNotFound)
		// A method for a user that does not exist.
		mustBe(t, s.AddEmail(ctx(), newEmail(p.ID, id("user"))), store.ErrNotFound)
	}},
	{"PhonesCanBeAddedVerifiedAndDeleted", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		ph := newPhone(p.ID, u.ID)
		ph.CreatedAt = t0.Add(time.Minute)
		ph.PendingUntil = ptr(t0.Add(5 * time.Minute))
		must(t, s.AddPhone(ctx(), ph))
		got, err := s.GetPhone(ctx(), p.ID, ph.ID)
		must(t, err)
		equal(t, "Number", got.Number, ph.Number)
		sameTimePtr(t, "PendingUntil", got.PendingUntil, ph.PendingUntil)
		must(t, s.VerifyPhone(ctx(), p.ID, ph.ID))
		got, err = s.GetPhone(ctx(), p.ID, ph.ID)
		must(t, err)
		equal(t, "Verified", got.Verified, true)
		sameTimePtr(t, "PendingUntil", got.PendingUntil, nil)
		must(t, s.DeletePhone(ctx(), p.ID, ph.ID))
		mustBe(t, s.DeletePhone(ctx(), p.ID, ph.ID), store.ErrNotFound)
		mustBe(t, s.VerifyPhone(ctx(), p.ID, ph.ID), store.ErrNotFound)
		_, err = s.GetPhone(ctx(), p.ID, ph.ID)
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.AddPhone(ctx(), newPhone(p.ID, id("user"))), store.ErrNotFound)
	}},
	{"ExpiredPendingMethodsAreSweptAndOthersKept", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		u := newUser(t, s, p.ID)
		v := newUser(t, s, q.ID)
		stale := newEmail(p.ID, u.ID)
		stale.PendingUntil = ptr(t0.Add(-time.Second))
		stalePhone := newPhone(q.ID, v.ID)
		stalePhone.PendingUntil = ptr(t0.Add(-time.Minute))
		fresh := newEmail(p.ID, u.ID)
		fresh.PendingUntil = ptr(t0.Add(time.Minute))
		verified := newPhone(p.ID, u.ID)
		verified.PendingUntil = ptr(t0.Add(-time.Minute))
		must(t, s.AddEmail(ctx(), stale))
		must(t, s.AddPhone(ctx(), stalePhone))
		must(t, s.AddEmail(ctx(), fresh))
		must(t, s.AddPhone(ctx(), verified))
		must(t, s.VerifyPhone(ctx(), p.ID, verified.ID))
		n, err := s.DeleteExpiredPendingMethods(ctx(), t0)
		must(t, err)
		equal(t, "deleted", n, 2)
		_, err = s.GetEmail(ctx(), p.ID, stale.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetPhone(ctx(), q.ID, stalePhone.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetEmail(ctx(), p.ID, fresh.ID)
		must(t, err)
		_, err = s.GetPhone(ctx(), p.ID, verified.ID)
		must(t, err)
		_, err = s.GetEmail(ctx(), p.ID, u.Emails[0].ID)
		must(t, err)
	}},
	{"AuthFailuresLockTheUserAtTheThreshold", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		for i := 1; i < 3; i++ {
			until, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, t0, 3, time.Hour)
			must(t, err)
			sameTimePtr(t, "lock before threshold", until, nil)
		}
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths", got.FailedAuths, 2)
		until, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, t0.Add(time.Second), 3, time.Hour)
		must(t, err)
		sameTimePtr(t, "lock", until, ptr(t0.Add(time.Second+time.Hour)))
		got, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths after lock", got.FailedAuths, 0)
		sameTimePtr(t, "LockCreatedAt", got.LockCreatedAt, ptr(t0.Add(time.Second)))
		sameTimePtr(t, "LockExpiresAt", got.LockExpiresAt, ptr(t0.Add(time.Second+time.Hour)))
		// Still locked while the lock lasts.
		until, err = s.RecordAuthFailure(ctx(), p.ID, u.ID, t0.Add(time.Minute), 3, time.Hour)
		must(t, err)
		sameTimePtr(t, "lock still on", until, ptr(t0.Add(time.Second+time.Hour)))
	}},
	{"AFailureAfterALockEndedCountsFromZero", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		for range 2 {
			_, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, t0, 2, time.Minute)
			must(t, err)
		}
		later := t0.Add(2 * time.Minute)
		until, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, later, 2, time.Minute)
		must(t, err)
		sameTimePtr(t, "lock after it ended", until, nil)
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths", got.FailedAuths, 1)
		sameTimePtr(t, "LockExpiresAt cleared", got.LockExpiresAt, nil)
		sameTimePtr(t, "LockCreatedAt cleared", got.LockCreatedAt, nil)
	}},
	{"ResetAuthFailuresClearsTheCountAndLock", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		_, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, t0, 1, time.Minute)
		must(t, err)
		_, err = s.RecordAuthFailure(ctx(), p.ID, u.ID, t0.Add(2*time.Minute), 5, time.Minute)
		must(t, err)
		must(t, s.ResetAuthFailures(ctx(), p.ID, u.ID, t0.Add(2*time.Minute), time.Time{}))
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths", got.FailedAuths, 0)
		sameTimePtr(t, "LockExpiresAt", got.LockExpiresAt, nil)
		sameTimePtr(t, "LockCreatedAt", got.LockCreatedAt, nil)
	}},
	{"ResetAuthFailuresLeavesALockInForce", func(t *testing.T, s store.Store) {
		// A right answer admitted before attempts beside it locked the user
		// (admitted at t0-1s, the lock made at t0) does not unlock it.
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		for range 3 {
			_, err := s.ReserveAuthAttempt(ctx(), p.ID, u.ID, t0, 3, time.Minute)
			must(t, err)
		}
		must(t, s.ResetAuthFailures(ctx(), p.ID, u.ID, t0.Add(time.Second), t0.Add(-time.Second)))
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		sameTimePtr(t, "LockExpiresAt kept", got.LockExpiresAt, ptr(t0.Add(time.Minute)))
		allowed, err := s.ReserveAuthAttempt(ctx(), p.ID, u.ID, t0.Add(2*time.Second), 3, time.Minute)
		must(t, err)
		equal(t, "an attempt while locked", allowed, false)
		// A right answer whose own reservation set the lock (admitted at t0)
		// lifts it.
		must(t, s.ResetAuthFailures(ctx(), p.ID, u.ID, t0.Add(3*time.Second), t0))
		got, err = s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		sameTimePtr(t, "LockExpiresAt lifted", got.LockExpiresAt, nil)
	}},
	{"ConcurrentAuthFailuresLockTheUserExactlyOnce", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		const n = 20
		var locked, errs int64
		var mu = make(chan struct{}, 1)
		mu <- struct{}{}
		parallel(n, func(int) {
			until, err := s.RecordAuthFailure(ctx(), p.ID, u.ID, t0, n, time.Hour)
			<-mu
			defer func() { mu <- struct{}{} }()
			if err != nil {
				errs++
				t.Error(err)
			}
			if until != nil {
				locked++
			}
		})
		equal(t, "errors", errs, 0)
		equal(t, "calls that locked", locked, 1)
		got, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "FailedAuths", got.FailedAuths, 0)
		sameTimePtr(t, "LockExpiresAt", got.LockExpiresAt, ptr(t0.Add(time.Hour)))
	}},
}
