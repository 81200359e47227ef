package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

const sessionColumns = `id, project_id, user_id, token_hash, token_sealed, started_at, last_accessed_at, expires_at,
	ip_address, user_agent, custom_claims, factors, roles`

// sessionColumnsOfS is sessionColumns with the table alias s.
var sessionColumnsOfS = func() string {
	cols := strings.Split(sessionColumns, ",")
	for i, c := range cols {
		cols[i] = "s." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

func scanSession(s rowScanner) (store.Session, error) {
	var x store.Session
	dest, finish := sessionTarget(&x)
	if err := s.Scan(dest...); err != nil {
		return store.Session{}, err
	}
	return x, finish()
}

// sessionTarget returns the scan destinations of sessionColumns and what
// turns them into *x once scanned.
func sessionTarget(x *store.Session) ([]any, func() error) {
	var started, accessed, expires int64
	var claims, factors, roles string
	dest := []any{&x.ID, &x.ProjectID, &x.UserID, &x.TokenHash, &x.TokenSealed, &started, &accessed, &expires,
		&x.IPAddress, &x.UserAgent, &claims, &factors, &roles}
	return dest, func() error {
		x.StartedAt = fromMS(started)
		x.LastAccessedAt = fromMS(accessed)
		x.ExpiresAt = fromMS(expires)
		x.CustomClaims = rawObject(claims)
		var err error
		if x.Factors, err = decodeList[store.Factor](factors); err != nil {
			return err
		}
		x.Roles, err = decodeList[string](roles)
		return err
	}
}

// sessionLists encodes the factors and roles of s as stored.
func sessionLists(s store.Session) (factors, roles string, err error) {
	if factors, err = jsonList(s.Factors); err != nil {
		return "", "", err
	}
	roles, err = jsonList(s.Roles)
	return factors, roles, err
}

// CreateSession stores s; ErrNotFound if its user does not exist.
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	factors, roles, err := sessionLists(s)
	if err != nil {
		return err
	}
	return db.insert(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.ProjectID, s.UserID, s.TokenHash, s.TokenSealed, ms(s.StartedAt), ms(s.LastAccessedAt), ms(s.ExpiresAt),
		s.IPAddress, s.UserAgent, jsonObject(s.CustomClaims), factors, roles)
}

// GetSession returns a session by id, expired or not.
func (db *DB) GetSession(ctx context.Context, projectID, sessionID string) (store.Session, error) {
	s, err := scanSession(db.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE project_id = ? AND id = ?`, projectID, sessionID))
	return s, db.wrap(err)
}

// GetSessionByTokenHash returns a session by token hash, expired or not.
func (db *DB) GetSessionByTokenHash(ctx context.Context, projectID string, tokenHash []byte) (store.Session, error) {
	s, err := scanSession(db.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE project_id = ? AND token_hash = ?`, projectID, tokenHash))
	return s, db.wrap(err)
}

// GetSessionWithUser implements store.Store: the session and its user with
// the user's emails and phones, in one query.
func (db *DB) GetSessionWithUser(ctx context.Context, projectID string, tokenHash []byte, sessionID string) (store.SessionRead, error) {
	var out store.SessionRead
	dest, finish := sessionTarget(&out.Session)
	by, key := "s.id = ?", any(sessionID)
	if tokenHash != nil {
		by, key = "s.token_hash = ?", tokenHash
	}
	u, err := db.readUser(ctx, sessionColumnsOfS, dest,
		`sessions s JOIN users u ON u.project_id = s.project_id AND u.id = s.user_id`, `s.project_id = ? AND `+by, projectID, key)
	if err != nil {
		return store.SessionRead{}, err
	}
	if err := finish(); err != nil {
		return store.SessionRead{}, err
	}
	out.User = u
	return out, nil
}

