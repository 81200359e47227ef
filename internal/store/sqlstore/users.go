package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

const userColumns = `u.id, u.project_id, u.external_id, u.status, u.first_name, u.middle_name, u.last_name,
	u.trusted_metadata, u.untrusted_metadata, u.roles, u.created_at, u.failed_auths, u.lock_created_at, u.lock_expires_at,
	(SELECT pw.id FROM passwords pw WHERE pw.project_id = u.project_id AND pw.user_id = u.id),
	(SELECT pw.requires_reset FROM passwords pw WHERE pw.project_id = u.project_id AND pw.user_id = u.id)`

func scanUser(s rowScanner) (store.User, error) {
	var u store.User
	dest, finish := userTarget(&u)
	if err := s.Scan(dest...); err != nil {
		return store.User{}, err
	}
	return u, finish()
}

// userTarget returns the scan destinations of userColumns and what turns
// them into *u once scanned.
func userTarget(u *store.User) ([]any, func() error) {
	var ext sql.NullString
	var trusted, untrusted, roles string
	var created int64
	var lockCreated, lockExpires sql.NullInt64
	var passwordID sql.NullString
	var passwordReset sql.NullBool
	dest := []any{&u.ID, &u.ProjectID, &ext, &u.Status, &u.FirstName, &u.MiddleName, &u.LastName,
		&trusted, &untrusted, &roles, &created, &u.FailedAuths, &lockCreated, &lockExpires, &passwordID, &passwordReset}
	return dest, func() error {
		u.ExternalID = ext.String
		u.PasswordID, u.PasswordRequiresReset = passwordID.String, passwordReset.Bool
		u.TrustedMetadata = rawObject(trusted)
		u.UntrustedMetadata = rawObject(untrusted)
		var err error
		if u.Roles, err = decodeList[string](roles); err != nil {
			return err
		}
		u.CreatedAt = fromMS(created)
		u.LockCreatedAt = timePtr(lockCreated)
		u.LockExpiresAt = timePtr(lockExpires)
		u.Emails = []store.Email{}
		u.Phones = []store.Phone{}
		u.TOTPs = []store.TOTP{}
		return nil
	}
}

// normEmail is the form addresses are compared in. Callers pass the
// canonical form (auth.NormalizeEmail), which this leaves alone; only ASCII
// letters are lower-cased, never others (strings.ToLower would fold KELVIN
// SIGN onto k, and so one mailbox onto another).
func normEmail(address string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, address)
}

// CreateUser inserts u with its emails and phones in one transaction.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	roles, err := jsonList(u.Roles)
	if err != nil {
		return err
	}
	return db.atomically(ctx, func(tx *DB) error { return tx.createUser(ctx, u, roles) })
}

