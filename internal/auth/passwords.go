package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Password errors (Stytch: https://stytch.com/docs/api/errors; statuses
// Stytch does not document are inferred, CONTRACT-NOTES "Passwords").
var (
	ErrWrongPassword    = newErr(http.StatusUnauthorized, "unauthorized_credentials", "The email or password is incorrect.")
	ErrWeakPassword     = newErr(http.StatusBadRequest, "weak_password", "The password is too weak; strength_check says how to make it stronger.")
	ErrBreachedPassword = newErr(http.StatusBadRequest, "breached_password", "This password has appeared in a data breach; choose another.")
	ErrResetPassword    = newErr(http.StatusUnauthorized, "reset_password", "The password of this user must be reset (it has appeared in a data breach).")
	ErrNoResetRedirect  = newErr(http.StatusBadRequest, "no_reset_password_redirect_urls_set", "The project has no redirect URL; add one or pass reset_password_redirect_url.")
	ErrPasswordNotFound = newErr(http.StatusNotFound, "password_not_found", "Password could not be found.")
	ErrSessionTooOld    = newErr(http.StatusBadRequest, "session_too_old_to_reset_password", "The session has no factor authenticated in the last 5 minutes; authenticate again, then reset the password.")
)

// Reset-link expiry (Stytch: reset_password_expiration_minutes, default 30).
const defaultResetMinutes = 30

// sessionResetWindow: passwords/session/reset needs a factor this recent.
const sessionResetWindow = 5 * time.Minute

func passwordFactor(now time.Time, e store.Email) store.Factor {
	return store.Factor{Type: "password", DeliveryMethod: "knowledge", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now,
		EmailFactor: &store.EmailFactor{EmailID: e.ID, EmailAddress: e.Address}}
}

// PasswordCreateRequest is POST /v1/passwords.
type PasswordCreateRequest struct {
	Email                  string          `json:"email"`
	Password               string          `json:"password"`
	Name                   *Name           `json:"name"`
	TrustedMetadata        json.RawMessage `json:"trusted_metadata"`
	UntrustedMetadata      json.RawMessage `json:"untrusted_metadata"`
	SessionDurationMinutes *int            `json:"session_duration_minutes"`
	SessionCustomClaims    json.RawMessage `json:"session_custom_claims"`
}

// PasswordLogin is a password call's answer: EmailID for create.
type PasswordLogin struct {
	SessionResult
	EmailID string
}

// CreatePassword creates a user with an email and a password, and a
// session when session_duration_minutes is given. An address that is a
// user's already is 400 duplicate_email.
func (s *Service) CreatePassword(ctx context.Context, p store.Project, r PasswordCreateRequest) (PasswordLogin, error) {
	addr, err := NormalizeEmail(r.Email)
	if err != nil {
		return PasswordLogin{}, err
	}
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return PasswordLogin{}, err
	}
	u := s.newUser(p, false)
	applyName(&u, r.Name)
	if u.TrustedMetadata, err = mergeMetadata(u.TrustedMetadata, r.TrustedMetadata, "trusted_metadata"); err != nil {
		return PasswordLogin{}, err
	}
	if u.UntrustedMetadata, err = mergeMetadata(u.UntrustedMetadata, r.UntrustedMetadata, "untrusted_metadata"); err != nil {
		return PasswordLogin{}, err
	}
	if err := s.checkNewPassword(ctx, p, r.Password, addr); err != nil {
		return PasswordLogin{}, err
	}
	if _, err := s.store.GetUserByEmail(ctx, p.ID, addr); err == nil {
		return PasswordLogin{}, ErrDuplicateEmail
	} else if !errors.Is(err, store.ErrNotFound) {
		return PasswordLogin{}, storeErr(err, "get user")
	}
	hash, err := s.passwords.hash(ctx, r.Password)
	if err != nil {
		return PasswordLogin{}, err
	}
	email := store.Email{ID: secret.ID("email", p.Live), ProjectID: p.ID, UserID: u.ID, Address: addr, CreatedAt: u.CreatedAt}
	u.Emails = []store.Email{email}
	var sess *store.Session
	var token string
	err = s.store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return userWriteErr(err)
		}
		now := s.Now()
		if _, err := tx.SetPassword(ctx, store.Password{ID: secret.ID("password", p.Live), ProjectID: p.ID, UserID: u.ID, Hash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		var err error
		sess, token, err = s.finishLogin(ctx, tx, loginInput{project: p, userID: u.ID, roles: u.Roles, factor: passwordFactor(now, email),
			opts: SessionOptions{SessionDurationMinutes: r.SessionDurationMinutes, SessionCustomClaims: r.SessionCustomClaims}})
		return err
	})
	if err != nil {
		return PasswordLogin{}, storeErr(err, "create password")
	}
	sr, err := s.result(ctx, p, u.ID, sess, token)
	return PasswordLogin{SessionResult: sr, EmailID: email.ID}, err
}

