package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var outboxBehaviours = []behaviour{
	{"EnqueuedMessagesAreClaimedWhenDue", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		a := newMessage(t, s, p.ID, "a@example.com", t0)
		b := newMessage(t, s, p.ID, "b@example.com", t0.Add(-time.Second))
		newMessage(t, s, p.ID, "later@example.com", t0.Add(time.Minute))
		if b.ID <= a.ID {
			t.Fatalf("ids not increasing: %d then %d", a.ID, b.ID)
		}
		lease := t0.Add(30 * time.Second)
		got, err := s.ClaimMessages(ctx(), t0, lease, 10)
		must(t, err)
		equal(t, "claimed", len(got), 2)
		equal(t, "in id order", got[0].ID, a.ID)
		m := got[0]
		equal(t, "ProjectID", m.ProjectID, p.ID)
		equal(t, "Channel", m.Channel, store.ChannelEmail)
		equal(t, "Recipient", m.Recipient, "a@example.com")
		equal(t, "Payload", string(m.Payload), string(a.Payload))
		sameTime(t, "CreatedAt", m.CreatedAt, t0)
		equal(t, "Attempts", m.Attempts, 1)
		sameTime(t, "NextAttemptAt is the lease", m.NextAttemptAt, lease)
		sameTimePtr(t, "SentAt", m.SentAt, nil)
		sameTimePtr(t, "DeadAt", m.DeadAt, nil)
		equal(t, "LastError", m.LastError, "")

		// Leased: nobody else gets them before the lease ends.
		again, err := s.ClaimMessages(ctx(), t0.Add(time.Second), lease.Add(time.Minute), 10)
		must(t, err)
		equal(t, "claimed during the lease", len(again), 0)
		// After the lease (and once the later one is due) they come back.
		again, err = s.ClaimMessages(ctx(), t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
		must(t, err)
		equal(t, "claimed after the lease", len(again), 3)
		equal(t, "Attempts", again[0].Attempts, 2)
	}},
	{"ClaimMessagesHonoursTheLimit", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		for i := range 5 {
			newMessage(t, s, p.ID, fmt.Sprintf("m%d@example.com", i), t0)
		}
		got, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 3)
		must(t, err)
		equal(t, "first batch", len(got), 3)
		got, err = s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 3)
		must(t, err)
		equal(t, "second batch", len(got), 2)
		n, err := s.CountPendingMessages(ctx())
		must(t, err)
		equal(t, "pending (leased is still pending)", n, 5)
	}},
	{"TwoClaimersNeverClaimTheSameMessage", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		const total = 60
		for i := range total {
			newMessage(t, s, p.ID, fmt.Sprintf("m%d@example.com", i), t0)
		}
		var mu sync.Mutex
		claimed := map[int64]int{}
		parallel(4, func(int) {
			for {
				got, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Hour), 4)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
				}
				mu.Unlock()
			}
		})
		equal(t, "distinct messages claimed", len(claimed), total)
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("message %d claimed %d times", id, n)
			}
		}
	}},
	{"AHandOffIsRecordedUntilAFailureClearsIt", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		m := newMessage(t, s, p.ID, "handed@example.com", t0)
		_, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 10)
		must(t, err)
		must(t, s.MarkMessageHandedOff(ctx(), m.ID, t0.Add(time.Second)))
		mustBe(t, s.MarkMessageHandedOff(ctx(), 1<<40, t0), store.ErrNotFound)
		// The node dies: the next claim, after the lease, sees the hand-off.
		got, err := s.ClaimMessages(ctx(), t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10)
		must(t, err)
		equal(t, "claimed after the lease", len(got), 1)
		sameTimePtr(t, "HandedOffAt", got[0].HandedOffAt, ptr(t0.Add(time.Second)))
		// A recorded failure is a known outcome.
		must(t, s.MarkMessageFailed(ctx(), m.ID, "smtp: 451", t0.Add(4*time.Minute)))
		got, err = s.ClaimMessages(ctx(), t0.Add(5*time.Minute), t0.Add(6*time.Minute), 10)
		must(t, err)
		equal(t, "claimed after the failure", len(got), 1)
		sameTimePtr(t, "HandedOffAt after a failure", got[0].HandedOffAt, nil)
	}},
	{"ReleasedLeasesAreDueAtOnce", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		leased := newMessage(t, s, p.ID, "leased@example.com", t0)
		backoff := newMessage(t, s, p.ID, "backoff@example.com", t0)
		sent := newMessage(t, s, p.ID, "sent@example.com", t0)
		_, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 10)
		must(t, err)
		must(t, s.MarkMessageFailed(ctx(), backoff.ID, "smtp: 451", t0.Add(5*time.Minute)))
		must(t, s.MarkMessagesSent(ctx(), []int64{sent.ID}, t0))
		// The node that held them is gone: nothing is due before the lease ends.
		got, err := s.ClaimMessages(ctx(), t0.Add(time.Second), t0.Add(2*time.Minute), 10)
		must(t, err)
		equal(t, "claimed while leased", len(got), 0)
		n, err := s.ReleaseMessageLeases(ctx(), t0.Add(time.Second))
		must(t, err)
		equal(t, "released", n, 2)
		got, err = s.ClaimMessages(ctx(), t0.Add(time.Second), t0.Add(2*time.Minute), 10)
		must(t, err)
		equal(t, "claimed after the release", len(got), 2)
		equal(t, "first", got[0].ID, leased.ID)
		equal(t, "second", got[1].ID, backoff.ID)
	}},
	{"SeveralMessagesAreMarkedSentInOneWrite", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		a := newMessage(t, s, p.ID, "a@example.com", t0)
		b := newMessage(t, s, p.ID, "b@example.com", t0)
		c := newMessage(t, s, p.ID, "c@example.com", t0)
		_, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 10)
		must(t, err)
		must(t, s.MarkMessagesSent(ctx(), []int64{a.ID, b.ID}, t0.Add(time.Second)))
		must(t, s.MarkMessagesSent(ctx(), nil, t0))
		// An unknown id among known ones: ErrNotFound, the known one recorded.
		mustBe(t, s.MarkMessagesSent(ctx(), []int64{c.ID, 1 << 40}, t0.Add(2*time.Second)), store.ErrNotFound)
		n, err := s.CountPendingMessages(ctx())
		must(t, err)
		equal(t, "pending", n, 0)
		all, err := s.ListMessages(ctx(), "", 0)
		must(t, err)
		for _, m := range all {
			if m.SentAt == nil {
				t.Fatalf("message %d to %s not marked sent", m.ID, m.Recipient)
			}
		}
	}},
	{"SentFailedAndDeadMessagesAreRecorded", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		sent := newMessage(t, s, p.ID, "sent@example.com", t0)
		failed := newMessage(t, s, p.ID, "failed@example.com", t0)
		dead := newMessage(t, s, p.ID, "dead@example.com", t0)
		newMessage(t, s, p.ID, "sent@example.com", t0)
		_, err := s.ClaimMessages(ctx(), t0, t0.Add(time.Minute), 10)
		must(t, err)
		must(t, s.MarkMessagesSent(ctx(), []int64{sent.ID}, t0.Add(time.Second)))
		must(t, s.MarkMessageFailed(ctx(), failed.ID, "smtp: 451 try later", t0.Add(5*time.Minute)))
		must(t, s.MarkMessageDead(ctx(), dead.ID, "smtp: 550 no such user", t0.Add(time.Second)))
		mustBe(t, s.MarkMessagesSent(ctx(), []int64{1 << 40}, t0), store.ErrNotFound)
		mustBe(t, s.MarkMessageFailed(ctx(), 1<<40, "x", t0), store.ErrNotFound)
		mustBe(t, s.MarkMessageDead(ctx(), 1<<40, "x", t0), store.ErrNotFound)

		n, err := s.CountPendingMessages(ctx())
		must(t, err)
		equal(t, "pending", n, 2)

		all, err := s.ListMessages(ctx(), "", 0)
		must(t, err)
		equal(t, "all", len(all), 4)
		equal(t, "newest first", all[3].ID, sent.ID)
		byID := map[int64]store.OutboxMessage{}
		for _, m := range all {
			byID[m.ID] = m
		}
		sameTimePtr(t, "SentAt", byID[sent.ID].SentAt, ptr(t0.Add(time.Second)))
		equal(t, "failed LastError", byID[failed.ID].LastError, "smtp: 451 try later")
		sameTime(t, "failed NextAttemptAt", byID[failed.ID].NextAttemptAt, t0.Add(5*time.Minute))
		equal(t, "failed Attempts", byID[failed.ID].Attempts, 1)
		sameTimePtr(t, "DeadAt", byID[dead.ID].DeadAt, ptr(t0.Add(time.Second)))
		equal(t, "dead LastError", byID[dead.ID].LastError, "smtp: 550 no such user")

		mine, err := s.ListMessages(ctx(), "sent@example.com", 0)
		must(t, err)
		equal(t, "by recipient", len(mine), 2)
		one, err := s.ListMessages(ctx(), "sent@example.com", 1)
		must(t, err)
		equal(t, "limit", len(one), 1)
		if one[0].ID <= sent.ID {
			t.Fatalf("ListMessages limit 1 = %d, want the newest", one[0].ID)
		}

		// Sent and dead messages are never claimed again; the failed one is, when due.
		got, err := s.ClaimMessages(ctx(), t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
		must(t, err)
		equal(t, "claimable", len(got), 2)
		for _, m := range got {
			if m.ID == sent.ID || m.ID == dead.ID {
				t.Fatalf("claimed finished message %d", m.ID)
			}
		}
	}},
}
