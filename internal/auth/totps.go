package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// TOTP rules. Stytch: https://stytch.com/docs/api/totp-create (expiration
// 5–1440 minutes, 1 day by default), codes from the previous and next
// 30-second windows accepted.
const (
	defaultTOTPMinutes = 1440
	minTOTPMinutes     = 5
	maxTOTPMinutes     = 1440
	recoveryCodeCount  = 10
	// totpSkew is how many steps either side of now a code may be from.
	totpSkew = 1
	// maxRecoveryCodeLen bounds what is hashed for a recovery code.
	maxRecoveryCodeLen = 64
)

// The TOTP errors. Names are Stytch's (its SDKs' error catalogue;
// active_totp_exists is documented as a 400); the other statuses are
// Latch's inference (CONTRACT-NOTES.md, "TOTP").
var (
	ErrActiveTOTPExists             = newErr(http.StatusBadRequest, "active_totp_exists", "Cannot create a new TOTP for the specified user since the user already has an active TOTP. Users may only have one active TOTP at a time.")
	ErrTOTPNotFound                 = newErr(http.StatusNotFound, "totp_not_found", "TOTP could not be found.")
	ErrTOTPsNotFoundForUser         = newErr(http.StatusNotFound, "totps_not_found_for_user", "The user has no TOTP.")
	ErrUnableToAuthTOTP             = newErr(http.StatusUnauthorized, "unable_to_authenticate_totp", "The TOTP code is incorrect.")
	ErrTOTPCodeAlreadyAuthenticated = newErr(http.StatusBadRequest, "totp_code_already_authenticated", "This TOTP code has already been authenticated. Please attempt with the next generated code.")
	ErrUnableToAuthRecoveryCode     = newErr(http.StatusUnauthorized, "unable_to_authenticate_recovery_code", "The recovery code is incorrect or was already used.")
	ErrTOTPCodeUsedAsRecoveryCode   = newErr(http.StatusBadRequest, "totp_code_used_as_recovery_code", "This looks like a TOTP code: pass it to totps/authenticate, not totps/recover.")
	errInvalidTOTPExpiration        = ErrInvalidExpiration.With("expiration_minutes must be between 5 and 1440.")
	errInvalidTOTPCode              = ErrInvalidCode.With("totp_code must be 6 digits.")
)

// CreateTOTPRequest is POST /v1/totps.
type CreateTOTPRequest struct {
	UserID            string `json:"user_id"`
	ExpirationMinutes *int   `json:"expiration_minutes"`
}

// TOTPCreated answers POST /v1/totps: the secret, its QR code and the
// recovery codes are shown this once (the codes again through
// totps/recovery_codes).
type TOTPCreated struct {
	TOTPID        string
	Secret        string // base32
	QRCode        string // data:image/png;base64,…
	RecoveryCodes []string
	User          store.User
}

func totpTTL(v *int) (time.Duration, error) {
	if v == nil || *v == 0 {
		return defaultTOTPMinutes * time.Minute, nil
	}
	if *v < minTOTPMinutes || *v > maxTOTPMinutes {
		return 0, errInvalidTOTPExpiration
	}
	return time.Duration(*v) * time.Minute, nil
}

// totpAAD binds a sealed TOTP secret to its row.
func totpAAD(totpID string) []byte { return []byte("totp:" + totpID) }

// recoveryAAD binds a sealed recovery code to its row.
func recoveryAAD(codeID string) []byte { return []byte("totp-recovery-code:" + codeID) }

