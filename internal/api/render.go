package api

import (
	"encoding/json"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store"
)

// The wire shapes of Stytch's user and session objects (https://stytch.com/docs/api/user-object, https://stytch.com/docs/api/session-object). Every field the SDK types
// mark required is always present, with "", [], {} or null for no value.

type emailJSON struct {
	EmailID  string `json:"email_id"`
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
}

type phoneJSON struct {
	PhoneID     string `json:"phone_id"`
	PhoneNumber string `json:"phone_number"`
	Verified    bool   `json:"verified"`
}

type nameJSON struct {
	FirstName  string `json:"first_name"`
	MiddleName string `json:"middle_name"`
	LastName   string `json:"last_name"`
}

type userJSON struct {
	UserID                 string          `json:"user_id"`
	Emails                 []emailJSON     `json:"emails"`
	Status                 string          `json:"status"`
	PhoneNumbers           []phoneJSON     `json:"phone_numbers"`
	WebAuthnRegistrations  []struct{}      `json:"webauthn_registrations"`
	Providers              []struct{}      `json:"providers"`
	TOTPs                  []totpJSON      `json:"totps"`
	CryptoWallets          []struct{}      `json:"crypto_wallets"`
	BiometricRegistrations []struct{}      `json:"biometric_registrations"`
	IsLocked               bool            `json:"is_locked"`
	Roles                  []string        `json:"roles"`
	Name                   nameJSON        `json:"name"`
	CreatedAt              string          `json:"created_at"`
	Password               *passwordJSON   `json:"password"`
	TrustedMetadata        json.RawMessage `json:"trusted_metadata"`
	UntrustedMetadata      json.RawMessage `json:"untrusted_metadata"`
	ExternalID             *string         `json:"external_id"`
	LockCreatedAt          *string         `json:"lock_created_at"`
	LockExpiresAt          *string         `json:"lock_expires_at"`
}

func ts(t time.Time) string { return auth.Timestamp(t) }

func tsPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := ts(*t)
	return &s
}

func rawOr(m json.RawMessage, def string) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage(def)
	}
	return m
}

func renderUser(u store.User) userJSON {
	out := userJSON{
		UserID: u.ID, Status: u.Status,
		Emails: make([]emailJSON, 0, len(u.Emails)), PhoneNumbers: make([]phoneJSON, 0, len(u.Phones)),
		WebAuthnRegistrations: []struct{}{}, Providers: []struct{}{}, TOTPs: renderTOTPs(u.TOTPs),
		CryptoWallets: []struct{}{}, BiometricRegistrations: []struct{}{},
		IsLocked: u.LockExpiresAt != nil, Roles: u.Roles,
		Name:            nameJSON{FirstName: u.FirstName, MiddleName: u.MiddleName, LastName: u.LastName},
		CreatedAt:       ts(u.CreatedAt),
		TrustedMetadata: rawOr(u.TrustedMetadata, "{}"), UntrustedMetadata: rawOr(u.UntrustedMetadata, "{}"),
		LockCreatedAt: tsPtr(u.LockCreatedAt), LockExpiresAt: tsPtr(u.LockExpiresAt),
		Password: renderPassword(u),
	}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	if u.ExternalID != "" {
		out.ExternalID = &u.ExternalID
	}
	for _, e := range u.Emails {
		out.Emails = append(out.Emails, emailJSON{EmailID: e.ID, Email: e.Address, Verified: e.Verified})
	}
	for _, p := range u.Phones {
		out.PhoneNumbers = append(out.PhoneNumbers, phoneJSON{PhoneID: p.ID, PhoneNumber: p.Number, Verified: p.Verified})
	}
	return out
}

type sessionJSON struct {
	SessionID             string            `json:"session_id"`
	UserID                string            `json:"user_id"`
	AuthenticationFactors []auth.FactorJSON `json:"authentication_factors"`
	Roles                 []string          `json:"roles"`
	StartedAt             string            `json:"started_at"`
	LastAccessedAt        string            `json:"last_accessed_at"`
	ExpiresAt             string            `json:"expires_at"`
	Attributes            auth.Attributes   `json:"attributes"`
	CustomClaims          json.RawMessage   `json:"custom_claims"`
}

func renderSession(s *store.Session) *sessionJSON {
	if s == nil {
		return nil
	}
	out := &sessionJSON{
		SessionID: s.ID, UserID: s.UserID, Roles: s.Roles,
		AuthenticationFactors: make([]auth.FactorJSON, 0, len(s.Factors)),
		StartedAt:             ts(s.StartedAt), LastAccessedAt: ts(s.LastAccessedAt), ExpiresAt: ts(s.ExpiresAt),
		Attributes:   auth.Attributes{IPAddress: s.IPAddress, UserAgent: s.UserAgent},
		CustomClaims: rawOr(auth.VisibleClaims(s.CustomClaims), "{}"),
	}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	for _, f := range s.Factors {
		out.AuthenticationFactors = append(out.AuthenticationFactors, auth.Factor(f))
	}
	return out
}
