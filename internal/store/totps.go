package store

import (
	"context"
	"time"
)

// TOTP is a user's authenticator app (RFC 6238). The shared secret is
// stored sealed under the master key. A TOTP is created unverified and
// usable until ExpiresAt; its first accepted code verifies it (and clears
// ExpiresAt). LastStep is the last time step whose code was accepted: a
// code is accepted only for a later step, so each is accepted once.
type TOTP struct {
	ID           string
	ProjectID    string
	UserID       string
	SecretSealed []byte
	Verified     bool
	CreatedAt    time.Time
	ExpiresAt    *time.Time // nil once verified
	LastStep     int64      // -1 before any code was accepted
}

// RecoveryCode is one single-use recovery code of a TOTP: HMAC-hashed for
// the lookup, and sealed under the master key so that
// totps/recovery_codes can show it again until it is used (the sealed copy
// is erased then).
type RecoveryCode struct {
	ID         string
	ProjectID  string
	TOTPID     string
	UserID     string
	CodeHash   []byte
	CodeSealed []byte // nil once used
	UsedAt     *time.Time
}

// AuthenticatorAppFactor is a session factor of type totp.
type AuthenticatorAppFactor struct {
	TOTPID string `json:"totp_id"`
}

// RecoveryCodeFactor is a session factor of type recovery_codes.
type RecoveryCodeFactor struct {
	TOTPRecoveryCodeID string `json:"totp_recovery_code_id"`
}

// TOTPStore holds the TOTPs and their recovery codes.
type TOTPStore interface {
	// CreateTOTP replaces the user's unverified TOTPs by t and its recovery
	// codes, in one transaction: ErrAlreadyExists if the user has a
	// verified TOTP (at most one TOTP per user), ErrNotFound if the user
	// is missing.
	CreateTOTP(ctx context.Context, t TOTP, codes []RecoveryCode) error
	// GetUserTOTP returns the user's TOTP (secret and step included).
	GetUserTOTP(ctx context.Context, projectID, userID string) (TOTP, error)
	GetTOTP(ctx context.Context, projectID, totpID string) (TOTP, error)
	// AcceptTOTPStep records step as accepted and marks the TOTP verified,
	// in one conditional write: only if step is later than its LastStep
	// and it is verified or unexpired at now. ErrConsumed otherwise.
	AcceptTOTPStep(ctx context.Context, projectID, totpID string, step int64, now time.Time) error
	// RedeemRecoveryCode marks the unused code of the TOTP with that hash
	// used (erasing its sealed copy) in one conditional write and returns
	// its id; ErrNotFound if there is no such unused code.
	RedeemRecoveryCode(ctx context.Context, projectID, totpID string, codeHash []byte, now time.Time) (string, error)
	// ListRecoveryCodes returns the TOTP's unused codes, oldest first.
	ListRecoveryCodes(ctx context.Context, projectID, totpID string) ([]RecoveryCode, error)
	DeleteTOTP(ctx context.Context, projectID, totpID string) error
}
