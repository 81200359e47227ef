package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Session limits (Stytch: https://stytch.com/docs/api/session-auth).
const (
	MinSessionMinutes   = 5
	MaxSessionMinutes   = 527040
	JWTLifetime         = 5 * time.Minute
	maxCustomClaimBytes = 4096
	defaultRole         = "stytch_user"
)

// SessionResult is what every call that authenticates a session returns.
// Token and JWT are "" when no session resulted.
type SessionResult struct {
	Session *store.Session
	Token   string
	JWT     string
	User    store.User
}

// SessionOptions are the session fields shared by every authenticate call.
type SessionOptions struct {
	SessionToken           string          `json:"session_token"`
	SessionJWT             string          `json:"session_jwt"`
	SessionDurationMinutes *int            `json:"session_duration_minutes"`
	SessionCustomClaims    json.RawMessage `json:"session_custom_claims"`
}

func checkDuration(d *int) error {
	if d != nil && (*d < MinSessionMinutes || *d > MaxSessionMinutes) {
		return ErrInvalidSessionDuration
	}
	return nil
}

// sessionFor resolves the session a caller named by token or JWT, for
// attaching a factor or attaching a method. It returns ErrSessionNotFound
// for anything that does not name a live session of the project.
func (s *Service) sessionFor(ctx context.Context, st store.Store, p store.Project, token, jwt string) (store.Session, error) {
	hash, id, subject, err := s.sessionKey(ctx, p, token, jwt)
	if err != nil {
		return store.Session{}, err
	}
	var sess store.Session
	if hash != nil {
		sess, err = st.GetSessionByTokenHash(ctx, p.ID, hash)
	} else {
		sess, err = st.GetSession(ctx, p.ID, id)
	}
	return s.liveSession(sess, subject, err)
}

// sessionWithUserFor is sessionFor for sessions/authenticate: the session
// and its user in one read of the store.
func (s *Service) sessionWithUserFor(ctx context.Context, p store.Project, token, jwt string) (store.Session, store.User, error) {
	hash, id, subject, err := s.sessionKey(ctx, p, token, jwt)
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	read, err := s.store.GetSessionWithUser(ctx, p.ID, hash, id)
	sess, err := s.liveSession(read.Session, subject, err)
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	return sess, s.withLockState(read.User), nil
}

// sessionKey checks the arguments that name a session: the hash of a
// token, or else the session id and subject of a JWT that verifies.
func (s *Service) sessionKey(ctx context.Context, p store.Project, token, jwt string) (hash []byte, id, subject string, err error) {
	switch {
	case token != "" && jwt != "":
		return nil, "", "", ErrTooManySessionArgs
	case token != "":
		return secret.Hash(token), "", "", nil
	case jwt != "":
		claims, verr := s.keys.Verify(ctx, p.ID, jwt)
		switch {
		case errors.Is(verr, keys.ErrMalformed):
			return nil, "", "", ErrUnableToParseJWT
		case errors.Is(verr, keys.ErrInvalid):
			return nil, "", "", ErrSessionNotFound
		case verr != nil:
			return nil, "", "", storeErr(verr, "verify session jwt")
		}
		return nil, claims.SessionID, claims.Subject, nil
	default:
		return nil, "", "", ErrNoSessionArgs
	}
}

// liveSession turns a session read into ErrSessionNotFound unless it is a
// live session (of the JWT's subject, when one named it).
func (s *Service) liveSession(sess store.Session, subject string, err error) (store.Session, error) {
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, ErrSessionNotFound
	}
	if err != nil {
		return store.Session{}, storeErr(err, "get session")
	}
	if subject != "" && sess.UserID != subject {
		return store.Session{}, ErrSessionNotFound
	}
	if !sess.ExpiresAt.After(s.Now()) {
		return store.Session{}, ErrSessionNotFound
	}
	return sess, nil
}

// loginInput is what a successful factor hands to finishLogin.
type loginInput struct {
	project store.Project
	userID  string
	roles   []string // the user's roles, carried into a new session
	factor  store.Factor
	attrs   *Attributes
	opts    SessionOptions // its session_token or session_jwt names the session to join (MFA)
}