// ListSessions returns the user's sessions that expire after now, oldest first.
func (db *DB) ListSessions(ctx context.Context, projectID, userID string, now time.Time) ([]store.Session, error) {
	rows, err := db.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE project_id = ? AND user_id = ? AND expires_at > ? ORDER BY started_at, id`, projectID, userID, ms(now))
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

// UpdateSession writes last_accessed_at, expires_at, custom claims,
// factors, roles and attributes of s.
func (db *DB) UpdateSession(ctx context.Context, s store.Session) error {
	factors, roles, err := sessionLists(s)
	if err != nil {
		return err
	}
	return db.execOne(ctx, `UPDATE sessions SET last_accessed_at = ?, expires_at = ?, custom_claims = ?, factors = ?,
		roles = ?, ip_address = ?, user_agent = ?
		WHERE project_id = ? AND id = ?`,
		ms(s.LastAccessedAt), ms(s.ExpiresAt), jsonObject(s.CustomClaims), factors, roles, s.IPAddress, s.UserAgent,
		s.ProjectID, s.ID)
}

// TouchSession sets last_accessed_at and, when expiresAt is not nil, expires_at.
func (db *DB) TouchSession(ctx context.Context, projectID, sessionID string, lastAccessed time.Time, expiresAt *time.Time) error {
	if db.tx == nil && db.touches != nil {
		return db.groupTouch(ctx, projectID, sessionID, lastAccessed, expiresAt)
	}
	if expiresAt == nil {
		return db.execOne(ctx, `UPDATE sessions SET last_accessed_at = ? WHERE project_id = ? AND id = ?`,
			ms(lastAccessed), projectID, sessionID)
	}
	return db.execOne(ctx, `UPDATE sessions SET last_accessed_at = ?, expires_at = ? WHERE project_id = ? AND id = ?`,
		ms(lastAccessed), ms(*expiresAt), projectID, sessionID)
}

// DeleteSession deletes one session.
func (db *DB) DeleteSession(ctx context.Context, projectID, sessionID string) error {
	return db.execOne(ctx, `DELETE FROM sessions WHERE project_id = ? AND id = ?`, projectID, sessionID)
}

// DeleteUserSessions deletes every session of the user and returns how many.
func (db *DB) DeleteUserSessions(ctx context.Context, projectID, userID string) (int, error) {
	return db.execCount(ctx, `DELETE FROM sessions WHERE project_id = ? AND user_id = ?`, projectID, userID)
}

// CountLiveSessions counts sessions of every project that expire after now.
func (db *DB) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE expires_at > ?`, ms(now)).Scan(&n)
	return n, db.wrap(err)
}

// Retention of spent rows by DeleteExpired.
const (
	tokenRetention   = time.Hour          // magic links and codes after expiry
	outboxRetention  = 7 * 24 * time.Hour // sent messages
	counterRetention = 24 * time.Hour     // rate-limit windows
)

// DeleteExpired deletes, in every project, sessions expired at now, magic
// links and codes expired more than an hour ago, messages sent more than
// seven days ago and rate-limit windows that started more than a day ago,
// sweepChunk rows to a write. It returns the number of rows deleted.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	steps := []struct {
		table, key, where string
		arg               int64
	}{
		{"sessions", "project_id, id", "expires_at <= ?", ms(now)},
		{"magic_links", "project_id, token_hash", "expires_at < ?", ms(now.Add(-tokenRetention))},
		{"otps", "seq", "expires_at < ?", ms(now.Add(-tokenRetention))},
		// Unverified TOTPs past their enrolment window (a verified one has no expiry).
		{"totps", "project_id, id", "expires_at <= ?", ms(now)},
		{"outbox", "id", "sent_at IS NOT NULL AND sent_at < ?", ms(now.Add(-outboxRetention))},
		{"rate_limits", "project_id, bucket, window_start", "window_start < ?", ms(now.Add(-counterRetention))},
	}
	total := 0
	for _, s := range steps {
		// PostgreSQL locks the chunk's rows as it picks them, skipping any a
		// write holds: a DELETE that waited for such a row would re-check
		// only the key, and sweep a session that write has just extended.
		query := `DELETE FROM ` + s.table + ` WHERE (` + s.key + `) IN (SELECT ` + s.key + ` FROM ` + s.table + ` WHERE ` + s.where +
			` LIMIT ?` + db.d.skipLocked + `)`
		for {
			n, err := db.execCount(ctx, query, s.arg, sweepChunk)
			total += n
			if err != nil {
				return total, err
			}
			if n < sweepChunk {
				break
			}
		}
	}
	return total, nil
}

// sweepChunk bounds the rows one delete of DeleteExpired removes, so that
// a backlog (after downtime, or a wave of expiries) never holds SQLite's
// one writer, or PostgreSQL's row locks, for long: other writes go between
// the chunks. A variable for tests.
var sweepChunk = 1000
