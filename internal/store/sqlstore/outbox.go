package sqlstore

import (
	"context"
	"database/sql"
	"sort"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// AddSigningKey stores a project's signing key.
func (db *DB) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return db.insert(ctx, `INSERT INTO signing_keys (kid, project_id, private_key_enc, cert_der, created_at, active_at, retired_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KID, k.ProjectID, k.PrivateKeyEnc, k.CertDER, ms(k.CreatedAt), ms(k.ActiveFrom()), msPtr(k.RetiredAt), msPtr(k.ExpiresAt))
}

// ListSigningKeys returns the project's keys newest first, without those
// whose ExpiresAt has passed.
func (db *DB) ListSigningKeys(ctx context.Context, projectID string, now time.Time) ([]store.SigningKey, error) {
	rows, err := db.query(ctx, `SELECT kid, project_id, private_key_enc, cert_der, created_at, COALESCE(active_at, created_at), retired_at, expires_at
		FROM signing_keys WHERE project_id = ? AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY created_at DESC, kid DESC`, projectID, ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.SigningKey{}
	for rows.Next() {
		var k store.SigningKey
		var created, active int64
		var retired, expires sql.NullInt64
		if err := rows.Scan(&k.KID, &k.ProjectID, &k.PrivateKeyEnc, &k.CertDER, &created, &active, &retired, &expires); err != nil {
			return nil, db.wrap(err)
		}
		k.CreatedAt = fromMS(created)
		k.ActiveAt = fromMS(active)
		k.RetiredAt = timePtr(retired)
		k.ExpiresAt = timePtr(expires)
		out = append(out, k)
	}
	return out, db.wrap(rows.Err())
}

// RetireSigningKeys retires at at (now, or the end of a rotation's lead)
// every key of the project that would still sign after it: the unretired
// ones and those due to retire later (a rotation during another's lead).
// Each leaves the JWKS at expiresAt, or at the expiry it already had if
// that is sooner: a rotation never keeps a key published for longer.
func (db *DB) RetireSigningKeys(ctx context.Context, projectID string, at, expiresAt time.Time) error {
	_, err := db.exec(ctx, `UPDATE signing_keys SET retired_at = ?,
		expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < ? THEN expires_at ELSE ? END
		WHERE project_id = ? AND (retired_at IS NULL OR retired_at > ?)`, ms(at), ms(expiresAt), ms(expiresAt), projectID, ms(at))
	return err
}

const outboxColumns = `id, COALESCE(project_id, ''), channel, recipient, payload, created_at, attempts, next_attempt_at,
	sent_at, dead_at, last_error, handed_off_at`

func scanMessage(s rowScanner) (store.OutboxMessage, error) {
	var m store.OutboxMessage
	var created, next int64
	var sent, dead, handed sql.NullInt64
	if err := s.Scan(&m.ID, &m.ProjectID, &m.Channel, &m.Recipient, &m.Payload, &created, &m.Attempts, &next,
		&sent, &dead, &m.LastError, &handed); err != nil {
		return store.OutboxMessage{}, err
	}
	m.CreatedAt = fromMS(created)
	m.NextAttemptAt = fromMS(next)
	m.SentAt = timePtr(sent)
	m.DeadAt = timePtr(dead)
	m.HandedOffAt = timePtr(handed)
	return m, nil
}

// EnqueueMessage stores a message to send and returns its id. A zero
// NextAttemptAt means "due at CreatedAt".
func (db *DB) EnqueueMessage(ctx context.Context, m store.OutboxMessage) (int64, error) {
	next := m.NextAttemptAt
	if next.IsZero() {
		next = m.CreatedAt
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	var id int64
	err := db.guard(ctx, func() error {
		return db.wrap(db.writeRow(ctx, `INSERT INTO outbox (project_id, channel, recipient, payload, created_at, attempts,
			next_attempt_at, sent_at, dead_at, last_error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			nullString(m.ProjectID), m.Channel, m.Recipient, payload, ms(m.CreatedAt), m.Attempts, ms(next),
			msPtr(m.SentAt), msPtr(m.DeadAt), m.LastError).Scan(&id))
	})
	return id, err
}

