package storetest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var sessionBehaviours = []behaviour{
	{"CreatedSessionReadsBackWithFactorsRolesAndClaims", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u, func(x *store.Session) {
			x.CustomClaims = json.RawMessage(`{"tier":"gold","nested":{"a":[1,2]}}`)
			x.TokenSealed = []byte("sealed token")
			x.Roles = []string{"stytch_user", "admin"}
			x.Factors = append(x.Factors, store.Factor{
				Type: "otp", DeliveryMethod: "sms", LastAuthenticatedAt: t0.Add(time.Second),
				CreatedAt: t0, UpdatedAt: t0.Add(time.Second),
				PhoneNumberFactor: &store.PhoneNumberFactor{PhoneID: u.Phones[0].ID, PhoneNumber: u.Phones[0].Number},
			})
		})
		for _, get := range []func() (store.Session, error){
			func() (store.Session, error) { return s.GetSession(ctx(), p.ID, x.ID) },
			func() (store.Session, error) { return s.GetSessionByTokenHash(ctx(), p.ID, x.TokenHash) },
		} {
			got, err := get()
			must(t, err)
			equal(t, "ID", got.ID, x.ID)
			equal(t, "ProjectID", got.ProjectID, p.ID)
			equal(t, "UserID", got.UserID, u.ID)
			equal(t, "TokenHash", string(got.TokenHash), string(x.TokenHash))
			equal(t, "TokenSealed", string(got.TokenSealed), "sealed token")
			sameTime(t, "StartedAt", got.StartedAt, x.StartedAt)
			sameTime(t, "LastAccessedAt", got.LastAccessedAt, x.LastAccessedAt)
			sameTime(t, "ExpiresAt", got.ExpiresAt, x.ExpiresAt)
			equal(t, "IPAddress", got.IPAddress, x.IPAddress)
			equal(t, "UserAgent", got.UserAgent, x.UserAgent)
			sameJSON(t, "CustomClaims", got.CustomClaims, `{"tier":"gold","nested":{"a":[1,2]}}`)
			equal(t, "Roles", strings.Join(got.Roles, ","), "stytch_user,admin")
			equal(t, "factors", len(got.Factors), 2)
			f := got.Factors[1]
			equal(t, "factor type", f.Type, "otp")
			equal(t, "factor phone", f.PhoneNumberFactor.PhoneNumber, u.Phones[0].Number)
			sameTime(t, "factor LastAuthenticatedAt", f.LastAuthenticatedAt.UTC(), t0.Add(time.Second))
			equal(t, "email factor", got.Factors[0].EmailFactor.EmailID, u.Emails[0].ID)
		}
	}},
	{"ASessionReadsWithItsUserInOneGoAsEachReadsAlone", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID, func(u *store.User) {
			u.ExternalID = "ext-" + id("x")
			u.Roles = []string{"admin"}
			u.TrustedMetadata = json.RawMessage(`{"plan":"pro"}`)
			second := newEmail(p.ID, u.ID)
			second.CreatedAt, second.Verified = t0.Add(time.Second), true
			second.PendingUntil = ptr(t0.Add(time.Hour))
			second.Address = `quote"and\\back@example.com`
			u.Emails = append(u.Emails, second)
		})
		x := newSession(t, s, u, func(x *store.Session) { x.Roles = []string{"stytch_user", "admin"} })
		other := newSession(t, s, newUser(t, s, p.ID))
		must(t, s.AddProjectSecret(ctx(), store.ProjectSecret{ID: "first", ProjectID: p.ID, Hash: []byte("first secret hash"), CreatedAt: t0}))
		must(t, s.AddProjectSecret(ctx(), store.ProjectSecret{ID: "second", ProjectID: p.ID, Hash: []byte{0, 1, 2, 255}, CreatedAt: t0.Add(time.Second)}))
		wantS, err := s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		wantU, err := s.GetUser(ctx(), p.ID, u.ID)
		must(t, err)
		var inTx store.User
		must(t, s.InTx(ctx(), func(tx store.Store) error {
			var err error
			inTx, err = tx.GetUser(ctx(), p.ID, u.ID)
			return err
		}))
		same := func(what string, got, want any) {
			t.Helper()
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
			}
		}
		same("GetUser outside and inside a transaction", wantU, inTx)
		equal(t, "emails", len(wantU.Emails), 2)
		equal(t, "second email address", wantU.Emails[1].Address, `quote"and\\back@example.com`)
		equal(t, "second email verified", wantU.Emails[1].Verified, true)
		sameTimePtr(t, "second email PendingUntil", wantU.Emails[1].PendingUntil, ptr(t0.Add(time.Hour)))
		equal(t, "phones", len(wantU.Phones), 1)
		for _, by := range []struct {
			name string
			hash []byte
			id   string
		}{{"by token hash", x.TokenHash, other.ID}, {"by id", nil, x.ID}} {
			got, err := s.GetSessionWithUser(ctx(), p.ID, by.hash, by.id)
			must(t, err)
			same(by.name+": session", got.Session, wantS)
			same(by.name+": user", got.User, wantU)
		}
		// A user without any email or phone reads with empty lists.
		bare := newUser(t, s, p.ID, func(u *store.User) { u.Emails, u.Phones = nil, nil })
		bx := store.Session{ID: id("session"), ProjectID: p.ID, UserID: bare.ID, TokenHash: []byte(id("token")),
			StartedAt: t0, LastAccessedAt: t0, ExpiresAt: t0.Add(time.Hour), CustomClaims: json.RawMessage(`{}`)}
		must(t, s.CreateSession(ctx(), bx))
		bare0, err := s.GetSessionWithUser(ctx(), p.ID, bx.TokenHash, "")
		must(t, err)
		gotU := bare0.User
		if gotU.ID != bare.ID || gotU.Emails == nil || gotU.Phones == nil || len(gotU.Emails)+len(gotU.Phones) != 0 {
			t.Fatalf("user without methods read as %+v", gotU)
		}
		_, err = s.GetSessionWithUser(ctx(), p.ID, []byte("no such hash"), x.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSessionWithUser(ctx(), p.ID, nil, "session-test-nope")
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSessionWithUser(ctx(), newProject(t, s).ID, x.TokenHash, "")
		mustBe(t, err, store.ErrNotFound)
	}},
	{"ASessionWithoutRolesOrClaimsComesBackWithEmptyValuesNotNil", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u, func(x *store.Session) { x.Roles, x.Factors, x.CustomClaims = nil, nil, nil })
		got, err := s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		if got.Roles == nil || got.Factors == nil {
			t.Fatalf("nil slices: roles %v factors %v", got.Roles == nil, got.Factors == nil)
		}
		sameJSON(t, "CustomClaims", got.CustomClaims, `{}`)
		if got.TokenSealed != nil {
			t.Fatalf("TokenSealed = %q, want nil", got.TokenSealed)
		}
	}},
	{"TokenHashesAreUniquePerProject", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u)
		dup := x
		dup.ID = id("session")
		mustBe(t, s.CreateSession(ctx(), dup), store.ErrAlreadyExists)
		mustBe(t, s.CreateSession(ctx(), x), store.ErrAlreadyExists)
	}},
	{"GettingASessionDoesNotCheckExpiry", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u, func(x *store.Session) { x.ExpiresAt = t0.Add(-time.Hour) })
		_, err := s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		_, err = s.GetSessionByTokenHash(ctx(), p.ID, x.TokenHash)
		must(t, err)
		_, err = s.GetSession(ctx(), p.ID, id("session"))
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSessionByTokenHash(ctx(), p.ID, []byte("nope"))
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.CreateSession(ctx(), store.Session{ID: id("session"), ProjectID: p.ID, UserID: id("user"),
			TokenHash: []byte("t"), StartedAt: t0, LastAccessedAt: t0, ExpiresAt: t0}), store.ErrNotFound)
	}},
	{"ListSessionsReturnsOnlyTheUsersLiveSessions", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, p.ID)
		a := newSession(t, s, u)
		b := newSession(t, s, u, func(x *store.Session) { x.StartedAt = t0.Add(time.Second) })
		newSession(t, s, u, func(x *store.Session) { x.ExpiresAt = t0 })
		newSession(t, s, v)
		got, err := s.ListSessions(ctx(), p.ID, u.ID, t0)
		must(t, err)
		equal(t, "len", len(got), 2)
		ids := map[string]bool{got[0].ID: true, got[1].ID: true}
		if !ids[a.ID] || !ids[b.ID] {
			t.Fatalf("ListSessions = %s, %s; want %s, %s", got[0].ID, got[1].ID, a.ID, b.ID)
		}
		got, err = s.ListSessions(ctx(), p.ID, id("user"), t0)
		must(t, err)
		if got == nil || len(got) != 0 {
			t.Fatalf("no sessions = %v, want an empty slice", got)
		}
	}},
	{"UpdateSessionWritesItsFields", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u)
		x.LastAccessedAt = t0.Add(time.Minute)
		x.ExpiresAt = t0.Add(2 * time.Hour)
		x.CustomClaims = json.RawMessage(`{"k":"v"}`)
		x.Factors = append(x.Factors, store.Factor{Type: "otp", DeliveryMethod: "email", CreatedAt: t0, UpdatedAt: t0, LastAuthenticatedAt: t0})
		x.IPAddress = "198.51.100.7"
		x.UserAgent = "other"
		x.Roles = []string{"r"}
		startedAt := x.StartedAt
		x.StartedAt = t0.Add(time.Hour)
		must(t, s.UpdateSession(ctx(), x))
		got, err := s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		sameTime(t, "LastAccessedAt", got.LastAccessedAt, x.LastAccessedAt)
		sameTime(t, "ExpiresAt", got.ExpiresAt, x.ExpiresAt)
		sameJSON(t, "CustomClaims", got.CustomClaims, `{"k":"v"}`)
		equal(t, "factors", len(got.Factors), 2)
		equal(t, "IPAddress", got.IPAddress, "198.51.100.7")
		equal(t, "UserAgent", got.UserAgent, "other")
		sameTime(t, "StartedAt untouched", got.StartedAt, startedAt)
		must(t, s.DeleteSession(ctx(), p.ID, x.ID))
		mustBe(t, s.UpdateSession(ctx(), x), store.ErrNotFound)
	}},
	{"TouchSessionSetsLastAccessAndOptionallyExpiry", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u)
		must(t, s.TouchSession(ctx(), p.ID, x.ID, t0.Add(time.Minute), nil))
		got, err := s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		sameTime(t, "LastAccessedAt", got.LastAccessedAt, t0.Add(time.Minute))
		sameTime(t, "ExpiresAt kept", got.ExpiresAt, x.ExpiresAt)
		must(t, s.TouchSession(ctx(), p.ID, x.ID, t0.Add(2*time.Minute), ptr(t0.Add(3*time.Hour))))
		got, err = s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		sameTime(t, "LastAccessedAt", got.LastAccessedAt, t0.Add(2*time.Minute))
		sameTime(t, "ExpiresAt", got.ExpiresAt, t0.Add(3*time.Hour))
		mustBe(t, s.TouchSession(ctx(), p.ID, id("session"), t0, nil), store.ErrNotFound)
	}},
	{"DeletingSessionsOneOrAllOfAUser", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, p.ID)
		a := newSession(t, s, u)
		newSession(t, s, u)
		newSession(t, s, u)
		keep := newSession(t, s, v)
		must(t, s.DeleteSession(ctx(), p.ID, a.ID))
		mustBe(t, s.DeleteSession(ctx(), p.ID, a.ID), store.ErrNotFound)
		n, err := s.DeleteUserSessions(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "deleted", n, 2)
		n, err = s.DeleteUserSessions(ctx(), p.ID, u.ID)
		must(t, err)
		equal(t, "deleted again", n, 0)
		_, err = s.GetSession(ctx(), p.ID, keep.ID)
		must(t, err)
	}},
	{"CountLiveSessionsCountsEveryProject", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, q.ID)
		newSession(t, s, u)
		newSession(t, s, v)
		newSession(t, s, v, func(x *store.Session) { x.ExpiresAt = t0 })
		n, err := s.CountLiveSessions(ctx(), t0)
		must(t, err)
		equal(t, "live", n, 2)
	}},
	{"DeleteExpiredSweepsSpentRowsOfEveryProject", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, q.ID)
		now := t0.Add(24 * time.Hour)
		// Gone: 2 sessions, 2 links, 2 codes, 1 message = 7.
		deadSession := newSession(t, s, u, func(x *store.Session) { x.ExpiresAt = now })
		newSession(t, s, v, func(x *store.Session) { x.ExpiresAt = now.Add(-time.Minute) })
		oldLink := newMagicLink(t, s, u, func(m *store.MagicLink) { m.ExpiresAt = now.Add(-61 * time.Minute) })
		usedLink := newMagicLink(t, s, v, func(m *store.MagicLink) { m.ExpiresAt = now.Add(-2 * time.Hour) })
		_, err := s.RedeemMagicLink(ctx(), q.ID, usedLink.TokenHash, now.Add(-3*time.Hour))
		must(t, err)
		oldCode := newOTP(t, s, u, func(o *store.OTP) { o.ExpiresAt = now.Add(-2 * time.Hour) })
		newOTP(t, s, v, func(o *store.OTP) { o.ExpiresAt = now.Add(-90 * time.Minute) })
		sent := newMessage(t, s, p.ID, "sent@example.com", t0)
		must(t, s.MarkMessagesSent(ctx(), []int64{sent.ID}, now.Add(-8*24*time.Hour)))
		// Kept.
		liveSession := newSession(t, s, u, func(x *store.Session) { x.ExpiresAt = now.Add(time.Millisecond) })
		recentLink := newMagicLink(t, s, u, func(m *store.MagicLink) { m.ExpiresAt = now.Add(-59 * time.Minute) })
		recentCode := newOTP(t, s, u, func(o *store.OTP) {
			o.MethodID = u.Emails[0].ID
			o.ExpiresAt = now.Add(-30 * time.Minute)
		})
		recentSent := newMessage(t, s, p.ID, "recent@example.com", t0)
		must(t, s.MarkMessagesSent(ctx(), []int64{recentSent.ID}, now.Add(-6*24*time.Hour)))
		unsent := newMessage(t, s, p.ID, "unsent@example.com", t0)

		n, err := s.DeleteExpired(ctx(), now)
		must(t, err)
		equal(t, "deleted", n, 7)

		_, err = s.GetSession(ctx(), p.ID, deadSession.ID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.RedeemMagicLink(ctx(), p.ID, oldLink.TokenHash, now)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetLatestOTP(ctx(), p.ID, oldCode.MethodID)
		mustBe(t, err, store.ErrNotFound)
		_, err = s.GetSession(ctx(), p.ID, liveSession.ID)
		must(t, err)
		_, err = s.RedeemMagicLink(ctx(), p.ID, recentLink.TokenHash, now)
		mustBe(t, err, store.ErrConsumed)
		got, err := s.GetLatestOTP(ctx(), p.ID, recentCode.MethodID)
		must(t, err)
		equal(t, "recent code kept", got.ID, recentCode.ID)
		msgs, err := s.ListMessages(ctx(), "", 0)
		must(t, err)
		equal(t, "messages kept", len(msgs), 2)
		equal(t, "newest first", msgs[0].ID, unsent.ID)
		equal(t, "then", msgs[1].ID, recentSent.ID)
	}},
	{"SigningKeysListNewestFirstUntilTheyExpire", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		old := newSigningKey(t, s, p.ID, t0)
		must(t, s.RetireSigningKeys(ctx(), p.ID, t0.Add(time.Hour), t0.Add(2*time.Hour)))
		cur := newSigningKey(t, s, p.ID, t0.Add(time.Hour))
		otherKey := newSigningKey(t, s, q.ID, t0)

		keys, err := s.ListSigningKeys(ctx(), p.ID, t0.Add(90*time.Minute))
		must(t, err)
		equal(t, "len", len(keys), 2)
		equal(t, "newest first", keys[0].KID, cur.KID)
		equal(t, "then the retired one", keys[1].KID, old.KID)
		equal(t, "PrivateKeyEnc", string(keys[0].PrivateKeyEnc), string(cur.PrivateKeyEnc))
		equal(t, "CertDER", string(keys[0].CertDER), string(cur.CertDER))
		equal(t, "ProjectID", keys[0].ProjectID, p.ID)
		sameTime(t, "CreatedAt", keys[0].CreatedAt, cur.CreatedAt)
		sameTimePtr(t, "current RetiredAt", keys[0].RetiredAt, nil)
		sameTimePtr(t, "current ExpiresAt", keys[0].ExpiresAt, nil)
		sameTimePtr(t, "retired RetiredAt", keys[1].RetiredAt, ptr(t0.Add(time.Hour)))
		sameTimePtr(t, "retired ExpiresAt", keys[1].ExpiresAt, ptr(t0.Add(2*time.Hour)))

		keys, err = s.ListSigningKeys(ctx(), p.ID, t0.Add(2*time.Hour))
		must(t, err)
		equal(t, "after the retired key expired", len(keys), 1)
		equal(t, "only", keys[0].KID, cur.KID)

		mustBe(t, s.AddSigningKey(ctx(), cur), store.ErrAlreadyExists)
		keys, err = s.ListSigningKeys(ctx(), q.ID, t0.Add(2*time.Hour))
		must(t, err)
		equal(t, "other project's key untouched", len(keys), 1)
		equal(t, "other", keys[0].KID, otherKey.KID)
		sameTimePtr(t, "other RetiredAt", keys[0].RetiredAt, nil)
	}},
	{"ARotationDuringAnothersLeadRetiresEveryKeyThatWouldStillSign", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		k0 := newSigningKey(t, s, p.ID, t0)
		// A rotation with a 10-minute lead and 30 days of grace.
		must(t, s.RetireSigningKeys(ctx(), p.ID, t0.Add(10*time.Minute), t0.Add(10*time.Minute+720*time.Hour)))
		k1 := newSigningKey(t, s, p.ID, t0.Add(time.Second))
		// An emergency rotation a minute later, with 1 s of grace.
		now := t0.Add(time.Minute)
		must(t, s.RetireSigningKeys(ctx(), p.ID, now, now.Add(time.Second)))
		keys, err := s.ListSigningKeys(ctx(), p.ID, now)
		must(t, err)
		equal(t, "len", len(keys), 2)
		for _, k := range keys {
			if k.KID != k0.KID && k.KID != k1.KID {
				t.Fatalf("unexpected key %s", k.KID)
			}
			sameTimePtr(t, k.KID+" RetiredAt", k.RetiredAt, ptr(now))
			sameTimePtr(t, k.KID+" ExpiresAt", k.ExpiresAt, ptr(now.Add(time.Second)))
		}
		// A later, longer grace never extends an earlier expiry.
		must(t, s.RetireSigningKeys(ctx(), p.ID, now, now.Add(time.Hour)))
		keys, err = s.ListSigningKeys(ctx(), p.ID, now)
		must(t, err)
		for _, k := range keys {
			sameTimePtr(t, k.KID+" ExpiresAt kept", k.ExpiresAt, ptr(now.Add(time.Second)))
		}

		// A key due to retire later with a short grace keeps its sooner
		// expiry when an emergency rotation with a longer grace retires it
		// now (keys.RotateWithLead passes switch and switch+grace).
		q := newProject(t, s)
		kq := newSigningKey(t, s, q.ID, t0)
		must(t, s.RetireSigningKeys(ctx(), q.ID, t0.Add(10*time.Minute), t0.Add(10*time.Minute+time.Second)))
		must(t, s.RetireSigningKeys(ctx(), q.ID, now, now.Add(720*time.Hour)))
		keys, err = s.ListSigningKeys(ctx(), q.ID, now)
		must(t, err)
		equal(t, "len", len(keys), 1)
		equal(t, "kid", keys[0].KID, kq.KID)
		sameTimePtr(t, "retired at the emergency", keys[0].RetiredAt, ptr(now))
		sameTimePtr(t, "its sooner expiry kept", keys[0].ExpiresAt, ptr(t0.Add(10*time.Minute+time.Second)))
	}},
	{"ASigningKeyKeepsTheTimeItStartsSigning", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		plain := newSigningKey(t, s, p.ID, t0)
		lead := plain
		lead.KID = plain.KID + "-lead"
		lead.CreatedAt = t0.Add(time.Minute)
		lead.ActiveAt = t0.Add(11 * time.Minute)
		must(t, s.AddSigningKey(ctx(), lead))
		keys, err := s.ListSigningKeys(ctx(), p.ID, t0)
		must(t, err)
		equal(t, "len", len(keys), 2)
		equal(t, "newest first", keys[0].KID, lead.KID)
		sameTime(t, "ActiveAt of a key with a lead", keys[0].ActiveAt, lead.ActiveAt)
		sameTime(t, "CreatedAt of a key with a lead", keys[0].CreatedAt, lead.CreatedAt)
		sameTime(t, "ActiveAt of a key without one is its CreatedAt", keys[1].ActiveAt, plain.CreatedAt)
	}},
	{"NotedAccessLandsSoonAndNeverMovesBackwards", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		x := newSession(t, s, u)
		gone := newSession(t, s, u)
		must(t, s.DeleteSession(ctx(), p.ID, gone.ID))
		later := x.LastAccessedAt.Add(time.Hour)
		s.NoteAccess(p.ID, x.ID, later.Add(-time.Minute))
		s.NoteAccess(p.ID, x.ID, later)
		s.NoteAccess(p.ID, x.ID, later.Add(-2*time.Minute)) // older: ignored
		s.NoteAccess(p.ID, gone.ID, later)                  // deleted: harmless
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := s.GetSession(ctx(), p.ID, x.ID)
			must(t, err)
			if got.LastAccessedAt.Equal(later) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("last_accessed_at is %v, want %v within 10 s", got.LastAccessedAt, later)
			}
			time.Sleep(20 * time.Millisecond) // polling for a background write, not waiting for time to pass
		}
		// A note older than what is stored changes nothing: x was touched
		// later meanwhile; y's note is noted after x's, so once y's lands,
		// x's has been written too.
		y := newSession(t, s, u)
		must(t, s.TouchSession(ctx(), p.ID, x.ID, later.Add(time.Hour), nil))
		s.NoteAccess(p.ID, x.ID, later.Add(30*time.Minute))
		s.NoteAccess(p.ID, y.ID, later)
		for {
			got, err := s.GetSession(ctx(), p.ID, y.ID)
			must(t, err)
			if got.LastAccessedAt.Equal(later) {
				break
			}
			if time.Now().After(deadline.Add(10 * time.Second)) {
				t.Fatal("the note for the marker session never landed")
			}
			time.Sleep(20 * time.Millisecond) // polling for a background write
		}
		got, err := s.GetSession(ctx(), p.ID, x.ID)
		must(t, err)
		sameTime(t, "LastAccessedAt after an older note", got.LastAccessedAt, later.Add(time.Hour))
		// A note for a session deleted meanwhile brought nothing back.
		_, err = s.GetSession(ctx(), p.ID, gone.ID)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"ConcurrentTouchesAllLandAndATouchOfADeletedSessionIsNotFound", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		var sessions []store.Session
		for range 40 {
			sessions = append(sessions, newSession(t, s, u))
		}
		gone := sessions[0]
		must(t, s.DeleteSession(ctx(), p.ID, gone.ID))
		last := t0.Add(time.Hour)
		var wg sync.WaitGroup
		errs := make([]error, len(sessions))
		for i, x := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				exp := t0.Add(time.Duration(48+i) * time.Hour)
				errs[i] = s.TouchSession(ctx(), p.ID, x.ID, last, &exp)
			}()
		}
		wg.Wait()
		mustBe(t, errs[0], store.ErrNotFound)
		for i, x := range sessions[1:] {
			must(t, errs[i+1])
			got, err := s.GetSession(ctx(), p.ID, x.ID)
			must(t, err)
			sameTime(t, "LastAccessedAt", got.LastAccessedAt, last)
			sameTime(t, "ExpiresAt", got.ExpiresAt, t0.Add(time.Duration(48+i+1)*time.Hour))
		}
	}},
}