// finishLogin runs inside the factor's transaction: it creates a session,
// or adds the factor to the caller's session, or neither when the caller
// asked for no session. It returns the session and its token.
func (s *Service) finishLogin(ctx context.Context, tx store.Store, in loginInput) (*store.Session, string, error) {
	now := s.Now()
	var existing *store.Session
	if in.opts.SessionToken != "" || in.opts.SessionJWT != "" {
		es, err := s.sessionFor(ctx, tx, in.project, in.opts.SessionToken, in.opts.SessionJWT)
		if err != nil {
			return nil, "", err
		}
		existing = &es
	}
	if existing == nil && in.opts.SessionDurationMinutes == nil {
		return nil, "", nil // no session asked for; custom claims are ignored
	}
	if existing != nil {
		if existing.UserID != in.userID {
			return nil, "", ErrUserIDMismatch
		}
		sess, err := s.updateSession(ctx, tx, in.project.ID, in.userID, existing.ID, now, func(sess *store.Session) error {
			sess.Factors = addFactor(sess.Factors, in.factor)
			return applyOptions(sess, now, in.opts.SessionDurationMinutes, in.opts.SessionCustomClaims)
		})
		if err != nil {
			return nil, "", err
		}
		token, err := s.ring.Open(sess.TokenSealed, []byte(sess.ID))
		if err != nil {
			return nil, "", err
		}
		return &sess, string(token), nil
	}
	claims, err := mergeClaims(nil, in.opts.SessionCustomClaims)
	if err != nil {
		return nil, "", err
	}
	token := secret.SessionToken()
	sess := store.Session{
		ID:             secret.ID("session", in.project.Live),
		ProjectID:      in.project.ID,
		UserID:         in.userID,
		TokenHash:      secret.Hash(token),
		StartedAt:      now,
		LastAccessedAt: now,
		ExpiresAt:      now.Add(time.Duration(*in.opts.SessionDurationMinutes) * time.Minute),
		CustomClaims:   claims,
		Factors:        []store.Factor{in.factor},
		Roles:          sessionRoles(in.roles),
	}
	if in.attrs != nil {
		sess.IPAddress, sess.UserAgent = in.attrs.IPAddress, in.attrs.UserAgent
	}
	sess.TokenSealed = s.ring.Seal([]byte(token), []byte(sess.ID))
	if err := tx.CreateSession(ctx, sess); err != nil {
		return nil, "", err
	}
	return &sess, token, nil
}

// updateSession is the one read-modify-write of a session (Dex's Update
// pattern): inside tx it locks the session's row, reads it as it now is,
// lets change edit it (change must not keep the pointer), sets
// last_accessed_at to now and writes it back. So factors or claims that
// concurrent requests add to the same session are kept instead of
// overwritten by a copy read before them. A session that is gone or has
// ended is ErrSessionNotFound; an error from change is returned as is,
// with nothing written.
//
// The row is locked by a touch, an UPDATE, which PostgreSQL holds to the
// end of the transaction (SQLite's write transactions are serial anyway).
// The user is read (and on PostgreSQL locked) first, so that every
// transaction takes the user before the session: a second update of a
// session row in one transaction re-checks its foreign key to users, and a
// transaction holding the session while waiting for the user would
// deadlock with a step-up holding the user while waiting for the session.
func (s *Service) updateSession(ctx context.Context, tx store.Store, projectID, userID, id string, now time.Time, change func(*store.Session) error) (store.Session, error) {
	_, err := tx.GetUser(ctx, projectID, userID)
	if err == nil {
		err = tx.TouchSession(ctx, projectID, id, now, nil)
	}
	var sess store.Session
	if err == nil {
		sess, err = tx.GetSession(ctx, projectID, id)
	}
	if err == nil && !sess.ExpiresAt.After(now) {
		return store.Session{}, ErrSessionNotFound
	}
	if err == nil {
		if err := change(&sess); err != nil {
			return store.Session{}, err
		}
		sess.LastAccessedAt = now
		err = tx.UpdateSession(ctx, sess)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, ErrSessionNotFound
	}
	if err != nil {
		return store.Session{}, err
	}
	return sess, nil
}

// applyOptions applies a request's session_duration_minutes (expiry reset
// to now + duration, which may shorten it) and session_custom_claims
// (merged) to sess.
func applyOptions(sess *store.Session, now time.Time, minutes *int, claims json.RawMessage) error {
	if minutes != nil {
		sess.ExpiresAt = now.Add(time.Duration(*minutes) * time.Minute)
	}
	merged, err := mergeClaims(sess.CustomClaims, claims)
	if err != nil {
		return err
	}
	sess.CustomClaims = merged
	return nil
}

// addFactor appends f, or refreshes the timestamps of the same factor if
// the session already holds it.
func addFactor(fs []store.Factor, f store.Factor) []store.Factor {
	out := slices.Clone(fs)
	for i, g := range out {
		if sameFactor(g, f) {
			out[i].LastAuthenticatedAt = f.LastAuthenticatedAt
			out[i].UpdatedAt = f.UpdatedAt
			return out
		}
	}
	return append(out, f)
}

