package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

const (
	defaultLease = time.Minute
	defaultBatch = 20
	// concurrency bounds the deliveries of one RunOnce in flight at once.
	concurrency = 8
	// pollInterval is how often an idle Run looks for due messages.
	pollInterval = 200 * time.Millisecond
	// errorWait is the longest Run waits after a failed round.
	errorWait = 5 * time.Second
	// markTimeout bounds recording the outcome of a delivery.
	markTimeout = 10 * time.Second

	backoffBase = time.Second
	backoffMax  = 5 * time.Minute
)

// Outbox is what a Sender needs of the store: the queued messages and
// their outcomes (store.Store satisfies it).
type Outbox interface {
	ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.OutboxMessage, error)
	MarkMessagesSent(ctx context.Context, ids []int64, now time.Time) error
	MarkMessageHandedOff(ctx context.Context, id int64, now time.Time) error
	MarkMessageFailed(ctx context.Context, id int64, errText string, next time.Time) error
	MarkMessageDead(ctx context.Context, id int64, errText string, now time.Time) error
}

// Sender runs the background delivery loop: it claims due messages from the
// outbox, hands each to the transport of its channel and records the outcome.
//
// A message is leased to one sender at a time and marked sent right after
// its transport returns nil. Just before the hand-off the sender records it
// (MarkMessageHandedOff); a recorded failure clears that. So a message
// claimed again with a hand-off recorded and no outcome was handed over by
// a node that died before recording how it went: email is sent again with
// the same Message-ID (receivers drop the repeat); SMS and WhatsApp, which
// Twilio cannot deduplicate, are not sent again but marked dead (at most
// once). Failures are retried forever with capped exponential backoff; only
// a *PermanentError ends a message (dead).
type Sender struct {
	Store Outbox
	Ring  *secret.Keyring
	// Email, SMS, WhatsApp: nil → the Log transport for test projects; a
	// live project's message waits (retried) until its channel has one.
	Email, SMS, WhatsApp Transport
	Logger               *slog.Logger
	Now                  func() time.Time // injected clock; time.Now when nil
	Lease                time.Duration    // how long a claimed message is leased; default 1 min
	Batch                int              // messages claimed per RunOnce; default 20
	// OnResult, when set, is told the outcome of every delivery attempt
	// (err nil on success), for metrics.
	OnResult func(channel string, err error)

	wakeOnce sync.Once
	wake     chan struct{}
	sent     sentMarks
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return defaultLease
}

func (s *Sender) batch() int {
	if s.Batch > 0 {
		return s.Batch
	}
	return defaultBatch
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Sender) wakeChan() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// Notify wakes Run early, so that a message just enqueued goes out without
// waiting for the next poll. It never blocks.
func (s *Sender) Notify() {
	select {
	case s.wakeChan() <- struct{}{}:
	default:
	}
}

// Configured reports whether channel has a transport of its own (not Log).
func (s *Sender) Configured(channel string) bool { return s.channelTransport(channel) != nil }

// channelTransport is the transport configured for channel, nil if none
// (or the channel is unknown).
func (s *Sender) channelTransport(channel string) Transport {
	switch channel {
	case store.ChannelEmail:
		return s.Email
	case store.ChannelSMS:
		return s.SMS
	case store.ChannelWhatsApp:
		return s.WhatsApp
	}
	return nil
}

// errNoTransport is a live project's message on a channel without a
// transport: retried, so it goes out once one is configured.
var errNoTransport = errors.New("no transport configured for this channel; a live project's messages wait for one")

// transport is the transport of a message of projectID on channel: a
// PermanentError for an unknown channel; for a channel without one, Log for
// a test project and errNoTransport for a live one.
func (s *Sender) transport(projectID, channel string) (Transport, error) {
	if channel != store.ChannelEmail && channel != store.ChannelSMS && channel != store.ChannelWhatsApp {
		return nil, &PermanentError{Err: fmt.Errorf("unknown channel %q", channel)}
	}
	if t := s.channelTransport(channel); t != nil {
		return t, nil
	}
	if live, _ := secret.IDEnv("project", projectID); live {
		return nil, errNoTransport
	}
	return Log{Logger: s.logger()}, nil
}

