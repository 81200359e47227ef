package auth

import (
	"context"
	"encoding/json"
	"time"

	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/store"
)

// sessionJWT mints the session JWT of an answer whose session is sess, as
// the answer has it: issued at the session's last_accessed_at (the answer's
// time, which every path that returns a JWT has just set), its session
// claim made from sess field for field. Every JWT Latch returns comes from
// here; none is kept to be served for a later answer. (keys.Sign may hand
// back a token it signed a moment ago, but only for a byte-identical
// payload: the same token signing would produce.)
func (s *Service) sessionJWT(ctx context.Context, p store.Project, sess store.Session) (string, error) {
	jwt, _, err := s.keys.Sign(ctx, p.ID, jwtClaims(p, sess, sess.LastAccessedAt))
	return jwt, err
}

// jwtClaims is the payload of a session JWT (Stytch: https://stytch.com/docs/api/session-object; CONTRACT-NOTES.md).
func jwtClaims(p store.Project, sess store.Session, iat time.Time) map[string]any {
	exp := iat.Add(JWTLifetime)
	if sess.ExpiresAt.Before(exp) {
		// Open question 4: the JWT never outlives its session.
		exp = sess.ExpiresAt
	}
	factors := make([]map[string]any, 0, len(sess.Factors))
	for _, f := range sess.Factors {
		m := map[string]any{
			"type":                  f.Type,
			"delivery_method":       f.DeliveryMethod,
			"last_authenticated_at": Timestamp(f.LastAuthenticatedAt),
			"created_at":            Timestamp(f.CreatedAt),
			"updated_at":            Timestamp(f.UpdatedAt),
		}
		if f.EmailFactor != nil {
			m["email_factor"] = f.EmailFactor
		}
		if f.PhoneNumberFactor != nil {
			m["phone_number_factor"] = f.PhoneNumberFactor
		}
		if f.EmbeddableMagicLinkFactor != nil {
			m["embeddable_magic_link_factor"] = f.EmbeddableMagicLinkFactor
		}
		factors = append(factors, m)
	}
	claims := map[string]any{}
	var custom map[string]any
	if len(sess.CustomClaims) > 0 && json.Unmarshal(sess.CustomClaims, &custom) == nil {
		for k, v := range custom {
			claims[k] = v
		}
	}
	roles := sess.Roles
	if roles == nil {
		roles = []string{}
	}
	claims["aud"] = []string{p.ID}
	claims["iss"] = "stytch.com/" + p.ID
	claims["sub"] = sess.UserID
	claims["iat"] = iat.Unix()
	claims["nbf"] = iat.Unix()
	claims["exp"] = exp.Unix()
	claims[keys.SessionClaim] = map[string]any{
		"id":                     sess.ID,
		"started_at":             Timestamp(sess.StartedAt),
		"last_accessed_at":       Timestamp(sess.LastAccessedAt),
		"expires_at":             Timestamp(sess.ExpiresAt),
		"attributes":             map[string]string{"ip_address": sess.IPAddress, "user_agent": sess.UserAgent},
		"authentication_factors": factors,
		"roles":                  roles,
	}
	return claims
}

// Timestamp is how every time Latch answers with is written: RFC 3339 in
// UTC, whole seconds, as Stytch's timestamps are ("2026-11-29T15:04:05Z").
// The API's replies and the JWT's session claim use it alike, so that they
// compare equal.
func Timestamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
