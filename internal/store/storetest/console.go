package storetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// console returns the store's console part (every Latch store has one).
func console(t *testing.T, s store.Store) store.Console {
	t.Helper()
	c, ok := s.(store.Console)
	if !ok {
		t.Fatal("the store does not implement store.Console")
	}
	return c
}

func newOperator(t *testing.T, c store.Console) string {
	t.Helper()
	e := fmt.Sprintf("op%d@latch.test", num())
	must(t, c.AddOperator(ctx(), store.ConsoleOperator{Email: e, CreatedAt: t0}))
	return e
}

func newConsoleSession(t *testing.T, c store.Console, email string) store.ConsoleSession {
	t.Helper()
	cs := store.ConsoleSession{ID: id("console-session"), TokenHash: []byte(id("hash")), Email: email,
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(8 * time.Hour), IPAddress: "192.0.2.9", UserAgent: "ua"}
	must(t, c.CreateConsoleSession(ctx(), cs))
	return cs
}

var consoleBehaviours = []behaviour{
	{"ConsoleOperatorsAreAddedListedAndRemoved", func(t *testing.T, s store.Store) {
		c := console(t, s)
		a := newOperator(t, c)
		mustBe(t, c.AddOperator(ctx(), store.ConsoleOperator{Email: a, CreatedAt: t0}), store.ErrAlreadyExists)
		b := newOperator(t, c)
		ops, err := c.ListOperators(ctx())
		must(t, err)
		equal(t, "operators", len(ops), 2)
		ok, err := c.IsOperator(ctx(), a)
		must(t, err)
		equal(t, "is operator", ok, true)
		must(t, c.RemoveOperator(ctx(), a))
		mustBe(t, c.RemoveOperator(ctx(), a), store.ErrNotFound)
		ok, err = c.IsOperator(ctx(), a)
		must(t, err)
		equal(t, "removed is operator", ok, false)
		ops, err = c.ListOperators(ctx())
		must(t, err)
		equal(t, "operators left", len(ops), 1)
		equal(t, "the one left", ops[0].Email, b)
	}},
	{"RemovingAnOperatorEndsTheirSessionsAndLinks", func(t *testing.T, s store.Store) {
		c := console(t, s)
		a, b := newOperator(t, c), newOperator(t, c)
		sa, sb := newConsoleSession(t, c, a), newConsoleSession(t, c, b)
		tok := []byte(id("link"))
		must(t, c.CreateConsoleToken(ctx(), store.ConsoleToken{TokenHash: tok, Email: a, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
		must(t, c.RemoveOperator(ctx(), a))
		_, err := c.GetConsoleSession(ctx(), sa.TokenHash, t0)
		mustBe(t, err, store.ErrNotFound)
		_, err = c.RedeemConsoleToken(ctx(), tok, t0)
		mustBe(t, err, store.ErrConsumed)
		got, err := c.GetConsoleSession(ctx(), sb.TokenHash, t0)
		must(t, err)
		equal(t, "other operator's session", got.ID, sb.ID)
		// A session or link of someone not on the list cannot be made.
		err = c.CreateConsoleSession(ctx(), store.ConsoleSession{ID: id("cs"), TokenHash: []byte(id("h")), Email: a, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)})
		mustBe(t, err, store.ErrNotFound)
		err = c.CreateConsoleToken(ctx(), store.ConsoleToken{TokenHash: []byte(id("l")), Email: a, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
		mustBe(t, err, store.ErrNotFound)
	}},
	{"UsingOneLinkEndsTheOperatorsOtherLinks", func(t *testing.T, s store.Store) {
		c := console(t, s)
		a, b := newOperator(t, c), newOperator(t, c)
		older, newer, others := []byte(id("link")), []byte(id("link")), []byte(id("link"))
		for _, l := range []struct {
			tok   []byte
			email string
		}{{older, a}, {newer, a}, {others, b}} {
			must(t, c.CreateConsoleToken(ctx(), store.ConsoleToken{TokenHash: l.tok, Email: l.email, CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}))
		}
		email, err := c.RedeemConsoleToken(ctx(), newer, t0.Add(time.Minute))
		must(t, err)
		equal(t, "signed in", email, a)
		_, err = c.RedeemConsoleToken(ctx(), older, t0.Add(2*time.Minute))
		mustBe(t, err, store.ErrConsumed)
		email, err = c.RedeemConsoleToken(ctx(), others, t0.Add(2*time.Minute))
		must(t, err)
		equal(t, "another operator's link", email, b)
	}},
	{"ConsoleLinkIsRedeemedOnceUnderConcurrency", func(t *testing.T, s store.Store) {
		c := console(t, s)
		a := newOperator(t, c)
		tok := []byte(id("link"))
		must(t, c.CreateConsoleToken(ctx(), store.ConsoleToken{TokenHash: tok, Email: a, CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}))
		var wins atomic.Int32
		parallel(8, func(int) {
			email, err := c.RedeemConsoleToken(ctx(), tok, t0.Add(time.Minute))
			switch {
			case err == nil && email == a:
				wins.Add(1)
			case errors.Is(err, store.ErrConsumed):
			default:
				t.Errorf("redeem: %q %v", email, err)
			}
		})
		equal(t, "redemptions", wins.Load(), int32(1))
		_, err := c.RedeemConsoleToken(ctx(), []byte("unknown"), t0)
		mustBe(t, err, store.ErrConsumed)
	}},
	{"ExpiredConsoleLinkIsRefused", func(t *testing.T, s store.Store) {
		c := console(t, s)
		a := newOperator(t, c)
		tok := []byte(id("link"))
		must(t, c.CreateConsoleToken(ctx(), store.ConsoleToken{TokenHash: tok, Email: a, CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}))
		_, err := c.RedeemConsoleToken(ctx(), tok, t0.Add(15*time.Minute))
		mustBe(t, err, store.ErrConsumed)
	}},
	{"ConsoleSessionsAreReadTouchedEndedAndSwept", func(t *testing.T, s store.Store) {
		c := console(t, s)
		a := newOperator(t, c)
		cs := newConsoleSession(t, c, a)
		got, err := c.GetConsoleSession(ctx(), cs.TokenHash, t0)
		must(t, err)
		equal(t, "Email", got.Email, a)
		equal(t, "IPAddress", got.IPAddress, "192.0.2.9")
		sameTime(t, "ExpiresAt", got.ExpiresAt, cs.ExpiresAt)
		must(t, c.TouchConsoleSession(ctx(), cs.ID, t0.Add(time.Minute)))
		got, err = c.GetConsoleSession(ctx(), cs.TokenHash, t0.Add(time.Minute))
		must(t, err)
		sameTime(t, "LastSeenAt", got.LastSeenAt, t0.Add(time.Minute))
		_, err = c.GetConsoleSession(ctx(), cs.TokenHash, cs.ExpiresAt)
		mustBe(t, err, store.ErrNotFound)
		n, err := c.DeleteExpiredConsole(ctx(), cs.ExpiresAt)
		must(t, err)
		equal(t, "swept", n, 1)
		mustBe(t, c.TouchConsoleSession(ctx(), cs.ID, t0), store.ErrNotFound)
		cs2 := newConsoleSession(t, c, a)
		must(t, c.DeleteConsoleSession(ctx(), cs2.ID))
		_, err = c.GetConsoleSession(ctx(), cs2.TokenHash, t0)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"AuditEntriesAreListedNewestFirst", func(t *testing.T, s store.Store) {
		c := console(t, s)
		for i := range 3 {
			must(t, c.AddAudit(ctx(), store.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Email: "a@latch.test", Action: fmt.Sprint("act", i), Target: "x", IPAddress: "192.0.2.1", UserAgent: "ua"}))
		}
		es, err := c.ListAudit(ctx(), 2)
		must(t, err)
		equal(t, "entries", len(es), 2)
		equal(t, "newest", es[0].Action, "act2")
		sameTime(t, "At", es[0].At, t0.Add(2*time.Second))
	}},
	{"MessageWithoutAProjectIsQueuedClaimedAndListed", func(t *testing.T, s store.Store) {
		m := newMessage(t, s, "", "op@latch.test", t0)
		got, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 10)
		must(t, err)
		equal(t, "claimed", len(got), 1)
		equal(t, "ProjectID", got[0].ProjectID, "")
		ms, err := s.ListMessages(ctx(), "op@latch.test", 10)
		must(t, err)
		equal(t, "listed", len(ms), 1)
		equal(t, "listed id", ms[0].ID, m.ID)
		equal(t, "listed ProjectID", ms[0].ProjectID, "")
	}},
	{"RetryMakesAnUnsentMessageDueAndLeavesASentOne", func(t *testing.T, s store.Store) {
		c := console(t, s)
		p := newProject(t, s)
		dead := newMessage(t, s, p.ID, "dead@example.com", t0)
		sent := newMessage(t, s, p.ID, "sent@example.com", t0)
		_, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 10)
		must(t, err)
		must(t, s.MarkMessageHandedOff(ctx(), dead.ID, t0))
		must(t, s.MarkMessageDead(ctx(), dead.ID, "refused", t0))
		must(t, s.MarkMessagesSent(ctx(), []int64{sent.ID}, t0))
		must(t, c.RetryMessage(ctx(), dead.ID, t0.Add(time.Hour)))
		mustBe(t, c.RetryMessage(ctx(), sent.ID, t0.Add(time.Hour)), store.ErrNotFound)
		mustBe(t, c.RetryMessage(ctx(), 999999, t0.Add(time.Hour)), store.ErrNotFound)
		got, err := s.ClaimMessages(ctx(), t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
		must(t, err)
		equal(t, "claimed again", len(got), 1)
		equal(t, "the dead one", got[0].ID, dead.ID)
		sameTimePtr(t, "DeadAt", got[0].DeadAt, nil)
		sameTimePtr(t, "HandedOffAt", got[0].HandedOffAt, nil)
	}},
	{"RecentSessionsAreTheProjectsLiveOnesNewestFirst", func(t *testing.T, s store.Store) {
		c := console(t, s)
		p, q := newProject(t, s), newProject(t, s)
		u, v := newUser(t, s, p.ID), newUser(t, s, q.ID)
		old := newSession(t, s, u)
		recent := newSession(t, s, u, func(x *store.Session) { x.StartedAt = t0.Add(time.Minute) })
		newSession(t, s, u, func(x *store.Session) { x.StartedAt = t0.Add(2 * time.Minute); x.ExpiresAt = t0.Add(3 * time.Minute) })
		newSession(t, s, v)
		ss, err := c.ListRecentSessions(ctx(), p.ID, t0.Add(5*time.Minute), 10)
		must(t, err)
		equal(t, "live sessions", len(ss), 2)
		equal(t, "newest first", ss[0].ID, recent.ID)
		equal(t, "then", ss[1].ID, old.ID)
		ss, err = c.ListRecentSessions(ctx(), p.ID, t0.Add(5*time.Minute), 1)
		must(t, err)
		equal(t, "limit", len(ss), 1)
		n, err := c.CountSessionsStartedSince(ctx(), p.ID, t0.Add(time.Minute))
		must(t, err)
		equal(t, "started since", n, 2)
	}},
}
