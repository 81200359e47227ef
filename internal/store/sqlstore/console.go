package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var _ store.Console = (*DB)(nil)

// AddOperator adds an operator; ErrAlreadyExists on repeat.
func (db *DB) AddOperator(ctx context.Context, o store.ConsoleOperator) error {
	return db.insert(ctx, `INSERT INTO console_operators (email, created_at) VALUES (?, ?)`, o.Email, ms(o.CreatedAt))
}

// ListOperators lists the operators by address.
func (db *DB) ListOperators(ctx context.Context) ([]store.ConsoleOperator, error) {
	rows, err := db.query(ctx, `SELECT email, created_at FROM console_operators ORDER BY email`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.ConsoleOperator{}
	for rows.Next() {
		var o store.ConsoleOperator
		var created int64
		if err := rows.Scan(&o.Email, &created); err != nil {
			return nil, db.wrap(err)
		}
		o.CreatedAt = fromMS(created)
		out = append(out, o)
	}
	return out, db.wrap(rows.Err())
}

// RemoveOperator deletes the operator; their links and sessions go with
// them (ON DELETE CASCADE), deleted here too in case foreign keys are off.
func (db *DB) RemoveOperator(ctx context.Context, email string) error {
	return db.inTx(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE email = ?`, email); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM console_tokens WHERE email = ?`, email); err != nil {
			return err
		}
		return tx.execOne(ctx, `DELETE FROM console_operators WHERE email = ?`, email)
	})
}

// IsOperator reports whether email is on the list.
func (db *DB) IsOperator(ctx context.Context, email string) (bool, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM console_operators WHERE email = ?`, email).Scan(&n)
	return n > 0, db.wrap(err)
}

// CreateConsoleToken stores a sign-in link; ErrNotFound if its operator
// is not on the list.
func (db *DB) CreateConsoleToken(ctx context.Context, t store.ConsoleToken) error {
	return db.insert(ctx, `INSERT INTO console_tokens (token_hash, email, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		t.TokenHash, t.Email, ms(t.CreatedAt), ms(t.ExpiresAt))
}

// RedeemConsoleToken uses the link once (one conditional UPDATE) and, in
// the same transaction, ends the operator's other unused links: once one
// link signed them in, an older one still in a mailbox opens nothing.
func (db *DB) RedeemConsoleToken(ctx context.Context, tokenHash []byte, now time.Time) (string, error) {
	var email string
	err := db.inTx(ctx, func(tx *DB) error {
		err := tx.writeRow(ctx, `UPDATE console_tokens SET used_at = ?
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
			AND email IN (SELECT email FROM console_operators)
			RETURNING email`, ms(now), tokenHash, ms(now)).Scan(&email)
		if err != nil {
			if err = tx.wrap(err); errors.Is(err, store.ErrNotFound) {
				return store.ErrConsumed
			}
			return err
		}
		_, err = tx.exec(ctx, `UPDATE console_tokens SET used_at = ? WHERE email = ? AND used_at IS NULL`, ms(now), email)
		return err
	})
	if err != nil {
		return "", err
	}
	return email, nil
}

// CreateConsoleSession stores a console session; ErrNotFound if its
// operator is not on the list.
func (db *DB) CreateConsoleSession(ctx context.Context, s store.ConsoleSession) error {
	return db.insert(ctx, `INSERT INTO console_sessions (id, token_hash, email, created_at, last_seen_at, expires_at, ip_address, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.TokenHash, s.Email, ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt), s.IPAddress, s.UserAgent)
}

// GetConsoleSession reads a live session whose operator is on the list.
func (db *DB) GetConsoleSession(ctx context.Context, tokenHash []byte, now time.Time) (store.ConsoleSession, error) {
	var s store.ConsoleSession
	var created, seen, expires int64
	err := db.queryRow(ctx, `SELECT s.id, s.token_hash, s.email, s.created_at, s.last_seen_at, s.expires_at, s.ip_address, s.user_agent
		FROM console_sessions s JOIN console_operators o ON o.email = s.email
		WHERE s.token_hash = ? AND s.expires_at > ?`, tokenHash, ms(now)).
		Scan(&s.ID, &s.TokenHash, &s.Email, &created, &seen, &expires, &s.IPAddress, &s.UserAgent)
	if err != nil {
		return store.ConsoleSession{}, db.wrap(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return s, nil
}

// TouchConsoleSession records that the session was used at at.
func (db *DB) TouchConsoleSession(ctx context.Context, id string, at time.Time) error {
	return db.execOne(ctx, `UPDATE console_sessions SET last_seen_at = ? WHERE id = ?`, ms(at), id)
}

// DeleteConsoleSession ends a console session.
func (db *DB) DeleteConsoleSession(ctx context.Context, id string) error {
	_, err := db.exec(ctx, `DELETE FROM console_sessions WHERE id = ?`, id)
	return err
}

// AddAudit appends to the audit log.
func (db *DB) AddAudit(ctx context.Context, e store.AuditEntry) error {
	return db.insert(ctx, `INSERT INTO console_audit (at, email, action, target, ip_address, user_agent) VALUES (?, ?, ?, ?, ?, ?)`,
		ms(e.At), e.Email, e.Action, e.Target, e.IPAddress, e.UserAgent)
}

// ListAudit returns the newest entries first.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	rows, err := db.query(ctx, `SELECT id, at, email, action, target, ip_address, user_agent FROM console_audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Email, &e.Action, &e.Target, &e.IPAddress, &e.UserAgent); err != nil {
			return nil, db.wrap(err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, db.wrap(rows.Err())
}

// ListRecentSessions returns the project's live sessions, newest first.
func (db *DB) ListRecentSessions(ctx context.Context, projectID string, now time.Time, limit int) ([]store.Session, error) {
	rows, err := db.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE project_id = ? AND expires_at > ? ORDER BY started_at DESC, id DESC LIMIT ?`, projectID, ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Session{}
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, s)
	}
	return out, db.wrap(rows.Err())
}

// CountSessionsStartedSince counts the project's sessions started since.
func (db *DB) CountSessionsStartedSince(ctx context.Context, projectID string, since time.Time) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE project_id = ? AND started_at >= ?`, projectID, ms(since)).Scan(&n)
	return n, db.wrap(err)
}

// RetryMessage makes an unsent message due now, dead or not. A recorded
// hand-off is cleared: the operator asks for the message to go again.
func (db *DB) RetryMessage(ctx context.Context, id int64, now time.Time) error {
	return db.execOne(ctx, `UPDATE outbox SET next_attempt_at = ?, dead_at = NULL, handed_off_at = NULL
		WHERE id = ? AND sent_at IS NULL`, ms(now), id)
}

// DeleteExpiredConsole sweeps console links (an hour after expiry) and
// sessions past their end.
func (db *DB) DeleteExpiredConsole(ctx context.Context, now time.Time) (int, error) {
	a, err := db.execCount(ctx, `DELETE FROM console_tokens WHERE expires_at < ?`, ms(now.Add(-tokenRetention)))
	if err != nil {
		return 0, err
	}
	b, err := db.execCount(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, ms(now))
	return a + b, err
}