// PasswordAuthenticateRequest is POST /v1/passwords/authenticate.
type PasswordAuthenticateRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	SessionOptions
}

// checkedPassword is a password that matched, with what a login needs.
type checkedPassword struct {
	admitted time.Time // when reserveAttempt admitted the check
	user     store.User
	email    store.Email
	pw       store.Password
	rehash   bool
}

// checkPassword checks email and password. The attempt is counted before
// anything is checked (reserveAttempt for a user with a password,
// reserveAddress for an unknown address or a user without one): past the
// lock threshold it is 429 user_lock_limit_reached with no hash computed,
// the right password too, whoever the address is. Otherwise the check
// costs one Argon2id computation at least: an unknown address and a user
// without a password are checked against a dummy hash, so that their cost
// is a wrong password's. Every refusal of an address or password is 401
// unauthorized_credentials.
//
// A password that matches but must be reset is 401 reset_password: one
// that a passwordless login has marked (it may be a pre-hijacker's), or,
// unless replacing is set (existing_password/reset, which replaces it),
// one found in the breached-password files.
func (s *Service) checkPassword(ctx context.Context, p store.Project, email, password string, replacing bool) (checkedPassword, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return checkedPassword{}, err
	}
	if err := checkPasswordInput(password, "password"); err != nil {
		return checkedPassword{}, err
	}
	var c checkedPassword
	hasPassword := false
	c.user, err = s.store.GetUserByEmail(ctx, p.ID, addr)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return checkedPassword{}, storeErr(err, "get user")
	case c.user.PasswordID != "": // the user read says whether there is one
		c.email = emailOf(c.user, addr)
		c.pw, err = s.store.GetPassword(ctx, p.ID, c.user.ID)
		switch {
		case errors.Is(err, store.ErrNotFound): // deleted since
		case err != nil:
			return checkedPassword{}, storeErr(err, "get password")
		default:
			hasPassword = true
		}
	}
	if !hasPassword {
		if err := s.reserveAddress(ctx, p, addr); err != nil {
			return checkedPassword{}, err
		}
		if _, _, err := s.passwords.verify(ctx, dummyHash, password); err != nil {
			return checkedPassword{}, err
		}
		return checkedPassword{}, ErrWrongPassword
	}
	if c.admitted, err = s.reserveAttempt(ctx, p, c.user.ID); err != nil {
		return checkedPassword{}, err
	}
	ok, rehash, err := s.passwords.verify(ctx, c.pw.Hash, password)
	if err != nil {
		return checkedPassword{}, err
	}
	if !ok {
		return checkedPassword{}, ErrWrongPassword // counted by the reservation
	}
	// The password is right: the attempt reserved is not a failure. A login
	// clears the count in its own transaction (succeed); a right password
	// that must be reset clears it here.
	mustReset := func(e error) (checkedPassword, error) {
		if err := s.store.ResetAuthFailures(ctx, p.ID, c.user.ID, s.Now(), c.admitted); err != nil {
			return checkedPassword{}, storeErr(err, "clear failures")
		}
		return checkedPassword{}, e
	}
	if c.pw.RequiresReset {
		return mustReset(ErrResetPassword.With("The password of this user must be reset: the address was proved by another login method since it was set. Reset it by email."))
	}
	if !replacing {
		breached, err := s.isBreached(password)
		if err != nil {
			return checkedPassword{}, err
		}
		if breached {
			return mustReset(ErrResetPassword)
		}
	}
	c.rehash = rehash
	return c, nil
}

