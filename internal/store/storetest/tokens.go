package storetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var tokenBehaviours = []behaviour{
	{"RedeemingAMagicLinkReturnsItAndMarksItUsed", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		m := newMagicLink(t, s, u, func(m *store.MagicLink) {
			m.Kind = store.MagicLinkSignup
			m.CodeChallenge = "challenge"
		})
		got, err := s.RedeemMagicLink(ctx(), p.ID, m.TokenHash, t0.Add(time.Minute))
		must(t, err)
		equal(t, "TokenHash", string(got.TokenHash), string(m.TokenHash))
		equal(t, "ProjectID", got.ProjectID, p.ID)
		equal(t, "UserID", got.UserID, u.ID)
		equal(t, "EmailID", got.EmailID, m.EmailID)
		equal(t, "Kind", got.Kind, store.MagicLinkSignup)
		equal(t, "CodeChallenge", got.CodeChallenge, "challenge")
		equal(t, "IPAddress", got.IPAddress, m.IPAddress)
		equal(t, "UserAgent", got.UserAgent, m.UserAgent)
		sameTime(t, "CreatedAt", got.CreatedAt, m.CreatedAt)
		sameTime(t, "ExpiresAt", got.ExpiresAt, m.ExpiresAt)
		sameTimePtr(t, "UsedAt", got.UsedAt, ptr(t0.Add(time.Minute)))
	}},
	{"RedeemingAMagicLinkTwiceFailsTheSecondTime", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		m := newMagicLink(t, s, u)
		_, err := s.RedeemMagicLink(ctx(), p.ID, m.TokenHash, t0)
		must(t, err)
		got, err := s.RedeemMagicLink(ctx(), p.ID, m.TokenHash, t0.Add(time.Second))
		mustBe(t, err, store.ErrConsumed)
		equal(t, "row returned with ErrConsumed", got.UserID, u.ID)
		sameTimePtr(t, "UsedAt of the first redemption", got.UsedAt, ptr(t0))
	}},
	{"RedeemingAnExpiredMagicLinkFailsWithConsumed", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		m := newMagicLink(t, s, u)
		got, err := s.RedeemMagicLink(ctx(), p.ID, m.TokenHash, m.ExpiresAt)
		mustBe(t, err, store.ErrConsumed)
		sameTimePtr(t, "UsedAt", got.UsedAt, nil)
	}},
	{"RedeemingAnUnknownMagicLinkFailsWithNotFound", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		_, err := s.RedeemMagicLink(ctx(), p.ID, []byte("no such token"), t0)
		mustBe(t, err, store.ErrNotFound)
		mustBe(t, s.CreateMagicLink(ctx(), store.MagicLink{TokenHash: []byte("x"), ProjectID: p.ID, UserID: id("user"),
			Kind: store.MagicLinkLogin, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}), store.ErrNotFound)
	}},
	{"ConcurrentRedemptionsOfOneMagicLinkSucceedOnce", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		m := newMagicLink(t, s, u)
		var ok, consumed, other atomic.Int64
		parallel(20, func(int) {
			_, err := s.RedeemMagicLink(ctx(), p.ID, m.TokenHash, t0)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrConsumed):
				consumed.Add(1)
			default:
				other.Add(1)
				t.Error(err)
			}
		})
		equal(t, "successes", ok.Load(), 1)
		equal(t, "consumed", consumed.Load(), 19)
	}},
	{"RevokingMagicLinksExpiresOnlyTheUsersUnusedLinksOfThatKind", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, p.ID)
		login := newMagicLink(t, s, u)
		invite := newMagicLink(t, s, u, func(m *store.MagicLink) { m.Kind = store.MagicLinkInvite })
		used := newMagicLink(t, s, u)
		_, err := s.RedeemMagicLink(ctx(), p.ID, used.TokenHash, t0)
		must(t, err)
		others := newMagicLink(t, s, v)
		now := t0.Add(time.Minute)
		must(t, s.RevokeMagicLinks(ctx(), p.ID, u.ID, store.MagicLinkLogin, now))
		_, err = s.RedeemMagicLink(ctx(), p.ID, login.TokenHash, now)
		mustBe(t, err, store.ErrConsumed)
		_, err = s.RedeemMagicLink(ctx(), p.ID, invite.TokenHash, now)
		must(t, err)
		_, err = s.RedeemMagicLink(ctx(), p.ID, others.TokenHash, now)
		must(t, err)
		got, err := s.RedeemMagicLink(ctx(), p.ID, used.TokenHash, now)
		mustBe(t, err, store.ErrConsumed)
		sameTimePtr(t, "used link untouched", got.UsedAt, ptr(t0))
		sameTime(t, "used link expiry untouched", got.ExpiresAt, used.ExpiresAt)

		a := newMagicLink(t, s, u)
		b := newMagicLink(t, s, u, func(m *store.MagicLink) { m.Kind = store.MagicLinkEmbedded; m.EmailID = "" })
		must(t, s.RevokeMagicLinks(ctx(), p.ID, u.ID, "", now))
		for _, m := range []store.MagicLink{a, b} {
			_, err = s.RedeemMagicLink(ctx(), p.ID, m.TokenHash, now)
			mustBe(t, err, store.ErrConsumed)
		}
	}},
	{"CreatingAnOTPEndsEarlierCodesOfTheSameMethod", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		first := newOTP(t, s, u)
		emailCode := newOTP(t, s, u, func(o *store.OTP) { o.MethodID = u.Emails[0].ID; o.Channel = store.ChannelEmail })
		second := newOTP(t, s, u, func(o *store.OTP) { o.CreatedAt = t0.Add(time.Second) })
		now := t0.Add(2 * time.Second)
		mustBe(t, s.RedeemOTP(ctx(), p.ID, first.ID, now, 5), store.ErrConsumed)
		must(t, s.RedeemOTP(ctx(), p.ID, emailCode.ID, now, 5))
		must(t, s.RedeemOTP(ctx(), p.ID, second.ID, now, 5))
	}},
	{"GetLatestOTPReturnsTheNewestCodeUsedOrNot", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		newOTP(t, s, u)
		second := newOTP(t, s, u, func(o *store.OTP) { o.Attempts = 1 })
		got, err := s.GetLatestOTP(ctx(), p.ID, u.Phones[0].ID)
		must(t, err)
		equal(t, "ID (same created_at: the later insert)", got.ID, second.ID)
		equal(t, "ProjectID", got.ProjectID, p.ID)
		equal(t, "UserID", got.UserID, u.ID)
		equal(t, "MethodID", got.MethodID, second.MethodID)
		equal(t, "Channel", got.Channel, store.ChannelSMS)
		equal(t, "CodeHash", string(got.CodeHash), string(second.CodeHash))
		equal(t, "Attempts", got.Attempts, 1)
		equal(t, "IPAddress", got.IPAddress, second.IPAddress)
		equal(t, "UserAgent", got.UserAgent, second.UserAgent)
		sameTime(t, "CreatedAt", got.CreatedAt, second.CreatedAt)
		sameTime(t, "ExpiresAt", got.ExpiresAt, second.ExpiresAt)
		sameTimePtr(t, "UsedAt", got.UsedAt, nil)
		must(t, s.RedeemOTP(ctx(), p.ID, second.ID, t0, 5))
		got, err = s.GetLatestOTP(ctx(), p.ID, u.Phones[0].ID)
		must(t, err)
		sameTimePtr(t, "UsedAt", got.UsedAt, ptr(t0))
		_, err = s.GetLatestOTP(ctx(), p.ID, id("phone-number"))
		mustBe(t, err, store.ErrNotFound)
	}},
	{"RedeemingAnOTPHonoursUseExpiryAndAttempts", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		o := newOTP(t, s, u)
		must(t, s.RedeemOTP(ctx(), p.ID, o.ID, t0, 3))
		mustBe(t, s.RedeemOTP(ctx(), p.ID, o.ID, t0, 3), store.ErrConsumed)

		expired := newOTP(t, s, u, func(o *store.OTP) { o.MethodID = u.Emails[0].ID })
		mustBe(t, s.RedeemOTP(ctx(), p.ID, expired.ID, expired.ExpiresAt, 3), store.ErrConsumed)

		tried := newOTP(t, s, u)
		for i := 1; i <= 3; i++ {
			n, err := s.RecordOTPFailure(ctx(), p.ID, tried.ID)
			must(t, err)
			equal(t, "attempts", n, i)
		}
		mustBe(t, s.RedeemOTP(ctx(), p.ID, tried.ID, t0, 3), store.ErrConsumed)
		must(t, s.RedeemOTP(ctx(), p.ID, tried.ID, t0, 4))

		mustBe(t, s.RedeemOTP(ctx(), p.ID, id("otp"), t0, 3), store.ErrNotFound)
		_, err := s.RecordOTPFailure(ctx(), p.ID, id("otp"))
		mustBe(t, err, store.ErrNotFound)
	}},
	{"ConcurrentRedemptionsOfOneOTPSucceedOnce", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		o := newOTP(t, s, u)
		var ok, consumed atomic.Int64
		parallel(20, func(int) {
			err := s.RedeemOTP(ctx(), p.ID, o.ID, t0, 5)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrConsumed):
				consumed.Add(1)
			default:
				t.Error(err)
			}
		})
		equal(t, "successes", ok.Load(), 1)
		equal(t, "consumed", consumed.Load(), 19)
	}},
	{"ConcurrentOTPFailuresAreCountedExactly", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		u := newUser(t, s, p.ID)
		o := newOTP(t, s, u)
		seen := make([]atomic.Bool, 21)
		parallel(20, func(int) {
			n, err := s.RecordOTPFailure(ctx(), p.ID, o.ID)
			if err != nil {
				t.Error(err)
				return
			}
			if n < 1 || n > 20 || seen[n].Swap(true) {
				t.Errorf("count %d returned twice or out of range", n)
			}
		})
		got, err := s.GetLatestOTP(ctx(), p.ID, o.MethodID)
		must(t, err)
		equal(t, "Attempts", got.Attempts, 20)
	}},
	{"ConcurrentRateLimitHitsAreCountedExactly", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		seen := make([]atomic.Bool, 21)
		parallel(20, func(int) {
			n, err := s.CountHit(ctx(), p.ID, "ip:192.0.2.1", t0)
			if err != nil {
				t.Error(err)
				return
			}
			if n < 1 || n > 20 || seen[n].Swap(true) {
				t.Errorf("count %d returned twice or out of range", n)
			}
		})
		n, err := s.CountHit(ctx(), p.ID, "ip:192.0.2.1", t0)
		must(t, err)
		equal(t, "after 21 hits", n, 21)
		n, err = s.CountHit(ctx(), p.ID, "ip:192.0.2.1", t0.Add(time.Minute))
		must(t, err)
		equal(t, "next window", n, 1)
		n, err = s.CountHit(ctx(), p.ID, "ip:192.0.2.2", t0)
		must(t, err)
		equal(t, "other key", n, 1)
		n, err = s.CountHit(ctx(), q.ID, "ip:192.0.2.1", t0)
		must(t, err)
		equal(t, "other project", n, 1)
	}},
	{"SeveralCountersAreCountedInOneWriteExactly", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		parallel(10, func(i int) {
			ns, err := s.CountHits(ctx(), p.ID, []string{fmt.Sprintf("to:%d", i%2), "project"}, t0)
			if err != nil {
				t.Error(err)
				return
			}
			if len(ns) != 2 || ns[0] < 1 || ns[0] > 5 || ns[1] < 1 || ns[1] > 10 {
				t.Errorf("counts %v out of range", ns)
			}
		})
		ns, err := s.CountHits(ctx(), p.ID, []string{"project", "to:1", "to:0"}, t0)
		must(t, err)
		equal(t, "in the keys' order", fmt.Sprint(ns), "[11 6 6]")
	}},
}
