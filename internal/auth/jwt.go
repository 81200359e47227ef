package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// jwtReuseWindow is how long a minted JWT may be served again for the same,
// unchanged session. Signing costs about 1 ms of CPU; sessions/authenticate
// runs on every request of every app. A reused JWT carries a
// last_accessed_at up to this old, and never a later expiry than the
// session has: a session extended since may be served the older JWT (whose
// expiry is earlier), a session shortened since gets a new one, and any
// change to its factors, claims, roles or attributes changes its
// fingerprint and mints anew.
const jwtReuseWindow = 30 * time.Second

type cachedJWT struct {
	jwt         string
	kid         string // the key that signed it
	fingerprint [32]byte
	iat         time.Time
	expiresAt   time.Time // the session expiry the JWT claims
}

type jwtCache struct {
	mu sync.Mutex
	m  map[string]cachedJWT
}

func newJWTCache() *jwtCache { return &jwtCache{m: map[string]cachedJWT{}} }

func fingerprint(p store.Project, sess store.Session) [32]byte {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		P, U   string
		S      int64
		F      []store.Factor
		C      json.RawMessage
		R      []string
		IP, UA string
	}{p.ID, sess.UserID, sess.StartedAt.Unix(), sess.Factors, sess.CustomClaims, sess.Roles, sess.IPAddress, sess.UserAgent})
	h.Write([]byte(sess.ID))
	h.Write(b)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// sessionJWT returns a JWT for sess: a recent one for the same unchanged
// session when there is one and fresh is false, else a newly signed one.
func (s *Service) sessionJWT(ctx context.Context, p store.Project, sess store.Session, fresh bool) (string, error) {
	now := s.Now()
	fp := fingerprint(p, sess)
	if !fresh {
		s.jwts.mu.Lock()
		c, ok := s.jwts.m[sess.ID]
		s.jwts.mu.Unlock()
		if ok && c.fingerprint == fp && !now.Before(c.iat) && now.Sub(c.iat) < jwtReuseWindow && !c.expiresAt.After(sess.ExpiresAt) {
			// Only while its key still signs: after a rotation (which may
			// also drop the old key from the JWKS soon) every node hands
			// out JWTs of the new key as soon as it sees the rotation.
			if kid, err := s.keys.SigningKID(ctx, p.ID); err == nil && kid == c.kid {
				return c.jwt, nil
			}
		}
	}
	jwt, err := s.keys.Sign(ctx, p.ID, jwtClaims(p, sess, now))
	if err != nil {
		return "", err
	}
	s.jwts.mu.Lock()
	if len(s.jwts.m) > 100000 {
		for k, v := range s.jwts.m {
			if now.Sub(v.iat) >= jwtReuseWindow {
				delete(s.jwts.m, k)
			}
		}
	}
	s.jwts.m[sess.ID] = cachedJWT{jwt: jwt, kid: headerKID(jwt), fingerprint: fp, iat: now, expiresAt: sess.ExpiresAt}
	s.jwts.mu.Unlock()
	return jwt, nil
}

// headerKID reads the kid of a JWT this node just signed; "" if unreadable
// (the JWT is then never reused).
func headerKID(jwt string) string {
	head, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Kid
}
