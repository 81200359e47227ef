package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

const totpColumns = `id, project_id, user_id, secret_sealed, verified, created_at, expires_at, last_step`

func scanTOTP(s rowScanner) (store.TOTP, error) {
	var t store.TOTP
	var created int64
	var expires sql.NullInt64
	if err := s.Scan(&t.ID, &t.ProjectID, &t.UserID, &t.SecretSealed, &t.Verified, &created, &expires, &t.LastStep); err != nil {
		return store.TOTP{}, err
	}
	t.CreatedAt = fromMS(created)
	t.ExpiresAt = timePtr(expires)
	return t, nil
}

// CreateTOTP replaces the user's unverified TOTP, if any, by t and its
// recovery codes in one transaction; ErrAlreadyExists if the user has a
// verified one. The unique (project_id, user_id) makes a concurrent
// create fail with ErrAlreadyExists too.
func (db *DB) CreateTOTP(ctx context.Context, t store.TOTP, codes []store.RecoveryCode) error {
	return db.atomically(ctx, func(tx *DB) error {
		var verified bool
		err := tx.writeRow(ctx, `SELECT verified FROM totps WHERE project_id = ? AND user_id = ?`, t.ProjectID, t.UserID).Scan(&verified)
		switch {
		case err == nil && verified:
			return store.ErrAlreadyExists
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return tx.wrap(err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM totps WHERE project_id = ? AND user_id = ? AND verified = ?`, t.ProjectID, t.UserID, false); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO totps (`+totpColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.ProjectID, t.UserID, t.SecretSealed, t.Verified, ms(t.CreatedAt), msPtr(t.ExpiresAt), t.LastStep); err != nil {
			return err
		}
		for i, c := range codes {
			if _, err := tx.exec(ctx, `INSERT INTO totp_recovery_codes (id, project_id, totp_id, user_id, seq, code_hash, code_sealed, used_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, t.ProjectID, t.ID, t.UserID, i, c.CodeHash, c.CodeSealed, msPtr(c.UsedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetUserTOTP returns the user's TOTP.
func (db *DB) GetUserTOTP(ctx context.Context, projectID, userID string) (store.TOTP, error) {
	t, err := scanTOTP(db.queryRow(ctx, `SELECT `+totpColumns+` FROM totps WHERE project_id = ? AND user_id = ?`, projectID, userID))
	return t, db.wrap(err)
}

// GetTOTP returns a TOTP by id.
func (db *DB) GetTOTP(ctx context.Context, projectID, totpID string) (store.TOTP, error) {
	t, err := scanTOTP(db.queryRow(ctx, `SELECT `+totpColumns+` FROM totps WHERE project_id = ? AND id = ?`, projectID, totpID))
	return t, db.wrap(err)
}

// AcceptTOTPStep moves last_step forward to step and verifies the TOTP, in
// one conditional write: two requests with the same code, on any nodes,
// cannot both move it (PostgreSQL re-checks the condition after waiting
// for the other's row lock; SQLite has one writer).
func (db *DB) AcceptTOTPStep(ctx context.Context, projectID, totpID string, step int64, now time.Time) error {
	n, err := db.execCount(ctx, `UPDATE totps SET last_step = ?, verified = ?, expires_at = NULL
		WHERE project_id = ? AND id = ? AND last_step < ? AND (verified = ? OR expires_at > ?)`,
		step, true, projectID, totpID, step, true, ms(now))
	if err != nil {
		return err
	}
	if n != 1 {
		return store.ErrConsumed
	}
	return nil
}

// RedeemRecoveryCode uses an unused code in one conditional write.
func (db *DB) RedeemRecoveryCode(ctx context.Context, projectID, totpID string, codeHash []byte, now time.Time) (string, error) {
	var id string
	err := db.writeRow(ctx, `UPDATE totp_recovery_codes SET used_at = ?, code_sealed = NULL
		WHERE project_id = ? AND totp_id = ? AND code_hash = ? AND used_at IS NULL RETURNING id`,
		ms(now), projectID, totpID, codeHash).Scan(&id)
	return id, db.wrap(err)
}

// ListRecoveryCodes returns the TOTP's unused codes in the order made.
func (db *DB) ListRecoveryCodes(ctx context.Context, projectID, totpID string) ([]store.RecoveryCode, error) {
	rows, err := db.query(ctx, `SELECT id, user_id, code_hash, code_sealed FROM totp_recovery_codes
		WHERE project_id = ? AND totp_id = ? AND used_at IS NULL ORDER BY seq`, projectID, totpID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.RecoveryCode{}
	for rows.Next() {
		c := store.RecoveryCode{ProjectID: projectID, TOTPID: totpID}
		if err := rows.Scan(&c.ID, &c.UserID, &c.CodeHash, &c.CodeSealed); err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, c)
	}
	return out, db.wrap(rows.Err())
}

// DeleteTOTP deletes a TOTP and, by cascade, its recovery codes.
func (db *DB) DeleteTOTP(ctx context.Context, projectID, totpID string) error {
	return db.execOne(ctx, `DELETE FROM totps WHERE project_id = ? AND id = ?`, projectID, totpID)
}