// CreateTOTP makes a new, unverified TOTP for the user, usable until its
// expiration unless a code verifies it first. It replaces an unverified
// TOTP the user has; a verified one must be deleted first
// (active_totp_exists).
func (s *Service) CreateTOTP(ctx context.Context, p store.Project, r CreateTOTPRequest) (TOTPCreated, error) {
	ttl, err := totpTTL(r.ExpirationMinutes)
	if err != nil {
		return TOTPCreated{}, err
	}
	u, err := s.GetUser(ctx, p, r.UserID)
	if err != nil {
		return TOTPCreated{}, err
	}
	now := s.Now()
	expires := now.Add(ttl)
	key := secret.NewTOTPSecret()
	t := store.TOTP{ID: secret.ID("totp", p.Live), ProjectID: p.ID, UserID: u.ID, Verified: false,
		CreatedAt: now, ExpiresAt: &expires, LastStep: -1}
	t.SecretSealed = s.ring.Seal(key, totpAAD(t.ID))
	plain := make([]string, recoveryCodeCount)
	codes := make([]store.RecoveryCode, recoveryCodeCount)
	for i := range codes {
		plain[i] = secret.RecoveryCode()
		id := secret.ID("totp-recovery-code", p.Live)
		codes[i] = store.RecoveryCode{ID: id, ProjectID: p.ID, TOTPID: t.ID, UserID: u.ID,
			CodeHash: s.ring.RecoveryCodeHash(t.ID, plain[i]), CodeSealed: s.ring.Seal([]byte(plain[i]), recoveryAAD(id))}
	}
	b32 := secret.TOTPEncoding.EncodeToString(key)
	png, err := qrcode.Encode(otpauthURI(p, u, b32), qrcode.Medium, 256)
	if err != nil {
		return TOTPCreated{}, err
	}
	switch err := s.store.CreateTOTP(ctx, t, codes); {
	case errors.Is(err, store.ErrAlreadyExists):
		return TOTPCreated{}, ErrActiveTOTPExists
	case errors.Is(err, store.ErrNotFound):
		return TOTPCreated{}, userNotFound(r.UserID)
	case err != nil:
		return TOTPCreated{}, storeErr(err, "create totp")
	}
	u, err = s.GetUser(ctx, p, u.ID)
	if err != nil {
		return TOTPCreated{}, err
	}
	return TOTPCreated{TOTPID: t.ID, Secret: b32, QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png),
		RecoveryCodes: plain, User: u}, nil
}

// otpauthURI is the key URI authenticator apps read from the QR code
// (Google Authenticator's "Key Uri Format"): issuer the project's name,
// account the user's first email, else phone number, else user id.
func otpauthURI(p store.Project, u store.User, b32 string) string {
	issuer := p.Name
	if issuer == "" {
		issuer = "Latch"
	}
	account := u.ID
	if len(u.Emails) > 0 {
		account = u.Emails[0].Address
	} else if len(u.Phones) > 0 {
		account = u.Phones[0].Number
	}
	q := url.Values{}
	q.Set("secret", b32)
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + q.Encode()
}

// AuthenticateTOTPRequest is POST /v1/totps/authenticate.
type AuthenticateTOTPRequest struct {
	UserID   string `json:"user_id"`
	TOTPCode string `json:"totp_code"`
	SessionOptions
}

// TOTPResult answers totps/authenticate and totps/recover.
type TOTPResult struct {
	SessionResult
	TOTPID string
}