// AuthenticatePassword logs in with email and password; the factor joins
// the session named by session_token or session_jwt, as every factor's
// does. A migrated hash (or an Argon2id hash with weaker parameters than
// today's) is replaced by a new Argon2id hash on this first success.
func (s *Service) AuthenticatePassword(ctx context.Context, p store.Project, r PasswordAuthenticateRequest) (SessionResult, error) {
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return SessionResult{}, err
	}
	c, err := s.checkPassword(ctx, p, r.Email, r.Password, false)
	if err != nil {
		return SessionResult{}, err
	}
	newHash := ""
	if c.rehash {
		if newHash, err = s.passwords.hash(ctx, r.Password); err != nil {
			return SessionResult{}, err
		}
	}
	return s.passwordLogin(ctx, p, c.user.ID, c.email, c.admitted, r.SessionOptions, func(tx store.Store, now time.Time) error {
		if newHash == "" {
			return nil
		}
		err := tx.ReplacePasswordHash(ctx, p.ID, c.pw.ID, c.pw.Hash, newHash, now)
		if errors.Is(err, store.ErrConsumed) {
			return nil // reset meanwhile: the new password stands
		}
		return err
	})
}

// passwordlessProved runs in a passwordless login's transaction (magic
// link, passcode) that proves an address of u: the first proof of an
// address the user has had from the start (not one being attached) marks
// u's password, if any, as needing a reset. Whoever set the password never
// proved the address (account pre-hijacking: an attacker signs up with the
// victim's address and a password, the victim later logs in by link),
// Stytch's second reset_password case.
func passwordlessProved(ctx context.Context, tx store.Store, u store.User, e store.Email) error {
	if u.PasswordID == "" || e.Verified || e.PendingUntil != nil {
		return nil
	}
	return tx.RequirePasswordReset(ctx, u.ProjectID, u.ID)
}

// passwordLogin is the transaction that ends every password login: the
// user re-read, write (a rehash, a new password) done, the failure count
// (and a lock that the attempt's own reservation set) cleared and the
// session made or joined. The lock is not checked again: the attempt was
// admitted when it was reserved, before the check.
func (s *Service) passwordLogin(ctx context.Context, p store.Project, userID string, e store.Email, admitted time.Time, opts SessionOptions, write func(tx store.Store, now time.Time) error) (SessionResult, error) {
	var sess *store.Session
	var token string
	err := s.store.InTx(ctx, func(tx store.Store) error {
		u, err := tx.GetUser(ctx, p.ID, userID)
		if err != nil {
			return notFoundAs(err, ErrWrongPassword)
		}
		now := s.Now()
		if err := write(tx, now); err != nil {
			return err
		}
		if err := s.succeed(ctx, tx, u, admitted); err != nil {
			return err
		}
		sess, token, err = s.finishLogin(ctx, tx, loginInput{project: p, userID: u.ID, roles: u.Roles, factor: passwordFactor(now, e), opts: opts})
		return err
	})
	if err != nil {
		return SessionResult{}, storeErr(err, "authenticate password")
	}
	return s.result(ctx, p, userID, sess, token)
}

// passwordChanged runs in the transaction of every change of a user's
// password (a reset of any kind, a migrate, a delete): every reset link
// of the user still outstanding stops working, so a link sent for the old
// password cannot set another one afterwards.
func passwordChanged(ctx context.Context, tx store.Store, projectID, userID string, now time.Time) error {
	return tx.RevokeMagicLinks(ctx, projectID, userID, store.MagicLinkResetPassword, now)
}

