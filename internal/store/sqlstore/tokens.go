package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

const magicLinkColumns = `token_hash, project_id, user_id, email_id, kind, code_challenge, ip_address, user_agent,
	created_at, expires_at, used_at`

func scanMagicLink(s rowScanner) (store.MagicLink, error) {
	var m store.MagicLink
	var created, expires int64
	var used sql.NullInt64
	if err := s.Scan(&m.TokenHash, &m.ProjectID, &m.UserID, &m.EmailID, &m.Kind, &m.CodeChallenge,
		&m.IPAddress, &m.UserAgent, &created, &expires, &used); err != nil {
		return store.MagicLink{}, err
	}
	m.CreatedAt = fromMS(created)
	m.ExpiresAt = fromMS(expires)
	m.UsedAt = timePtr(used)
	return m, nil
}

// CreateMagicLink stores a link; ErrNotFound if its user does not exist.
func (db *DB) CreateMagicLink(ctx context.Context, m store.MagicLink) error {
	return db.insert(ctx, `INSERT INTO magic_links (`+magicLinkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.TokenHash, m.ProjectID, m.UserID, m.EmailID, m.Kind, m.CodeChallenge, m.IPAddress, m.UserAgent,
		ms(m.CreatedAt), ms(m.ExpiresAt), msPtr(m.UsedAt))
}

// RedeemMagicLink marks the link used in one conditional write.
func (db *DB) RedeemMagicLink(ctx context.Context, projectID string, tokenHash []byte, now time.Time) (store.MagicLink, error) {
	m, err := scanMagicLink(db.writeRow(ctx, `UPDATE magic_links SET used_at = ?
		WHERE project_id = ? AND token_hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+magicLinkColumns,
		ms(now), projectID, tokenHash, ms(now)))
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.MagicLink{}, db.wrap(err)
	}
	// Nothing changed: tell a missing token from a spent one.
	m, err = scanMagicLink(db.writeRow(ctx, `SELECT `+magicLinkColumns+` FROM magic_links
		WHERE project_id = ? AND token_hash = ?`, projectID, tokenHash))
	if err != nil {
		return store.MagicLink{}, db.wrap(err)
	}
	return m, store.ErrConsumed
}

// RevokeMagicLinks expires every unused, unexpired link of the user of
// kind ("" = every kind).
func (db *DB) RevokeMagicLinks(ctx context.Context, projectID, userID, kind string, now time.Time) error {
	query := `UPDATE magic_links SET expires_at = ?
		WHERE project_id = ? AND user_id = ? AND used_at IS NULL AND expires_at > ?`
	args := []any{ms(now), projectID, userID, ms(now)}
	if kind != "" {
		query += ` AND kind = ?`
		args = append(args, kind)
	}
	_, err := db.exec(ctx, query, args...)
	return err
}

const otpColumns = `id, project_id, user_id, method_id, channel, code_hash, attempts, ip_address, user_agent,
	created_at, expires_at, used_at`

func scanOTP(s rowScanner) (store.OTP, error) {
	var o store.OTP
	var created, expires int64
	var used sql.NullInt64
	if err := s.Scan(&o.ID, &o.ProjectID, &o.UserID, &o.MethodID, &o.Channel, &o.CodeHash, &o.Attempts,
		&o.IPAddress, &o.UserAgent, &created, &expires, &used); err != nil {
		return store.OTP{}, err
	}
	o.CreatedAt = fromMS(created)
	o.ExpiresAt = fromMS(expires)
	o.UsedAt = timePtr(used)
	return o, nil
}

// CreateOTP stores o and, in the same transaction, expires every earlier
// live code of the same method.
func (db *DB) CreateOTP(ctx context.Context, o store.OTP, now time.Time) error {
	return db.atomically(ctx, func(tx *DB) error { return tx.createOTP(ctx, o, now) })
}

func (db *DB) createOTP(ctx context.Context, o store.OTP, now time.Time) error {
	if _, err := db.exec(ctx, `UPDATE otps SET expires_at = ?
		WHERE project_id = ? AND method_id = ? AND used_at IS NULL AND expires_at > ?`,
		ms(now), o.ProjectID, o.MethodID, ms(now)); err != nil {
		return err
	}
	_, err := db.exec(ctx, `INSERT INTO otps (`+otpColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.ProjectID, o.UserID, o.MethodID, o.Channel, o.CodeHash, o.Attempts, o.IPAddress, o.UserAgent,
		ms(o.CreatedAt), ms(o.ExpiresAt), msPtr(o.UsedAt))
	return err
}

// GetLatestOTP returns the newest code of the method, used or not.
func (db *DB) GetLatestOTP(ctx context.Context, projectID, methodID string) (store.OTP, error) {
	o, err := scanOTP(db.queryRow(ctx, `SELECT `+otpColumns+` FROM otps
		WHERE project_id = ? AND method_id = ? ORDER BY created_at DESC, seq DESC LIMIT 1`, projectID, methodID))
	return o, db.wrap(err)
}

// RedeemOTP marks the code used if it is unused, unexpired and under
// maxAttempts, in one conditional write.
func (db *DB) RedeemOTP(ctx context.Context, projectID, otpID string, now time.Time, maxAttempts int) error {
	n, err := db.execCount(ctx, `UPDATE otps SET used_at = ?
		WHERE project_id = ? AND id = ? AND used_at IS NULL AND expires_at > ? AND attempts < ?`,
		ms(now), projectID, otpID, ms(now), maxAttempts)
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var one int
	if err := db.writeRow(ctx, `SELECT 1 FROM otps WHERE project_id = ? AND id = ?`, projectID, otpID).Scan(&one); err != nil {
		return db.wrap(err)
	}
	return store.ErrConsumed
}

// RecordOTPFailure adds one wrong try and returns the new count.
func (db *DB) RecordOTPFailure(ctx context.Context, projectID, otpID string) (int, error) {
	var n int
	err := db.writeRow(ctx, `UPDATE otps SET attempts = attempts + 1 WHERE project_id = ? AND id = ? RETURNING attempts`,
		projectID, otpID).Scan(&n)
	return n, db.wrap(err)
}
