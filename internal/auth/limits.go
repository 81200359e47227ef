package auth

import (
	"context"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// checkLock refuses a locked user, whatever the credential.
func (s *Service) checkLock(u store.User) error {
	if u.LockExpiresAt != nil && u.LockExpiresAt.After(s.Now()) {
		return ErrUserLocked
	}
	return nil
}

// succeed runs inside a successful authentication's transaction: a pending
// user becomes active and the consecutive-failure count starts over.
// admitted is when reserveAttempt admitted the attempt (zero for a factor
// that reserves none): a lock in force stays unless that reservation set it,
// so a right answer never lifts a lock that attempts beside it set.
func (s *Service) succeed(ctx context.Context, tx store.Store, u store.User, admitted time.Time) error {
	if u.Status == store.UserPending {
		u.Status = store.UserActive
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
	}
	if u.FailedAuths > 0 || u.LockExpiresAt != nil {
		return tx.ResetAuthFailures(ctx, u.ProjectID, u.ID, s.Now(), admitted)
	}
	return nil
}

func lockParams(p store.Project) (int, time.Duration) {
	threshold, ttl := p.LockThreshold, p.LockTTL
	if threshold <= 0 {
		threshold = DefaultLockThreshold
	}
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	return threshold, ttl
}

// reserveAttempt counts one attempt at the user's credential before it is
// checked (a password, a TOTP code, a recovery code, a passcode): the
// attempt counts as a failure unless the check succeeds (which clears the
// count), and a locked user is refused with ErrUserLocked without any
// check. So however many guesses arrive at once, at most the lock
// threshold of them are ever checked per lock period, and once the lock
// is reached every guess, the right one too, gets the same 429.
func (s *Service) reserveAttempt(ctx context.Context, p store.Project, userID string) (admitted time.Time, err error) {
	threshold, ttl := lockParams(p)
	at := s.Now()
	ok, err := s.store.ReserveAuthAttempt(ctx, p.ID, userID, at, threshold, ttl)
	if err != nil {
		return time.Time{}, storeErr(err, "reserve attempt")
	}
	if !ok {
		return time.Time{}, ErrUserLocked
	}
	return at, nil
}

// addressWindowCap bounds the window of reserveAddress: rate-limit
// counters are swept after a day.
const addressWindowCap = 24 * time.Hour

// reserveAddress is reserveAttempt for a password login of an address
// that has no password (no user, or a user without one): the attempt is
// counted per project and address in a fixed window of the lock's TTL
// (at most a day), and past the lock threshold it is refused with
// ErrUserLocked as a locked user's is, so the lock does not tell who has a
// password.
func (s *Service) reserveAddress(ctx context.Context, p store.Project, addr string) error {
	threshold, ttl := lockParams(p)
	ttl = min(ttl, addressWindowCap)
	n, err := s.store.CountHit(ctx, p.ID, "pwfail:"+addr, s.Now().Truncate(ttl))
	if err != nil {
		return storeErr(err, "count password attempt")
	}
	if n > threshold {
		return ErrUserLocked
	}
	return nil
}

// Send limits: a fixed one-minute window counted in the database, so they
// hold across nodes. Per recipient they stop a mailbox or phone being
// flooded (and toll fraud); per project they bound a runaway caller.
const (
	sendWindow             = time.Minute
	defaultRecipientPerMin = 5
	defaultProjectPerMin   = 100000
)

// SendLimitsOf is the project's send limits per minute, per recipient and
// for the whole project: its settings, or the defaults (5 and 100,000)
// where they are unset (0).
func SendLimitsOf(p store.Project) (recipient, project int) {
	recipient, project = defaultRecipientPerMin, defaultProjectPerMin
	if p.RecipientSendsPerMinute > 0 {
		recipient = p.RecipientSendsPerMinute
	}
	if p.ProjectSendsPerMinute > 0 {
		project = p.ProjectSendsPerMinute
	}
	return recipient, project
}

// limitSend counts one message to recipient, toward the recipient's and
// the project's limits in one write (on SQLite one commit less per send),
// and refuses it past either.
func (s *Service) limitSend(ctx context.Context, p store.Project, recipient string) error {
	ns, err := s.store.CountHits(ctx, p.ID, []string{"send:to:" + recipient, "send:project"}, s.Now().Truncate(sendWindow))
	if err != nil {
		return storeErr(err, "count send")
	}
	recipientLimit, projectLimit := SendLimitsOf(p)
	if ns[0] > recipientLimit {
		return ErrTooManyRequests.With("Too many messages to this recipient; try again in a minute.")
	}
	if ns[1] > projectLimit {
		return ErrTooManyRequests.With("Too many messages from this project; try again in a minute.")
	}
	return nil
}