func (db *DB) createUser(ctx context.Context, u store.User, roles string) error {
	if _, err := db.exec(ctx, `INSERT INTO users (id, project_id, external_id, status, first_name, middle_name, last_name,
		trusted_metadata, untrusted_metadata, roles, created_at, failed_auths, lock_created_at, lock_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.ProjectID, nullString(u.ExternalID), u.Status, u.FirstName, u.MiddleName, u.LastName,
		jsonObject(u.TrustedMetadata), jsonObject(u.UntrustedMetadata), roles, ms(u.CreatedAt),
		u.FailedAuths, msPtr(u.LockCreatedAt), msPtr(u.LockExpiresAt)); err != nil {
		return err
	}
	for _, e := range u.Emails {
		e.ProjectID, e.UserID = u.ProjectID, u.ID
		if err := db.addEmail(ctx, e); err != nil {
			return err
		}
	}
	for _, p := range u.Phones {
		p.ProjectID, p.UserID = u.ProjectID, u.ID
		if err := db.addPhone(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// GetUser returns the user by id when idOrExternalID has a user id's form
// (store.IsUserID), and else by external id; never the one after the other.
func (db *DB) GetUser(ctx context.Context, projectID, idOrExternalID string) (store.User, error) {
	if store.IsUserID(idOrExternalID) {
		return db.getUser(ctx, `users u`, `u.project_id = ? AND u.id = ?`, projectID, idOrExternalID)
	}
	if idOrExternalID == "" {
		return store.User{}, store.ErrNotFound
	}
	return db.getUser(ctx, `users u`, `u.project_id = ? AND u.external_id = ?`, projectID, idOrExternalID)
}

// GetUserByEmail returns the user owning address (compared
// case-insensitively): an address pending on a user (attached by a send,
// not yet verified) owns nothing and is not looked at.
func (db *DB) GetUserByEmail(ctx context.Context, projectID, address string) (store.User, error) {
	return db.getUser(ctx, `users u JOIN emails e ON e.project_id = u.project_id AND e.user_id = u.id`,
		`e.project_id = ? AND e.address_norm = ? AND e.pending_until IS NULL`, projectID, normEmail(address))
}

// GetUserByPhone returns the user owning number; a pending number owns
// nothing, as for GetUserByEmail.
func (db *DB) GetUserByPhone(ctx context.Context, projectID, number string) (store.User, error) {
	return db.getUser(ctx, `users u JOIN phones p ON p.project_id = u.project_id AND p.user_id = u.id`,
		`p.project_id = ? AND p.number = ? AND p.pending_until IS NULL`, projectID, number)
}

// getUser reads one user and its methods from `from` (which names the
// users table u) where `where` holds, in one query (readUser): reading a
// user is on the hot path of every authenticate. Inside a transaction on
// PostgreSQL the user's row is locked until the transaction ends, so a
// read-modify-write of a user (a metadata merge, an activation) never loses
// a concurrent one; SQLite's write transactions are serial already.
func (db *DB) getUser(ctx context.Context, from, where string, args ...any) (store.User, error) {
	if db.tx != nil && db.d.name == BackendPostgres {
		where += " FOR UPDATE OF u"
	}
	return db.readUser(ctx, "", nil, from, where, args...)
}

// readUser reads, in one query, the columns head (scanned into headDest;
// a session's, say) and the user u of `from` where `where` holds, with the
// user's emails and phones. ErrNotFound if there is no such row.
//
// SQLite aggregates the methods into two JSON columns (methodsJSON), which
// costs it little; PostgreSQL builds JSON slowly, so there the methods come
// as rows of a lateral join (one row of NULLs for a user without any) with
// the head and user columns repeated.
func (db *DB) readUser(ctx context.Context, head string, headDest []any, from, where string, args ...any) (store.User, error) {
	var u store.User
	udest, finish := userTarget(&u)
	cols := userColumns
	if head != "" {
		cols = head + ", " + userColumns
	}
	dest := append(append([]any{}, headDest...), udest...)
	var emails, phones, totps []jsonMethod
	if db.d.name == BackendPostgres {
		var kind, id, value sql.NullString
		var verified sql.NullBool
		var created, pending sql.NullInt64
		rows, err := db.query(ctx, `SELECT `+cols+`, m.kind, m.id, m.value, m.verified, m.created_at, m.pending_until
			FROM `+from+` LEFT JOIN LATERAL (
				SELECT 'e' AS kind, me.id, me.address AS value, me.verified, me.created_at, me.pending_until
				FROM emails me WHERE me.project_id = u.project_id AND me.user_id = u.id
				UNION ALL
				SELECT 'p', mp.id, mp.number, mp.verified, mp.created_at, mp.pending_until
				FROM phones mp WHERE mp.project_id = u.project_id AND mp.user_id = u.id
				UNION ALL
				SELECT 't', mt.id, '', mt.verified, mt.created_at, NULL
				FROM totps mt WHERE mt.project_id = u.project_id AND mt.user_id = u.id) m ON true
			WHERE `+where, args...)
		if err != nil {
			return store.User{}, err
		}
		defer rows.Close()
		dest = append(dest, &kind, &id, &value, &verified, &created, &pending)
		n := 0
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return store.User{}, db.wrap(err)
			}
			n++
			if !kind.Valid {
				continue
			}
			m := jsonMethod{id: id.String, value: value.String, verified: verified.Bool, created: created.Int64, pending: timePtr(pending)}
			switch kind.String {
			case "e":
				emails = append(emails, m)
			case "t":
				totps = append(totps, m)
			default:
				phones = append(phones, m)
			}
		}
		if err := rows.Err(); err != nil {
			return store.User{}, db.wrap(err)
		}
		if n == 0 {
			return store.User{}, db.wrap(sql.ErrNoRows)
		}
	} else {
		var ej, pj, tj string
		dest = append(dest, &ej, &pj, &tj)
		if err := db.queryRow(ctx, `SELECT `+cols+`, `+methodsJSON+` FROM `+from+` WHERE `+where, args...).Scan(dest...); err != nil {
			return store.User{}, db.wrap(err)
		}
		var err error
		if emails, err = decodeMethods(ej); err != nil {
			return store.User{}, err
		}
		if phones, err = decodeMethods(pj); err != nil {
			return store.User{}, err
		}
		if totps, err = decodeMethods(tj); err != nil {
			return store.User{}, err
		}
	}
	if err := finish(); err != nil {
		return store.User{}, err
	}
	// In loadMethods's order: oldest first.
	for _, ms := range [][]jsonMethod{emails, phones, totps} {
		slices.SortFunc(ms, func(a, b jsonMethod) int {
			return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.id, b.id))
		})
	}
	for _, m := range emails {
		u.Emails = append(u.Emails, store.Email{ID: m.id, ProjectID: u.ProjectID, UserID: u.ID, Address: m.value,
			Verified: m.verified, CreatedAt: fromMS(m.created), PendingUntil: m.pending})
	}
	for _, m := range phones {
		u.Phones = append(u.Phones, store.Phone{ID: m.id, ProjectID: u.ProjectID, UserID: u.ID, Number: m.value,
			Verified: m.verified, CreatedAt: fromMS(m.created), PendingUntil: m.pending})
	}
	for _, m := range totps {
		u.TOTPs = append(u.TOTPs, store.TOTP{ID: m.id, ProjectID: u.ProjectID, UserID: u.ID, Verified: m.verified, CreatedAt: fromMS(m.created)})
	}
	return u, nil
}

// methodsJSON selects, on SQLite, a user's (alias u) emails and phones as
// two JSON arrays of [id, value, verified (0 or 1), created_at,
// pending_until], in no particular order (readUser sorts them, which spares
// the database a sort per read).
const methodsJSON = `(SELECT json_group_array(json_array(me.id, me.address, me.verified, me.created_at, me.pending_until))
		FROM emails me WHERE me.project_id = u.project_id AND me.user_id = u.id),
	(SELECT json_group_array(json_array(mp.id, mp.number, mp.verified, mp.created_at, mp.pending_until))
		FROM phones mp WHERE mp.project_id = u.project_id AND mp.user_id = u.id),
	(SELECT json_group_array(json_array(mt.id, '', mt.verified, mt.created_at, NULL))
		FROM totps mt WHERE mt.project_id = u.project_id AND mt.user_id = u.id)`

// jsonMethod is one email or phone as readUser reads it.
type jsonMethod struct {
	id, value string
	verified  bool
	created   int64
	pending   *time.Time
}

// decodeMethods decodes a methodsJSON array.
func decodeMethods(s string) ([]jsonMethod, error) {
	var out []jsonMethod
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("sqlstore: decode methods: %w", err)
	}
	return out, nil
}

// UnmarshalJSON reads one [id, value, verified, created_at, pending_until]
// element of a methodsJSON array.
func (m *jsonMethod) UnmarshalJSON(b []byte) error {
	var verified int
	var pending *int64
	fields := []any{&m.id, &m.value, &verified, &m.created, &pending}
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	if len(fields) != 5 {
		return fmt.Errorf("%d fields, want 5", len(fields))
	}
	m.verified = verified != 0
	if pending != nil {
		t := fromMS(*pending)
		m.pending = &t
	}
	return nil
}

// loadMethods fills in the emails and phones of users (all of projectID)
// with one query over both tables: reading a user is on the hot path of
// every authenticate.
func (db *DB) loadMethods(ctx context.Context, projectID string, users []store.User) error {
	if len(users) == 0 {
		return nil
	}
	byID := make(map[string]*store.User, len(users))
	ids := make([]any, 0, len(users))
	for i := range users {
		byID[users[i].ID] = &users[i]
		ids = append(ids, users[i].ID)
	}
	in := placeholders(len(users))
	args := append(append([]any{projectID}, ids...), append([]any{projectID}, ids...)...)
	args = append(append(args, projectID), ids...)
	rows, err := db.query(ctx, `SELECT 'e', `+emailColumns+` FROM emails WHERE project_id = ? AND user_id IN (`+in+`)
		UNION ALL
		SELECT 'p', `+phoneColumns+` FROM phones WHERE project_id = ? AND user_id IN (`+in+`)
		UNION ALL
		SELECT 't', id, project_id, user_id, '', verified, created_at, NULL FROM totps WHERE project_id = ? AND user_id IN (`+in+`)
		ORDER BY 7, 2`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var m method
		var created int64
		var pending sql.NullInt64
		if err := rows.Scan(&kind, &m.id, &m.projectID, &m.userID, &m.value, &m.verified, &created, &pending); err != nil {
			return db.wrap(err)
		}
		u := byID[m.userID]
		if u == nil {
			continue
		}
		switch kind {
		case "e":
			u.Emails = append(u.Emails, store.Email{ID: m.id, ProjectID: m.projectID, UserID: m.userID, Address: m.value,
				Verified: m.verified, CreatedAt: fromMS(created), PendingUntil: timePtr(pending)})
		case "t":
			u.TOTPs = append(u.TOTPs, store.TOTP{ID: m.id, ProjectID: m.projectID, UserID: m.userID,
				Verified: m.verified, CreatedAt: fromMS(created)})
		default:
			u.Phones = append(u.Phones, store.Phone{ID: m.id, ProjectID: m.projectID, UserID: m.userID, Number: m.value,
				Verified: m.verified, CreatedAt: fromMS(created), PendingUntil: timePtr(pending)})
		}
	}
	return db.wrap(rows.Err())
}

// method is a row of emails or phones, which have the same shape.
type method struct {
	id, projectID, userID, value string
	verified                     bool
}

// placeholders returns "?, ?, …" n times.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// UpdateUser writes the scalar fields of u.
func (db *DB) UpdateUser(ctx context.Context, u store.User) error {
	roles, err := jsonList(u.Roles)
	if err != nil {
		return err
	}
	return db.guard(ctx, func() error {
		return db.updateUser(ctx, u, roles)
	})
}

func (db *DB) updateUser(ctx context.Context, u store.User, roles string) error {
	return db.execOne(ctx, `UPDATE users SET external_id = ?, status = ?, first_name = ?, middle_name = ?, last_name = ?,
		trusted_metadata = ?, untrusted_metadata = ?, roles = ?
		WHERE project_id = ? AND id = ?`,
		nullString(u.ExternalID), u.Status, u.FirstName, u.MiddleName, u.LastName,
		jsonObject(u.TrustedMetadata), jsonObject(u.UntrustedMetadata), roles,
		u.ProjectID, u.ID)
}

// DeleteUser deletes the user and, by cascade, its emails, phones,
// sessions, magic links and codes.
func (db *DB) DeleteUser(ctx context.Context, projectID, userID string) error {
	return db.execOne(ctx, `DELETE FROM users WHERE project_id = ? AND id = ?`, projectID, userID)
}

const emailColumns = `id, project_id, user_id, address, verified, created_at, pending_until`

func scanEmail(s rowScanner) (store.Email, error) {
	var e store.Email
	var created int64
	var pending sql.NullInt64
	if err := s.Scan(&e.ID, &e.ProjectID, &e.UserID, &e.Address, &e.Verified, &created, &pending); err != nil {
		return store.Email{}, err
	}
	e.CreatedAt = fromMS(created)
	e.PendingUntil = timePtr(pending)
	return e, nil
}

// AddEmail attaches an address to a user; ErrNotFound if the user does
// not exist. ErrDuplicateEmail if the user has the address already, or if
// e is an identity (PendingUntil nil) and another user owns the address
// (as an identity); a pending e conflicts with no other user's.
func (db *DB) AddEmail(ctx context.Context, e store.Email) error {
	return db.guard(ctx, func() error { return db.addEmail(ctx, e) })
}

func (db *DB) addEmail(ctx context.Context, e store.Email) error {
	_, err := db.exec(ctx, `INSERT INTO emails (id, project_id, user_id, address, address_norm, verified, created_at, pending_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.ProjectID, e.UserID, e.Address, normEmail(e.Address), e.Verified, ms(e.CreatedAt), msPtr(e.PendingUntil))
	return err
}

// GetEmail returns one email of the project.
func (db *DB) GetEmail(ctx context.Context, projectID, emailID string) (store.Email, error) {
	e, err := scanEmail(db.queryRow(ctx, `SELECT `+emailColumns+` FROM emails WHERE project_id = ? AND id = ?`, projectID, emailID))
	return e, db.wrap(err)
}

// DeleteEmail removes an email.
func (db *DB) DeleteEmail(ctx context.Context, projectID, emailID string) error {
	return db.execOne(ctx, `DELETE FROM emails WHERE project_id = ? AND id = ?`, projectID, emailID)
}

// VerifyEmail marks the address verified and clears PendingUntil, which
// makes a pending address an identity: ErrDuplicateEmail, and nothing
// changed, if another user owns it by then.
func (db *DB) VerifyEmail(ctx context.Context, projectID, emailID string) error {
	return db.guard(ctx, func() error {
		return db.execOne(ctx, `UPDATE emails SET verified = ?, pending_until = NULL WHERE project_id = ? AND id = ?`,
			true, projectID, emailID)
	})
}

const phoneColumns = `id, project_id, user_id, number, verified, created_at, pending_until`

func scanPhone(s rowScanner) (store.Phone, error) {
	var p store.Phone
	var created int64
	var pending sql.NullInt64
	if err := s.Scan(&p.ID, &p.ProjectID, &p.UserID, &p.Number, &p.Verified, &created, &pending); err != nil {
		return store.Phone{}, err
	}
	p.CreatedAt = fromMS(created)
	p.PendingUntil = timePtr(pending)
	return p, nil
}

// AddPhone attaches a number to a user, with AddEmail's rules
// (ErrDuplicatePhone, ErrNotFound).
func (db *DB) AddPhone(ctx context.Context, p store.Phone) error {
	return db.guard(ctx, func() error { return db.addPhone(ctx, p) })
}

func (db *DB) addPhone(ctx context.Context, p store.Phone) error {
	_, err := db.exec(ctx, `INSERT INTO phones (id, project_id, user_id, number, verified, created_at, pending_until)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.ProjectID, p.UserID, p.Number, p.Verified, ms(p.CreatedAt), msPtr(p.PendingUntil))
	return err
}

// GetPhone returns one phone number of the project.
func (db *DB) GetPhone(ctx context.Context, projectID, phoneID string) (store.Phone, error) {
	p, err := scanPhone(db.queryRow(ctx, `SELECT `+phoneColumns+` FROM phones WHERE project_id = ? AND id = ?`, projectID, phoneID))
	return p, db.wrap(err)
}

// DeletePhone removes a phone number.
func (db *DB) DeletePhone(ctx context.Context, projectID, phoneID string) error {
	return db.execOne(ctx, `DELETE FROM phones WHERE project_id = ? AND id = ?`, projectID, phoneID)
}

// VerifyPhone marks the number verified and clears PendingUntil, with
// VerifyEmail's rule (ErrDuplicatePhone if another user owns it by then).
func (db *DB) VerifyPhone(ctx context.Context, projectID, phoneID string) error {
	return db.guard(ctx, func() error {
		return db.execOne(ctx, `UPDATE phones SET verified = ?, pending_until = NULL WHERE project_id = ? AND id = ?`,
			true, projectID, phoneID)
	})
}

// DeleteExpiredPendingMethods removes unverified attached emails and phones
// whose PendingUntil is before now, in every project.
func (db *DB) DeleteExpiredPendingMethods(ctx context.Context, now time.Time) (int, error) {
	total := 0
	err := db.inTx(ctx, func(tx *DB) error {
		for _, table := range []string{"emails", "phones"} {
			n, err := tx.execCount(ctx, `DELETE FROM `+table+`
				WHERE pending_until IS NOT NULL AND pending_until < ? AND verified = ?`, ms(now), false)
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

// RecordAuthFailure adds one failure in one statement; reaching threshold
// locks the user until now+ttl and resets the count. A lock that has ended
// counts as no failures.
func (db *DB) RecordAuthFailure(ctx context.Context, projectID, userID string, now time.Time, threshold int, ttl time.Duration) (*time.Time, error) {
	n := ms(now)
	until := ms(now.Add(ttl))
	// base = failures so far, 0 if a lock has ended.
	const base = `(CASE WHEN lock_expires_at IS NOT NULL AND lock_expires_at <= ? THEN 0 ELSE failed_auths END)`
	const ended = `(lock_expires_at IS NOT NULL AND lock_expires_at <= ?)`
	var lockExpires sql.NullInt64
	err := db.writeRow(ctx, `UPDATE users SET
		failed_auths    = CASE WHEN `+base+` + 1 >= ? THEN 0 ELSE `+base+` + 1 END,
		lock_created_at = CASE WHEN `+base+` + 1 >= ? THEN ? WHEN `+ended+` THEN NULL ELSE lock_created_at END,
		lock_expires_at = CASE WHEN `+base+` + 1 >= ? THEN ? WHEN `+ended+` THEN NULL ELSE lock_expires_at END
		WHERE project_id = ? AND id = ?
		RETURNING lock_expires_at`,
		n, threshold, n,
		n, threshold, n, n,
		n, threshold, until, n,
		projectID, userID).Scan(&lockExpires)
	if err != nil {
		return nil, db.wrap(err)
	}
	if lockExpires.Valid && lockExpires.Int64 > n {
		t := fromMS(lockExpires.Int64)
		return &t, nil
	}
	return nil, nil
}

// ResetAuthFailures clears the failure count and the lock fields, unless a
// lock in force at now was created after admitted. It is called after a
// successful authentication: the lock its own reservation set (created at
// admitted) is lifted; one that attempts running beside it set since stays.
func (db *DB) ResetAuthFailures(ctx context.Context, projectID, userID string, now, admitted time.Time) error {
	const kept = `(lock_expires_at IS NOT NULL AND lock_expires_at > ? AND (lock_created_at IS NULL OR lock_created_at > ?))`
	n, a := ms(now), ms(admitted)
	if admitted.IsZero() {
		a = math.MinInt64
	}
	return db.execOne(ctx, `UPDATE users SET
		failed_auths    = CASE WHEN `+kept+` THEN failed_auths ELSE 0 END,
		lock_created_at = CASE WHEN `+kept+` THEN lock_created_at ELSE NULL END,
		lock_expires_at = CASE WHEN `+kept+` THEN lock_expires_at ELSE NULL END
		WHERE project_id = ? AND id = ?`, n, a, n, a, n, a, projectID, userID)
}