func sameFactor(a, b store.Factor) bool {
	if a.Type != b.Type || a.DeliveryMethod != b.DeliveryMethod {
		return false
	}
	switch {
	case a.EmailFactor != nil && b.EmailFactor != nil:
		return a.EmailFactor.EmailID == b.EmailFactor.EmailID
	case a.PhoneNumberFactor != nil && b.PhoneNumberFactor != nil:
		return a.PhoneNumberFactor.PhoneID == b.PhoneNumberFactor.PhoneID
	case a.EmbeddableMagicLinkFactor != nil && b.EmbeddableMagicLinkFactor != nil:
		return a.EmbeddableMagicLinkFactor.EmbeddedID == b.EmbeddableMagicLinkFactor.EmbeddedID
	case a.AuthenticatorAppFactor != nil && b.AuthenticatorAppFactor != nil:
		return a.AuthenticatorAppFactor.TOTPID == b.AuthenticatorAppFactor.TOTPID
	case a.RecoveryCodeFactor != nil && b.RecoveryCodeFactor != nil:
		return a.RecoveryCodeFactor.TOTPRecoveryCodeID == b.RecoveryCodeFactor.TOTPRecoveryCodeID
	}
	return false
}

// AuthenticateSessionRequest is POST /v1/sessions/authenticate.
type AuthenticateSessionRequest struct {
	SessionOptions
	AuthorizationCheck json.RawMessage `json:"authorization_check"`
}

// parseAuthorizationCheck reports whether the caller asked for an
// authorization_check, which must then name a resource_id and an action.
//
// Stytch answers a check the user's roles do not grant with 403 (the SDK's
// types/lib/b2c/sessions.d.ts); dist/shared/rbac_local.js grants one only
// through a role holding a permission for that resource and action. Latch
// has no RBAC policy, so every check is refused: ignoring it, as before,
// answered 200 to an app asking whether a user may do something.
func parseAuthorizationCheck(raw json.RawMessage) (bool, error) {
	if !hasValue(raw) {
		return false, nil
	}
	var c struct {
		ResourceID string `json:"resource_id"`
		Action     string `json:"action"`
	}
	if err := decodeExact(raw, &c); err != nil || c.ResourceID == "" || c.Action == "" {
		return false, ErrBadRequest.With("authorization_check must be an object with a resource_id and an action.")
	}
	return true, nil
}

// AuthenticateSession checks a session by token or JWT. With a duration it
// resets the expiry to now + duration (which may shorten it); with custom
// claims it merges them. It always records last_accessed_at.
//
// A JWT past its exp is accepted when its signature is good and its
// session is alive, and a fresh JWT is returned (Stytch:
// https://stytch.com/docs/api/session-auth).
//
// p is a project whose secret the caller has proved (AuthenticateProject),
// as for every other method: a caller without it never gets here, so it
// learns nothing, not even by timing, of whether the session exists.
func (s *Service) AuthenticateSession(ctx context.Context, p store.Project, r AuthenticateSessionRequest) (SessionResult, error) {
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return SessionResult{}, err
	}
	if r.SessionToken == "" && r.SessionJWT == "" {
		return SessionResult{}, ErrNoSessionArgs
	}
	authzCheck, err := parseAuthorizationCheck(r.AuthorizationCheck)
	if err != nil {
		return SessionResult{}, err
	}
	if !p.Live && r.SessionToken == sandboxSessionOK && r.SessionJWT == "" {
		if authzCheck {
			return SessionResult{}, ErrSessionAuthorization
		}
		sess := s.sandboxSession(p)
		jwt, err := s.sessionJWT(ctx, p, sess)
		return SessionResult{Session: &sess, Token: sandboxSessionOK, JWT: jwt, User: s.sandboxUser(p)}, err
	}
	sess, u, err := s.sessionWithUserFor(ctx, p, r.SessionToken, r.SessionJWT)
	if err != nil {
		return SessionResult{}, err
	}
	if authzCheck {
		// No role carries a permission (Latch has no RBAC policy), so no
		// check passes; answered before any write, as a refusal changes nothing.
		return SessionResult{}, ErrSessionAuthorization
	}
	return s.refreshSession(ctx, p, sess, u, r.SessionOptions)
}