// ResetStartRequest is POST /v1/passwords/email/reset/start.
type ResetStartRequest struct {
	Email                          string      `json:"email"`
	ResetPasswordRedirectURL       string      `json:"reset_password_redirect_url"`
	ResetPasswordExpirationMinutes *int        `json:"reset_password_expiration_minutes"`
	CodeChallenge                  string      `json:"code_challenge"`
	Attributes                     *Attributes `json:"attributes"`
	LoginRedirectURL               string      `json:"login_redirect_url"`
	Locale                         string      `json:"locale"`
	ResetPasswordTemplateID        string      `json:"reset_password_template_id"`
}

// StartPasswordReset emails a reset link to a user's address, through the
// outbox, with the link's redirect URL from the project's allow-list and
// an optional PKCE challenge, as magic links do. An unknown address is
// 404 email_not_found, as Stytch answers.
func (s *Service) StartPasswordReset(ctx context.Context, p store.Project, r ResetStartRequest) (LinkSent, error) {
	if err := s.checkTransport(p, store.ChannelEmail); err != nil {
		return LinkSent{}, err
	}
	addr, err := NormalizeEmail(r.Email)
	if err != nil {
		return LinkSent{}, err
	}
	if !slices.Contains(emailLocales, r.Locale) {
		return LinkSent{}, ErrInvalidLocale
	}
	if err := checkCodeChallenge(r.CodeChallenge); err != nil {
		return LinkSent{}, err
	}
	if err := checkTemplates(r.ResetPasswordTemplateID); err != nil {
		return LinkSent{}, err
	}
	ttl, err := linkMinutes(r.ResetPasswordExpirationMinutes, defaultResetMinutes)
	if err != nil {
		return LinkSent{}, err
	}
	if err := s.checkRedirects(ctx, s.store, p, r.ResetPasswordRedirectURL, r.LoginRedirectURL); err != nil {
		return LinkSent{}, err
	}
	if err := s.limitSend(ctx, p, addr); err != nil {
		return LinkSent{}, err
	}
	var out LinkSent
	err = s.store.InTx(ctx, func(tx store.Store) error {
		u, err := tx.GetUserByEmail(ctx, p.ID, addr)
		if errors.Is(err, store.ErrNotFound) {
			return ErrEmailNotFound
		}
		if err != nil {
			return err
		}
		e := store.Email{ID: emailOf(u, addr).ID, Address: addr}
		link := linkToSend{userID: u.ID, email: e, kind: store.MagicLinkResetPassword, given: r.ResetPasswordRedirectURL,
			noDefault: ErrNoResetRedirect, expires: s.Now().Add(ttl), challenge: r.CodeChallenge, attrs: r.Attributes}
		if err := s.sendLink(ctx, tx, p, link); err != nil {
			return err
		}
		out = LinkSent{UserID: u.ID, EmailID: e.ID}
		return nil
	})
	if err != nil {
		return LinkSent{}, storeErr(err, "start password reset")
	}
	s.notify()
	return out, nil
}

// EmailResetRequest is POST /v1/passwords/email/reset.
type EmailResetRequest struct {
	Token        string        `json:"token"`
	Password     string        `json:"password"`
	CodeVerifier string        `json:"code_verifier"`
	Attributes   *Attributes   `json:"attributes"`
	Options      *MatchOptions `json:"options"`
	SessionOptions
}

