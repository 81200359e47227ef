package sqlstore

import (
	"context"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// SetPassword stores the user's password hash, replacing the hash of the
// password the user has (whose id and created_at stay): one row per user.
func (db *DB) SetPassword(ctx context.Context, pw store.Password) (store.Password, error) {
	out := pw
	err := db.guard(ctx, func() error {
		var created, updated int64
		err := db.writeRow(ctx, `INSERT INTO passwords (id, project_id, user_id, hash, requires_reset, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (project_id, user_id) DO UPDATE SET hash = excluded.hash, requires_reset = excluded.requires_reset,
				updated_at = excluded.updated_at
			RETURNING id, created_at, updated_at`,
			pw.ID, pw.ProjectID, pw.UserID, pw.Hash, pw.RequiresReset, ms(pw.CreatedAt), ms(pw.UpdatedAt)).Scan(&out.ID, &created, &updated)
		out.CreatedAt, out.UpdatedAt = fromMS(created), fromMS(updated)
		return err
	})
	if err != nil {
		return store.Password{}, db.wrap(err)
	}
	return out, nil
}

// GetPassword returns the user's password.
func (db *DB) GetPassword(ctx context.Context, projectID, userID string) (store.Password, error) {
	var pw store.Password
	var created, updated int64
	err := db.queryRow(ctx, `SELECT id, project_id, user_id, hash, requires_reset, created_at, updated_at FROM passwords
		WHERE project_id = ? AND user_id = ?`, projectID, userID).Scan(&pw.ID, &pw.ProjectID, &pw.UserID, &pw.Hash, &pw.RequiresReset, &created, &updated)
	if err != nil {
		return store.Password{}, db.wrap(err)
	}
	pw.CreatedAt, pw.UpdatedAt = fromMS(created), fromMS(updated)
	return pw, nil
}

// ReplacePasswordHash swaps the hash in one conditional write: ErrConsumed
// if the hash has changed since it was read (or the password is gone).
func (db *DB) ReplacePasswordHash(ctx context.Context, projectID, passwordID, oldHash, newHash string, now time.Time) error {
	n, err := db.execCount(ctx, `UPDATE passwords SET hash = ?, updated_at = ?
		WHERE project_id = ? AND id = ? AND hash = ?`, newHash, ms(now), projectID, passwordID, oldHash)
	if err != nil {
		return db.wrap(err)
	}
	if n != 1 {
		return store.ErrConsumed
	}
	return nil
}

// DeletePassword deletes a password by id and returns its user's id.
func (db *DB) DeletePassword(ctx context.Context, projectID, passwordID string) (string, error) {
	var userID string
	err := db.writeRow(ctx, `DELETE FROM passwords WHERE project_id = ? AND id = ? RETURNING user_id`,
		projectID, passwordID).Scan(&userID)
	return userID, db.wrap(err)
}

// RequirePasswordReset marks the user's password, if any, as needing a reset.
func (db *DB) RequirePasswordReset(ctx context.Context, projectID, userID string) error {
	_, err := db.exec(ctx, `UPDATE passwords SET requires_reset = ? WHERE project_id = ? AND user_id = ?`, true, projectID, userID)
	return db.wrap(err)
}
