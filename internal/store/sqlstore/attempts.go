package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ReserveAuthAttempt counts an attempt before it is checked: the update of
// RecordAuthFailure, only for a user not locked at now. The row's lock is
// the condition of the statement itself, so concurrent attempts, on any
// nodes, see each other's counts (SQLite's one writer, PostgreSQL's row
// lock and re-check of the WHERE clause).
func (db *DB) ReserveAuthAttempt(ctx context.Context, projectID, userID string, now time.Time, threshold int, ttl time.Duration) (bool, error) {
	n := ms(now)
	until := ms(now.Add(ttl))
	const base = `(CASE WHEN lock_expires_at IS NOT NULL AND lock_expires_at <= ? THEN 0 ELSE failed_auths END)`
	var id string
	err := db.writeRow(ctx, `UPDATE users SET
		failed_auths    = CASE WHEN `+base+` + 1 >= ? THEN 0 ELSE `+base+` + 1 END,
		lock_created_at = CASE WHEN `+base+` + 1 >= ? THEN CAST(? AS BIGINT) ELSE NULL END,
		lock_expires_at = CASE WHEN `+base+` + 1 >= ? THEN CAST(? AS BIGINT) ELSE NULL END
		WHERE project_id = ? AND id = ? AND (lock_expires_at IS NULL OR lock_expires_at <= ?)
		RETURNING id`,
		n, threshold, n,
		n, threshold, n,
		n, threshold, until,
		projectID, userID, n).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, db.wrap(err)
	}
	return true, nil
}