// ResetPasswordByEmail redeems a reset link once and sets the password:
// the redemption, the PKCE and attribute checks, the email's verification
// and the new hash are one transaction, so a refused reset leaves the link
// unused. The new password is checked and hashed before (outside the
// transaction).
func (s *Service) ResetPasswordByEmail(ctx context.Context, p store.Project, r EmailResetRequest) (SessionResult, error) {
	if r.Token == "" {
		return SessionResult{}, ErrBadRequest.With("token is required.")
	}
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return SessionResult{}, err
	}
	if err := s.checkNewPassword(ctx, p, r.Password, ""); err != nil {
		return SessionResult{}, err
	}
	hash, err := s.passwords.hash(ctx, r.Password)
	if err != nil {
		return SessionResult{}, err
	}
	var sess *store.Session
	var token, userID string
	err = s.store.InTx(ctx, func(tx store.Store) error {
		now := s.Now()
		ml, err := tx.RedeemMagicLink(ctx, p.ID, secret.Hash(r.Token), now)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ErrMagicLinkNotFound
		case errors.Is(err, store.ErrConsumed) && ml.Kind == store.MagicLinkResetPassword:
			return ErrUnableToAuthMagicLink
		case errors.Is(err, store.ErrConsumed):
			return ErrMagicLinkNotFound
		case err != nil:
			return err
		}
		if ml.Kind != store.MagicLinkResetPassword {
			return ErrMagicLinkNotFound // a login link is not a reset link
		}
		if err := checkPKCE(ml.CodeChallenge, r.CodeVerifier); err != nil {
			return err
		}
		if err := checkAttributes(ml.IPAddress, ml.UserAgent, r.Attributes, r.Options); err != nil {
			return err
		}
		u, err := tx.GetUser(ctx, p.ID, ml.UserID)
		if err != nil {
			return notFoundAs(err, ErrUnableToAuthMagicLink)
		}
		if err := s.checkLock(u); err != nil {
			return err
		}
		e, err := tx.GetEmail(ctx, p.ID, ml.EmailID)
		if err != nil {
			return notFoundAs(err, ErrUnableToAuthMagicLink)
		}
		if err := verifyMethod(ctx, tx, p, store.ChannelEmail, e.ID, e.PendingUntil, now, ErrUnableToAuthMagicLink); err != nil {
			return err
		}
		if _, err := tx.SetPassword(ctx, store.Password{ID: secret.ID("password", p.Live), ProjectID: p.ID, UserID: u.ID, Hash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := passwordChanged(ctx, tx, p.ID, u.ID, now); err != nil {
			return err
		}
		if err := s.succeed(ctx, tx, u, time.Time{}); err != nil { // a reset link reserves no attempt
			return err
		}
		userID = u.ID
		sess, token, err = s.finishLogin(ctx, tx, loginInput{project: p, userID: u.ID, roles: u.Roles, factor: passwordFactor(now, e), attrs: r.Attributes, opts: r.SessionOptions})
		return err
	})
	if err != nil {
		return SessionResult{}, storeErr(err, "reset password")
	}
	return s.result(ctx, p, userID, sess, token)
}

// ExistingPasswordResetRequest is POST /v1/passwords/existing_password/reset.
type ExistingPasswordResetRequest struct {
	Email            string `json:"email"`
	ExistingPassword string `json:"existing_password"`
	NewPassword      string `json:"new_password"`
	SessionOptions
}

// ResetExistingPassword replaces a password given the one it replaces
// (checked as authenticate checks it, failures counted) and logs in.
func (s *Service) ResetExistingPassword(ctx context.Context, p store.Project, r ExistingPasswordResetRequest) (SessionResult, error) {
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return SessionResult{}, err
	}
	if err := checkPasswordInput(r.NewPassword, "new_password"); err != nil {
		return SessionResult{}, err
	}
	if addr, err := NormalizeEmail(r.Email); err == nil {
		if err := s.checkNewPassword(ctx, p, r.NewPassword, addr); err != nil {
			return SessionResult{}, err
		}
	}
	c, err := s.checkPassword(ctx, p, r.Email, r.ExistingPassword, true)
	if err != nil {
		return SessionResult{}, err
	}
	hash, err := s.passwords.hash(ctx, r.NewPassword)
	if err != nil {
		return SessionResult{}, err
	}
	return s.passwordLogin(ctx, p, c.user.ID, c.email, c.admitted, r.SessionOptions, func(tx store.Store, now time.Time) error {
		err := tx.ReplacePasswordHash(ctx, p.ID, c.pw.ID, c.pw.Hash, hash, now)
		if errors.Is(err, store.ErrConsumed) {
			// The password changed (or went) since it was checked: the
			// existing password given is no longer the existing one.
			return ErrWrongPassword
		}
		if err != nil {
			return err
		}
		return passwordChanged(ctx, tx, p.ID, c.user.ID, now)
	})
}

