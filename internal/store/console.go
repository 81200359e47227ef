package store

import (
	"context"
	"time"
)

// The operators' console (internal/console) keeps its own rows: who may
// sign in, their sign-in links, their sessions and what they did. None of
// them belongs to a project.

// ConsoleToken is a console sign-in link, stored only as SHA-256.
type ConsoleToken struct {
	TokenHash []byte
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ConsoleSession is an operator's console login; the cookie's value is
// stored only as SHA-256.
type ConsoleSession struct {
	ID         string
	TokenHash  []byte
	Email      string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IPAddress  string
	UserAgent  string
}

// ConsoleOperator is an address allowed to sign in to the console.
type ConsoleOperator struct {
	Email     string // lower-cased
	CreatedAt time.Time
}

// AuditEntry is one line of the console's audit log.
type AuditEntry struct {
	ID        int64
	At        time.Time
	Email     string // the operator
	Action    string // e.g. "session.revoke"
	Target    string // what it acted on (ids, never secrets)
	IPAddress string
	UserAgent string
}

// Console is what the console needs of the database beyond Store.
type Console interface {
	// AddOperator adds an operator; ErrAlreadyExists on repeat.
	AddOperator(ctx context.Context, o ConsoleOperator) error
	ListOperators(ctx context.Context) ([]ConsoleOperator, error)
	// RemoveOperator removes the operator and, with them, their links and
	// sessions; ErrNotFound if there was none.
	RemoveOperator(ctx context.Context, email string) error
	IsOperator(ctx context.Context, email string) (bool, error)

	CreateConsoleToken(ctx context.Context, t ConsoleToken) error
	// RedeemConsoleToken marks the link used in one conditional write and
	// returns its operator; ErrConsumed if the link is unknown, used or
	// expired (or its operator was removed).
	RedeemConsoleToken(ctx context.Context, tokenHash []byte, now time.Time) (email string, err error)

	CreateConsoleSession(ctx context.Context, s ConsoleSession) error
	// GetConsoleSession returns the live session of the hash whose
	// operator is still on the list; ErrNotFound otherwise.
	GetConsoleSession(ctx context.Context, tokenHash []byte, now time.Time) (ConsoleSession, error)
	TouchConsoleSession(ctx context.Context, id string, at time.Time) error
	DeleteConsoleSession(ctx context.Context, id string) error

	AddAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns the newest entries first.
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error)

	// ListRecentSessions returns the project's live sessions, the most
	// recently started first.
	ListRecentSessions(ctx context.Context, projectID string, now time.Time, limit int) ([]Session, error)
	// CountSessionsStartedSince counts the project's sessions started at
	// or after since.
	CountSessionsStartedSince(ctx context.Context, projectID string, since time.Time) (int, error)
	// RetryMessage makes an unsent message (queued, failing or dead) due
	// at now; ErrNotFound if it is sent or missing.
	RetryMessage(ctx context.Context, id int64, now time.Time) error
	// DeleteExpiredConsole sweeps console links and sessions past their end.
	DeleteExpiredConsole(ctx context.Context, now time.Time) (int, error)
}