// RunOnce claims the messages due now (up to Batch), delivers them, a few at
// a time, and marks each sent, failed (due again after a backoff) or dead.
// It returns how many messages it handled.
//
// Deliveries already started run to completion (bounded by half the lease)
// even if ctx ends, so that a shutdown does not leave a message sent but
// unmarked, to be sent again.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.now()
	msgs, err := s.Store.ClaimMessages(ctx, now, now.Add(s.lease()), s.batch())
	if err != nil {
		return 0, fmt.Errorf("deliver: claim messages: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, concurrency)
	)
	for _, m := range msgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.deliver(ctx, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(msgs), errors.Join(errs...)
}

// deliver sends one claimed message and records the outcome. Its error is
// only about recording: delivery failures are data, stored on the row.
func (s *Sender) deliver(ctx context.Context, om store.OutboxMessage) error {
	lg := s.logger().With("outbox_id", om.ID, "channel", om.Channel, "project_id", om.ProjectID)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease()/2)
	defer cancel()

	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer mcancel()

	var derr error
	msg, err := Open(s.Ring, om)
	t, terr := s.transport(om.ProjectID, om.Channel)
	switch {
	case err != nil:
		// Another node with the right master key may still send it, and a
		// fixed key here will: retry rather than give up.
		derr = err
	case terr != nil:
		derr = terr
	case om.HandedOffAt != nil && om.Channel != store.ChannelEmail:
		// Handed to Twilio by a node that died before recording the
		// outcome: it may have gone out; Twilio cannot drop a repeat.
		derr = &PermanentError{Err: errors.New("outcome unknown: handed to the transport by a node that stopped before recording the result; not sent again, to avoid a duplicate")}
	default:
		if om.HandedOffAt != nil {
			lg.WarnContext(ctx, "sending again a message whose earlier hand-off has no recorded outcome, with the same Message-ID")
		}
		// The hand-off is recorded only where a repeat could not be
		// dropped: a text through Twilio. An email carries a Message-ID
		// derived from its row, so a receiver drops a repeat without it,
		// and a dev-outbox line is harmless: one commit less for them.
		if _, isLog := t.(Log); om.Channel != store.ChannelEmail && !isLog {
			if herr := s.Store.MarkMessageHandedOff(mctx, om.ID, s.now()); herr != nil {
				// The database blinked after the claim. Holding the message
				// back would delay it a whole lease; sending it risks a repeat
				// only if recording the outcome fails too.
				lg.WarnContext(ctx, "could not record the hand-off; sending all the same", "err", herr)
			}
		}
		msg.Key = messageKey(om)
		derr = t.Deliver(dctx, msg)
	}

	var merr error
	switch {
	case derr == nil:
		if merr = s.markSent(mctx, om.ID); merr != nil {
			lg.ErrorContext(ctx, "message delivered but not marked sent; it will be sent again", "err", merr)
			merr = fmt.Errorf("deliver: mark message %d sent: %w", om.ID, merr)
		} else {
			lg.DebugContext(ctx, "message delivered")
		}
	case IsPermanent(derr):
		lg.WarnContext(ctx, "message refused, giving up", "err", derr)
		if merr = s.Store.MarkMessageDead(mctx, om.ID, errText(derr), s.now()); merr != nil {
			merr = fmt.Errorf("deliver: mark message %d dead: %w", om.ID, merr)
		}
	default:
		// ClaimMessages counted this attempt: Attempts is 1 on the first.
		attempt := om.Attempts
		next := s.now().Add(backoff(attempt))
		lg.WarnContext(ctx, "message delivery failed, will retry",
			"err", derr, "attempt", attempt, "next_attempt_at", next)
		if merr = s.Store.MarkMessageFailed(mctx, om.ID, errText(derr), next); merr != nil {
			merr = fmt.Errorf("deliver: mark message %d failed: %w", om.ID, merr)
		}
	}
	if s.OnResult != nil {
		s.OnResult(om.Channel, derr)
	}
	return merr
}

// messageKey is Message.Key of an outbox row.
func messageKey(om store.OutboxMessage) string { return fmt.Sprintf("%d.%s", om.ID, om.ProjectID) }

// markSent records a delivery, trying again briefly if the database blinks:
// a delivered message left unmarked would be sent a second time once its
// lease ends. Deliveries that finish together are recorded in one write.
func (s *Sender) markSent(ctx context.Context, id int64) error {
	return s.sent.mark(id, func(ids []int64) error {
		waits := []time.Duration{50 * time.Millisecond, 250 * time.Millisecond}
		for i := 0; ; i++ {
			err := s.Store.MarkMessagesSent(ctx, ids, s.now())
			if err == nil || i == len(waits) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(waits[i]):
			}
		}
	})
}

// sentMarks groups the records of deliveries that finish together into one
// write, as a database groups commits: while one write is in flight, the
// deliveries finishing queue their ids, and the next write takes them all.
// On SQLite every write is an fsync'd commit of the one writer, so eight
// deliveries finishing at once cost two commits instead of eight.
type sentMarks struct {
	mu      sync.Mutex // guards pending
	pending []sentMark
	write   sync.Mutex // one write at a time
}

type sentMark struct {
	id   int64
	done chan error // the outcome of the write that took id
}

// mark records id through write, alone or with the ids queued beside it,
// and returns the outcome of the write that recorded it.
func (m *sentMarks) mark(id int64, write func(ids []int64) error) error {
	done := make(chan error, 1)
	m.mu.Lock()
	m.pending = append(m.pending, sentMark{id, done})
	m.mu.Unlock()

	m.write.Lock()
	defer m.write.Unlock()
	select {
	case err := <-done: // taken by the write that just ended
		return err
	default:
	}
	m.mu.Lock()
	batch := m.pending
	m.pending = nil
	m.mu.Unlock()
	ids := make([]int64, len(batch))
	for i, b := range batch {
		ids[i] = b.id
	}
	err := write(ids)
	for _, b := range batch {
		b.done <- err
	}
	return <-done
}

// errText is err as stored in the outbox's last_error, bounded.
func errText(err error) string {
	const limit = 1000
	s := err.Error()
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return s
}

// backoff is the wait after the attempt-th failed delivery of a message:
// 1 s, 2 s, 4 s, … capped at 5 min, each within ±10 % jitter so that messages
// that failed together do not all come due at the same instant.
func backoff(attempt int) time.Duration {
	d := backoffMax
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 { // 2^19 s is far beyond the cap
		d = min(backoffBase<<(attempt-1), backoffMax)
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return d + jitter
}

// Run delivers messages until ctx ends: it runs RunOnce again at once when
// a batch was full, and otherwise waits for Notify or the next poll (about
// every 200 ms). It returns after the deliveries in flight have finished.
func (s *Sender) Run(ctx context.Context) {
	wake := s.wakeChan()
	timer := time.NewTimer(pollInterval)
	defer timer.Stop()
	wait := pollInterval
	for {
		n, err := s.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			// Most likely the database is unreachable: log, and back off
			// to at most errorWait between tries.
			s.logger().ErrorContext(ctx, "outbox delivery round failed", "err", err)
			wait = min(wait*2, errorWait)
		case n >= s.batch():
			wait = pollInterval
			continue
		default:
			wait = pollInterval
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}