// AuthenticateTOTP checks a code of the user's TOTP: RFC 6238 SHA-1, 6
// digits, 30-second steps, the steps either side of now accepted too. A
// code is accepted once: the step it belongs to must be later than the
// last accepted step of the TOTP, moved forward by one conditional write
// in the login's transaction (so two requests with the same code, on any
// nodes, cannot both pass). A wrong code counts toward the user's lock, as
// a wrong passcode does; a replayed one does not (it was right once). The
// first accepted code verifies the TOTP.
func (s *Service) AuthenticateTOTP(ctx context.Context, p store.Project, r AuthenticateTOTPRequest) (TOTPResult, error) {
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return TOTPResult{}, err
	}
	if !sixDigits.MatchString(r.TOTPCode) {
		return TOTPResult{}, errInvalidTOTPCode
	}
	u, t, err := s.userTOTP(ctx, p, r.UserID)
	if err != nil {
		return TOTPResult{}, err
	}
	now := s.Now()
	if !t.Verified && (t.ExpiresAt == nil || !t.ExpiresAt.After(now)) {
		return TOTPResult{}, ErrUnableToAuthTOTP.With("The TOTP was not verified before it expired: create a new one.")
	}
	// Count the attempt before the code is compared (reserveAttempt): at
	// most the lock threshold of guesses sent at once are compared.
	admitted, err := s.reserveAttempt(ctx, p, u.ID)
	if err != nil {
		return TOTPResult{}, err
	}
	key, err := s.ring.Open(t.SecretSealed, totpAAD(t.ID))
	if err != nil {
		return TOTPResult{}, storeErr(err, "open totp secret")
	}
	// Compare with every step of the window (no early exit) and take the
	// latest that matches.
	now0 := secret.TOTPStep(now)
	matched := int64(-1)
	for step := now0 - totpSkew; step <= now0+totpSkew; step++ {
		if subtle.ConstantTimeCompare([]byte(secret.TOTPCode(key, step)), []byte(r.TOTPCode)) == 1 {
			matched = step
		}
	}
	if matched < 0 {
		return TOTPResult{}, ErrUnableToAuthTOTP // counted by the reservation
	}
	if matched <= t.LastStep {
		return TOTPResult{}, ErrTOTPCodeAlreadyAuthenticated
	}
	factor := store.Factor{Type: "totp", DeliveryMethod: "authenticator_app", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now,
		AuthenticatorAppFactor: &store.AuthenticatorAppFactor{TOTPID: t.ID}}
	var sess *store.Session
	var token string
	err = s.store.InTx(ctx, func(tx store.Store) error {
		if err := tx.AcceptTOTPStep(ctx, p.ID, t.ID, matched, now); err != nil {
			if errors.Is(err, store.ErrConsumed) {
				return ErrTOTPCodeAlreadyAuthenticated
			}
			return err
		}
		sess, token, err = s.loginInTx(ctx, tx, p, u.ID, factor, r.SessionOptions, admitted)
		return err
	})
	if err != nil {
		return TOTPResult{}, storeErr(err, "authenticate totp")
	}
	sr, err := s.result(ctx, p, u.ID, sess, token)
	if err != nil {
		return TOTPResult{}, err
	}
	return TOTPResult{SessionResult: sr, TOTPID: t.ID}, nil
}

// userTOTP reads the user (who must not be locked) and their TOTP.
func (s *Service) userTOTP(ctx context.Context, p store.Project, userID string) (store.User, store.TOTP, error) {
	u, err := s.GetUser(ctx, p, userID)
	if err != nil {
		return store.User{}, store.TOTP{}, err
	}
	if err := s.checkLock(u); err != nil {
		return store.User{}, store.TOTP{}, err
	}
	t, err := s.store.GetUserTOTP(ctx, p.ID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.TOTP{}, ErrTOTPsNotFoundForUser
	}
	if err != nil {
		return store.User{}, store.TOTP{}, storeErr(err, "get totp")
	}
	return u, t, nil
}

// loginInTx is the end of a TOTP or recovery-code login inside its
// transaction: the user re-read (a lock set since counts), made active,
// its failures reset, and the factor joined to a session.
func (s *Service) loginInTx(ctx context.Context, tx store.Store, p store.Project, userID string, f store.Factor, opts SessionOptions, admitted time.Time) (*store.Session, string, error) {
	// The lock is not checked again: the attempt was admitted when it was
	// reserved, and succeed clears the count (and a lock that reservation
	// set).
	u, err := tx.GetUser(ctx, p.ID, userID)
	if err != nil {
		return nil, "", notFoundAs(err, ErrUserNotFound)
	}
	if err := s.succeed(ctx, tx, u, admitted); err != nil {
		return nil, "", err
	}
	return s.finishLogin(ctx, tx, loginInput{project: p, userID: u.ID, roles: u.Roles, factor: f, opts: opts})
}

// RecoverTOTPRequest is POST /v1/totps/recover.
type RecoverTOTPRequest struct {
	UserID       string `json:"user_id"`
	RecoveryCode string `json:"recovery_code"`
	SessionOptions
}

