package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// jwtReuseWindow is how long a minted JWT may be served again for the same,
// unchanged session. Signing costs about 1 ms of CPU; sessions/authenticate
// runs on every request of every app. A reused JWT carries a
// last_accessed_at up to this old, and never a later expiry than the
// session has: any change to the session's expiry, factors, claims or
// roles changes its fingerprint and mints anew.
const jwtReuseWindow = 30 * time.Second

type cachedJWT struct {
	jwt         string
	fingerprint [32]byte
	iat         time.Time
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
		E, S   int64
		F      []store.Factor
		C      json.RawMessage
		R      []string
		IP, UA string
	}{p.ID, sess.UserID, sess.ExpiresAt.Unix(), sess.StartedAt.Unix(), sess.Factors, sess.CustomClaims, sess.Roles, sess.IPAddress, sess.UserAgent})
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
		if ok && c.fingerprint == fp && !now.Before(c.iat) && now.Sub(c.iat) < jwtReuseWindow {
			return c.jwt, nil
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
	s.jwts.m[sess.ID] = cachedJWT{jwt: jwt, fingerprint: fp, iat: now}
	s.jwts.mu.Unlock()
	return jwt, nil
}