// ClaimMessages leases up to limit due messages until leaseUntil, adding one
// to their attempts. PostgreSQL skips rows another claimer holds; SQLite
// writes are serialised anyway.
func (db *DB) ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.OutboxMessage, error) {
	if limit <= 0 {
		return []store.OutboxMessage{}, nil
	}
	out := []store.OutboxMessage{}
	err := db.inTx(ctx, func(tx *DB) error {
		rows, err := tx.writeQuery(ctx, `UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox
				WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= ?
				ORDER BY id LIMIT ?`+tx.d.skipLocked+`)
			RETURNING `+outboxColumns,
			ms(leaseUntil), ms(now), limit)
		if err != nil {
			return db.wrap(err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return db.wrap(err)
			}
			out = append(out, m)
		}
		return db.wrap(rows.Err())
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// MarkMessagesSent records the delivery of several messages in one write
// (ErrNotFound if any id is unknown; the others are recorded).
func (db *DB) MarkMessagesSent(ctx context.Context, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, ms(now))
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := db.execCount(ctx, `UPDATE outbox SET sent_at = ?, last_error = '' WHERE id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return err
	}
	if n < len(ids) {
		return store.ErrNotFound
	}
	return nil
}

// MarkMessageHandedOff records that the message is about to be handed to
// its transport.
func (db *DB) MarkMessageHandedOff(ctx context.Context, id int64, now time.Time) error {
	return db.execOne(ctx, `UPDATE outbox SET handed_off_at = ? WHERE id = ?`, ms(now), id)
}

// MarkMessageFailed records a failed try and when to try again; the
// hand-off's outcome is known, so handed_off_at is cleared.
func (db *DB) MarkMessageFailed(ctx context.Context, id int64, errText string, next time.Time) error {
	return db.execOne(ctx, `UPDATE outbox SET last_error = ?, next_attempt_at = ?, handed_off_at = NULL WHERE id = ?`, errText, ms(next), id)
}

// MarkMessageDead gives up on a message for good.
func (db *DB) MarkMessageDead(ctx context.Context, id int64, errText string, now time.Time) error {
	return db.execOne(ctx, `UPDATE outbox SET last_error = ?, dead_at = ? WHERE id = ?`, errText, ms(now), id)
}

// ListMessages returns messages newest first; recipient "" = all.
func (db *DB) ListMessages(ctx context.Context, recipient string, limit int) ([]store.OutboxMessage, error) {
	query := `SELECT ` + outboxColumns + ` FROM outbox`
	var args []any
	if recipient != "" {
		query += ` WHERE recipient = ?`
		args = append(args, recipient)
	}
	query += ` ORDER BY id DESC`
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.OutboxMessage{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, m)
	}
	return out, db.wrap(rows.Err())
}

// CountPendingMessages counts messages neither sent nor dead.
func (db *DB) CountPendingMessages(ctx context.Context) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL`).Scan(&n)
	return n, db.wrap(err)
}

// ReleaseMessageLeases makes every pending message due at now.
func (db *DB) ReleaseMessageLeases(ctx context.Context, now time.Time) (int, error) {
	return db.execCount(ctx, `UPDATE outbox SET next_attempt_at = ?
		WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at > ?`, ms(now), ms(now))
}

// CountHit adds one to the counter of key in the window starting at
// windowStart, in one upsert, and returns the new count.
func (db *DB) CountHit(ctx context.Context, projectID, key string, windowStart time.Time) (int, error) {
	ns, err := db.CountHits(ctx, projectID, []string{key}, windowStart)
	if err != nil {
		return 0, err
	}
	return ns[0], nil
}

// CountHits adds one to the counter of each key (distinct) in the window
// starting at windowStart, in one upsert (one commit), and returns the
// new counts in the keys' order.
func (db *DB) CountHits(ctx context.Context, projectID string, keys []string, windowStart time.Time) ([]int, error) {
	values := make([]string, len(keys))
	args := make([]any, 0, 3*len(keys))
	for i, k := range keys {
		values[i] = "(?, ?, ?, 1)"
		args = append(args, projectID, k, ms(windowStart))
	}
	got := map[string]int{}
	err := db.write(ctx, func(db *DB) error {
		return db.guard(ctx, func() error {
			rows, err := db.writeQuery(ctx, `INSERT INTO rate_limits (project_id, bucket, window_start, hits) VALUES `+
				strings.Join(values, ", ")+`
			ON CONFLICT (project_id, bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
			RETURNING bucket, hits`, args...)
			if err != nil {
				return db.wrap(err)
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				var n int
				if err := rows.Scan(&k, &n); err != nil {
					return db.wrap(err)
				}
				got[k] = n
			}
			return db.wrap(rows.Err())
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = got[k]
	}
	return out, nil
}