// RecoverTOTP logs in with one of the recovery codes of the user's verified
// TOTP: each works once (one conditional write, in the login's
// transaction). A wrong or used code counts toward the user's lock.
func (s *Service) RecoverTOTP(ctx context.Context, p store.Project, r RecoverTOTPRequest) (TOTPResult, error) {
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return TOTPResult{}, err
	}
	code := secret.CanonicalRecoveryCode(r.RecoveryCode)
	if code == "" {
		return TOTPResult{}, ErrBadRequest.With("recovery_code is required.")
	}
	if sixDigits.MatchString(code) {
		return TOTPResult{}, ErrTOTPCodeUsedAsRecoveryCode
	}
	u, t, err := s.userTOTP(ctx, p, r.UserID)
	if err != nil {
		return TOTPResult{}, err
	}
	if !t.Verified {
		return TOTPResult{}, ErrUnableToAuthRecoveryCode.With("The user's TOTP is not verified yet: its recovery codes work once a TOTP code has been authenticated.")
	}
	admitted, err := s.reserveAttempt(ctx, p, u.ID)
	if err != nil {
		return TOTPResult{}, err
	}
	now := s.Now()
	var sess *store.Session
	var token string
	if len(code) > maxRecoveryCodeLen {
		return TOTPResult{}, ErrUnableToAuthRecoveryCode // counted by the reservation
	}
	err = s.store.InTx(ctx, func(tx store.Store) error {
		id, err := tx.RedeemRecoveryCode(ctx, p.ID, t.ID, s.ring.RecoveryCodeHash(t.ID, code), now)
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnableToAuthRecoveryCode // counted by the reservation
		}
		if err != nil {
			return err
		}
		f := store.Factor{Type: "recovery_codes", DeliveryMethod: "recovery_code", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now,
			RecoveryCodeFactor: &store.RecoveryCodeFactor{TOTPRecoveryCodeID: id}}
		sess, token, err = s.loginInTx(ctx, tx, p, u.ID, f, r.SessionOptions, admitted)
		return err
	})
	if err != nil {
		return TOTPResult{}, storeErr(err, "recover totp")
	}
	sr, err := s.result(ctx, p, u.ID, sess, token)
	if err != nil {
		return TOTPResult{}, err
	}
	return TOTPResult{SessionResult: sr, TOTPID: t.ID}, nil
}

// TOTPRecoveryCodes is one TOTP with its unused recovery codes.
type TOTPRecoveryCodes struct {
	TOTPID        string
	Verified      bool
	RecoveryCodes []string
}

// RecoveryCodes returns the user's TOTP (none or one) with the recovery
// codes not used yet.
func (s *Service) RecoveryCodes(ctx context.Context, p store.Project, userID string) (store.User, []TOTPRecoveryCodes, error) {
	u, err := s.GetUser(ctx, p, userID)
	if err != nil {
		return store.User{}, nil, err
	}
	t, err := s.store.GetUserTOTP(ctx, p.ID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return u, []TOTPRecoveryCodes{}, nil
	}
	if err != nil {
		return store.User{}, nil, storeErr(err, "get totp")
	}
	codes, err := s.store.ListRecoveryCodes(ctx, p.ID, t.ID)
	if err != nil {
		return store.User{}, nil, storeErr(err, "list recovery codes")
	}
	out := TOTPRecoveryCodes{TOTPID: t.ID, Verified: t.Verified, RecoveryCodes: make([]string, 0, len(codes))}
	for _, c := range codes {
		plain, err := s.ring.Open(c.CodeSealed, recoveryAAD(c.ID))
		if err != nil {
			return store.User{}, nil, storeErr(err, "open recovery code")
		}
		out.RecoveryCodes = append(out.RecoveryCodes, string(plain))
	}
	return u, []TOTPRecoveryCodes{out}, nil
}

// DeleteTOTP removes a TOTP (and its recovery codes) from its user and
// returns the user.
func (s *Service) DeleteTOTP(ctx context.Context, p store.Project, totpID string) (store.User, error) {
	t, err := s.store.GetTOTP(ctx, p.ID, totpID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrTOTPNotFound
	}
	if err != nil {
		return store.User{}, storeErr(err, "get totp")
	}
	if err := s.store.DeleteTOTP(ctx, p.ID, totpID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, storeErr(err, "delete totp")
	}
	return s.GetUser(ctx, p, t.UserID)
}