// SessionResetRequest is POST /v1/passwords/session/reset.
type SessionResetRequest struct {
	Password string `json:"password"`
	SessionOptions
}

// ResetPasswordBySession sets the password of a session's user: the
// session must hold a factor authenticated in the last 5 minutes. The
// session is answered (its expiry and claims changed as asked); no factor
// is added to it.
func (s *Service) ResetPasswordBySession(ctx context.Context, p store.Project, r SessionResetRequest) (SessionResult, error) {
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return SessionResult{}, err
	}
	if err := checkPasswordInput(r.Password, "password"); err != nil {
		return SessionResult{}, err
	}
	sess, err := s.sessionFor(ctx, s.store, p, r.SessionToken, r.SessionJWT)
	if err != nil {
		return SessionResult{}, err
	}
	now := s.Now()
	recent := false
	for _, f := range sess.Factors {
		if !f.LastAuthenticatedAt.Before(now.Add(-sessionResetWindow)) {
			recent = true
		}
	}
	if !recent {
		return SessionResult{}, ErrSessionTooOld
	}
	u, err := s.store.GetUser(ctx, p.ID, sess.UserID)
	if err != nil {
		return SessionResult{}, storeErr(notFoundAs(err, ErrSessionNotFound), "get user")
	}
	// A locked user cannot set a password by session either, as by email.
	if err := s.checkLock(u); err != nil {
		return SessionResult{}, err
	}
	email := ""
	if len(u.Emails) > 0 {
		email = u.Emails[0].Address
	}
	if err := s.checkNewPassword(ctx, p, r.Password, email); err != nil {
		return SessionResult{}, err
	}
	hash, err := s.passwords.hash(ctx, r.Password)
	if err != nil {
		return SessionResult{}, err
	}
	var out store.Session
	var token string
	err = s.store.InTx(ctx, func(tx store.Store) error {
		now := s.Now()
		again, err := tx.GetUser(ctx, p.ID, u.ID)
		if err != nil {
			return notFoundAs(err, ErrSessionNotFound)
		}
		if err := s.checkLock(again); err != nil {
			return err
		}
		if _, err := tx.SetPassword(ctx, store.Password{ID: secret.ID("password", p.Live), ProjectID: p.ID, UserID: u.ID, Hash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := passwordChanged(ctx, tx, p.ID, u.ID, now); err != nil {
			return err
		}
		out, err = s.updateSession(ctx, tx, p.ID, u.ID, sess.ID, now, func(se *store.Session) error {
			return applyOptions(se, now, r.SessionDurationMinutes, r.SessionCustomClaims)
		})
		if err != nil {
			return err
		}
		t, err := s.ring.Open(out.TokenSealed, []byte(out.ID))
		token = string(t)
		return err
	})
	if err != nil {
		return SessionResult{}, storeErr(err, "reset password by session")
	}
	return s.result(ctx, p, u.ID, &out, token)
}

// PasswordMigrateRequest is POST /v1/passwords/migrate.
type PasswordMigrateRequest struct {
	Email string `json:"email"`
	MigrateHashRequest
	TrustedMetadata        json.RawMessage `json:"trusted_metadata"`
	UntrustedMetadata      json.RawMessage `json:"untrusted_metadata"`
	SetEmailVerified       bool            `json:"set_email_verified"`
	Name                   *Name           `json:"name"`
	PhoneNumber            string          `json:"phone_number"`
	SetPhoneNumberVerified bool            `json:"set_phone_number_verified"`
	ExternalID             string          `json:"external_id"`
	Roles                  []string        `json:"roles"`
}

// Migrated is the answer of passwords/migrate.
type Migrated struct {
	User        store.User
	EmailID     string
	UserCreated bool
}

// MigratePassword stores a hash from another system for an address: on
// its user (the password replaced if it has one) or on a new user made
// with the request's fields. The hash is kept as given and checked as
// given until the first successful login re-hashes it with Argon2id.
func (s *Service) MigratePassword(ctx context.Context, p store.Project, r PasswordMigrateRequest) (Migrated, error) {
	addr, err := NormalizeEmail(r.Email)
	if err != nil {
		return Migrated{}, err
	}
	hash, err := r.storedHash()
	if err != nil {
		return Migrated{}, err
	}
	nu := s.newUser(p, false)
	nu.Emails = []store.Email{{ID: secret.ID("email", p.Live), ProjectID: p.ID, UserID: nu.ID, Address: addr, CreatedAt: nu.CreatedAt, Verified: r.SetEmailVerified}}
	if r.PhoneNumber != "" {
		num, err := NormalizePhone(r.PhoneNumber)
		if err != nil {
			return Migrated{}, err
		}
		nu.Phones = []store.Phone{{ID: secret.ID("phone-number", p.Live), ProjectID: p.ID, UserID: nu.ID, Number: num, CreatedAt: nu.CreatedAt, Verified: r.SetPhoneNumberVerified}}
	}
	applyName(&nu, r.Name)
	if nu.TrustedMetadata, err = mergeMetadata(nu.TrustedMetadata, r.TrustedMetadata, "trusted_metadata"); err != nil {
		return Migrated{}, err
	}
	if nu.UntrustedMetadata, err = mergeMetadata(nu.UntrustedMetadata, r.UntrustedMetadata, "untrusted_metadata"); err != nil {
		return Migrated{}, err
	}
	if err := validateExternalID(r.ExternalID); err != nil {
		return Migrated{}, err
	}
	nu.ExternalID = r.ExternalID
	if r.Roles != nil {
		nu.Roles = r.Roles
	}
	var out Migrated
	err = s.store.InTx(ctx, func(tx store.Store) error {
		now := s.Now()
		u, err := tx.GetUserByEmail(ctx, p.ID, addr)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := tx.CreateUser(ctx, nu); err != nil {
				again, aerr := createdMeanwhile(ctx, tx, p, err, store.ChannelEmail, addr)
				if aerr != nil {
					return aerr
				}
				u = again
			} else {
				u, out.UserCreated = nu, true
			}
		case err != nil:
			return err
		}
		e := emailOf(u, addr)
		if r.SetEmailVerified && !e.Verified {
			if err := tx.VerifyEmail(ctx, p.ID, e.ID); err != nil {
				return userWriteErr(err)
			}
		}
		if _, err := tx.SetPassword(ctx, store.Password{ID: secret.ID("password", p.Live), ProjectID: p.ID, UserID: u.ID, Hash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := passwordChanged(ctx, tx, p.ID, u.ID, now); err != nil {
			return err
		}
		out.User, out.EmailID = u, e.ID
		return nil
	})
	if err != nil {
		return Migrated{}, storeErr(err, "migrate password")
	}
	if out.User, err = s.GetUser(ctx, p, out.User.ID); err != nil {
		return Migrated{}, err
	}
	return out, nil
}

// DeletePassword removes a password by id and returns its user.
func (s *Service) DeletePassword(ctx context.Context, p store.Project, passwordID string) (store.User, error) {
	if passwordID == "" {
		return store.User{}, ErrPasswordNotFound
	}
	var userID string
	err := s.store.InTx(ctx, func(tx store.Store) error {
		var err error
		if userID, err = tx.DeletePassword(ctx, p.ID, passwordID); err != nil {
			return err
		}
		return passwordChanged(ctx, tx, p.ID, userID, s.Now())
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrPasswordNotFound
	}
	if err != nil {
		return store.User{}, storeErr(err, "delete password")
	}
	return s.GetUser(ctx, p, userID)
}
