package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// sessionJWT mints the session JWT of an answer whose session is sess, as
// the answer has it: issued at the session's last_accessed_at (the answer's
// time, which every path that returns a JWT has just set), its session
// claim made from sess field for field. Every JWT Latch returns comes from
// here; none is kept to be served for a later answer. (keys.SignPayload may hand
// back a token it signed a moment ago, but only for a byte-identical
// payload: the same token signing would produce.)
func (s *Service) sessionJWT(ctx context.Context, p store.Project, sess store.Session) (string, error) {
	payload, err := jwtPayload(p, sess, sess.LastAccessedAt)
	if err != nil {
		return "", err
	}
	jwt, _, err := s.keys.SignPayload(ctx, p.ID, payload)
	return jwt, err
}

// jwtClaims are a session JWT's registered claims and Stytch's session
// claim (https://stytch.com/docs/api/session-object); the session's custom
// claims sit beside them at the top level (jwtPayload).
type jwtClaims struct {
	Aud     []string     `json:"aud"`
	Iss     string       `json:"iss"`
	Sub     string       `json:"sub"`
	Iat     int64        `json:"iat"`
	Nbf     int64        `json:"nbf"`
	Exp     int64        `json:"exp"`
	Session sessionClaim `json:"https://stytch.com/session"` // keys.SessionClaim
}

// sessionClaim is the session as the answer's session object has it, with
// "id" for "session_id" and without user_id (the JWT's sub) and
// custom_claims (top level).
type sessionClaim struct {
	ID             string       `json:"id"`
	StartedAt      string       `json:"started_at"`
	LastAccessedAt string       `json:"last_accessed_at"`
	ExpiresAt      string       `json:"expires_at"`
	Attributes     Attributes   `json:"attributes"`
	Factors        []FactorJSON `json:"authentication_factors"`
	Roles          []string     `json:"roles"`
}

// FactorJSON is an authentication factor as Stytch writes it, in a
// session object and in the JWT's session claim alike (the API's replies
// use it too, so that the two cannot drift apart).
type FactorJSON struct {
	Type                      string                           `json:"type"`
	DeliveryMethod            string                           `json:"delivery_method"`
	LastAuthenticatedAt       string                           `json:"last_authenticated_at"`
	CreatedAt                 string                           `json:"created_at"`
	UpdatedAt                 string                           `json:"updated_at"`
	EmailFactor               *store.EmailFactor               `json:"email_factor,omitempty"`
	PhoneNumberFactor         *store.PhoneNumberFactor         `json:"phone_number_factor,omitempty"`
	EmbeddableMagicLinkFactor *store.EmbeddableMagicLinkFactor `json:"embeddable_magic_link_factor,omitempty"`
	AuthenticatorAppFactor    *store.AuthenticatorAppFactor    `json:"authenticator_app_factor,omitempty"`
	RecoveryCodeFactor        *store.RecoveryCodeFactor        `json:"recovery_code_factor,omitempty"`
}

// Factor writes f as Stytch does.
func Factor(f store.Factor) FactorJSON {
	return FactorJSON{
		Type: f.Type, DeliveryMethod: f.DeliveryMethod, LastAuthenticatedAt: Timestamp(f.LastAuthenticatedAt),
		CreatedAt: Timestamp(f.CreatedAt), UpdatedAt: Timestamp(f.UpdatedAt),
		EmailFactor: f.EmailFactor, PhoneNumberFactor: f.PhoneNumberFactor, EmbeddableMagicLinkFactor: f.EmbeddableMagicLinkFactor,
		AuthenticatorAppFactor: f.AuthenticatorAppFactor, RecoveryCodeFactor: f.RecoveryCodeFactor,
	}
}

// jwtPayload is the payload of a session JWT issued at iat: exp is
// min(iat + 5 minutes, the session's expiry) (open question 4: the JWT
// never outlives its session), and the session's custom claims, a JSON
// object whose names mergeClaims has kept clear of the registered and
// Stytch claims, are spliced in as they are stored, so their values come
// out exactly as the answer's custom_claims.
func jwtPayload(p store.Project, sess store.Session, iat time.Time) ([]byte, error) {
	exp := iat.Add(JWTLifetime)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt
	}
	c := jwtClaims{
		Aud: []string{p.ID}, Iss: "stytch.com/" + p.ID, Sub: sess.UserID,
		Iat: iat.Unix(), Nbf: iat.Unix(), Exp: exp.Unix(),
		Session: sessionClaim{
			ID: sess.ID, StartedAt: Timestamp(sess.StartedAt), LastAccessedAt: Timestamp(sess.LastAccessedAt),
			ExpiresAt:  Timestamp(sess.ExpiresAt),
			Attributes: Attributes{IPAddress: sess.IPAddress, UserAgent: sess.UserAgent},
			Factors:    make([]FactorJSON, 0, len(sess.Factors)),
			Roles:      sess.Roles,
		},
	}
	if c.Session.Roles == nil {
		c.Session.Roles = []string{}
	}
	for _, f := range sess.Factors {
		c.Session.Factors = append(c.Session.Factors, Factor(f))
	}
	out, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	custom := bytes.TrimSpace(VisibleClaims(sess.CustomClaims))
	if len(custom) < 2 || custom[0] != '{' || custom[len(custom)-1] != '}' {
		return out, nil
	}
	inner := bytes.TrimSpace(custom[1 : len(custom)-1])
	if len(inner) == 0 {
		return out, nil
	}
	// {"aud":…,"https://stytch.com/session":{…}} + {"plan":"gold"} →
	// {"aud":…,"https://stytch.com/session":{…},"plan":"gold"}
	out = append(out[:len(out)-1], ',')
	out = append(out, inner...)
	return append(out, '}'), nil
}

// Timestamp is how every time Latch answers with is written: RFC 3339 in
// UTC, whole seconds, as Stytch's timestamps are ("2026-11-29T15:04:05Z").
// The API's replies and the JWT's session claim use it alike, so that they
// compare equal.
func Timestamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