// refreshSession is the rest of a session check once the live session and
// its user are read (by AuthenticateSession, or SDKAuthenticateSession):
// the access recorded, the options applied, the answer with its JWT.
func (s *Service) refreshSession(ctx context.Context, p store.Project, sess store.Session, u store.User, r SessionOptions) (SessionResult, error) {
	var err error
	now := s.Now()
	switch {
	case hasValue(r.SessionCustomClaims):
		// Merge into the stored claims under the row lock, not into the
		// copy read above, so that concurrent claim patches and factors
		// added meanwhile are kept; a refused patch writes nothing.
		err = s.store.InTx(ctx, func(tx store.Store) error {
			sess, err = s.updateSession(ctx, tx, p.ID, sess.UserID, sess.ID, now, func(cur *store.Session) error {
				return applyOptions(cur, now, r.SessionDurationMinutes, r.SessionCustomClaims)
			})
			return err
		})
	case r.SessionDurationMinutes != nil:
		// An extension: durable before the 200, group-committed with
		// other requests' touches where the store can.
		_ = applyOptions(&sess, now, r.SessionDurationMinutes, nil) // no claims: cannot fail
		sess.LastAccessedAt = now
		err = s.store.TouchSession(ctx, p.ID, sess.ID, now, &sess.ExpiresAt)
	default:
		// The common case, on every request of every app: only
		// last_accessed_at changes, which the store writes lazily.
		sess.LastAccessedAt = now
		s.store.NoteAccess(p.ID, sess.ID, now)
	}
	if errors.Is(err, store.ErrNotFound) {
		return SessionResult{}, ErrSessionNotFound
	}
	if err != nil {
		return SessionResult{}, storeErr(err, "update session")
	}
	token := r.SessionToken
	if token == "" {
		b, err := s.ring.Open(sess.TokenSealed, []byte(sess.ID))
		if err != nil {
			return SessionResult{}, err
		}
		token = string(b)
	}
	jwt, err := s.sessionJWT(ctx, p, sess)
	if err != nil {
		return SessionResult{}, err
	}
	return SessionResult{Session: &sess, Token: token, JWT: jwt, User: u}, nil
}

// result builds the SessionResult of a login: the user as it now is and a
// JWT for the session, if any.
func (s *Service) result(ctx context.Context, p store.Project, userID string, sess *store.Session, token string) (SessionResult, error) {
	u, err := s.GetUser(ctx, p, userID)
	if err != nil {
		return SessionResult{}, err
	}
	res := SessionResult{User: u, Session: sess, Token: token}
	if sess != nil {
		if res.JWT, err = s.sessionJWT(ctx, p, *sess); err != nil {
			return SessionResult{}, err
		}
	}
	return res, nil
}

// ListSessions returns a user's live sessions.
func (s *Service) ListSessions(ctx context.Context, p store.Project, userID string) ([]store.Session, error) {
	u, err := s.GetUser(ctx, p, userID)
	if err != nil {
		return nil, err
	}
	ss, err := s.store.ListSessions(ctx, p.ID, u.ID, s.Now())
	if err != nil {
		return nil, storeErr(err, "list sessions")
	}
	return ss, nil
}

// RevokeRequest is POST /v1/sessions/revoke. UserID is Latch's extension:
// it revokes every session of the user in one call.
type RevokeRequest struct {
	SessionID    string `json:"session_id"`
	SessionToken string `json:"session_token"`
	SessionJWT   string `json:"session_jwt"`
	UserID       string `json:"user_id"`
}

// RevokeSession ends a session (or, with UserID, all of a user's) at once:
// the rows are deleted, so the next authenticate on any node fails.
func (s *Service) RevokeSession(ctx context.Context, p store.Project, r RevokeRequest) error {
	n := 0
	for _, v := range []string{r.SessionID, r.SessionToken, r.SessionJWT, r.UserID} {
		if v != "" {
			n++
		}
	}
	if n == 0 {
		return ErrNoRevokeArgs
	}
	if n > 1 {
		return ErrTooManyRevokeArgs
	}
	if r.UserID != "" {
		u, err := s.GetUser(ctx, p, r.UserID)
		if err != nil {
			return err
		}
		_, err = s.store.DeleteUserSessions(ctx, p.ID, u.ID)
		return storeErr(err, "revoke user sessions")
	}
	id := r.SessionID
	if id == "" {
		sess, err := s.sessionFor(ctx, s.store, p, r.SessionToken, r.SessionJWT)
		if err != nil {
			return err
		}
		id = sess.ID
	}
	err := s.store.DeleteSession(ctx, p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrSessionNotFound
	}
	return storeErr(err, "revoke session")
}

// sessionRoles are stytch_user followed by the user's own roles (real
// Stytch sessions carry ["stytch_user", "admin", …], open question 6).
func sessionRoles(userRoles []string) []string {
	out := []string{defaultRole}
	for _, r := range userRoles {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
