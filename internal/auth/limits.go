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
func (s *Service) succeed(ctx context.Context, tx store.Store, u store.User) error {
	if u.Status == store.UserPending {
		u.Status = store.UserActive
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
	}
	if u.FailedAuths > 0 || u.LockExpiresAt != nil {
		return tx.ResetAuthFailures(ctx, u.ProjectID, u.ID)
	}
	return nil
}

// recordFailure counts one failed authentication of the user, outside any
// transaction that is about to roll back; it returns ErrUserLocked if this
// failure locked the user.
func (s *Service) recordFailure(ctx context.Context, p store.Project, userID string) error {
	threshold, ttl := p.LockThreshold, p.LockTTL
	if threshold <= 0 {
		threshold = DefaultLockThreshold
	}
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	until, err := s.store.RecordAuthFailure(ctx, p.ID, userID, s.Now(), threshold, ttl)
	if err != nil {
		return storeErr(err, "record failure")
	}
	if until != nil && until.After(s.Now()) {
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

// limitSend counts one message to recipient and refuses it past a limit.
func (s *Service) limitSend(ctx context.Context, p store.Project, recipient string) error {
	window := s.Now().Truncate(sendWindow)
	n, err := s.store.CountHit(ctx, p.ID, "send:to:"+recipient, window)
	if err != nil {
		return storeErr(err, "count send")
	}
	recipientLimit, projectLimit := SendLimitsOf(p)
	if n > recipientLimit {
		return ErrTooManyRequests.With("Too many messages to this recipient; try again in a minute.")
	}
	n, err = s.store.CountHit(ctx, p.ID, "send:project", window)
	if err != nil {
		return storeErr(err, "count send")
	}
	if n > projectLimit {
		return ErrTooManyRequests.With("Too many messages from this project; try again in a minute.")
	}
	return nil
}
