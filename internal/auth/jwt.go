package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/latch-auth/latch/internal/bounded"
	"github.com/latch-auth/latch/internal/store"
)

// jwtReuseWindow is how long a minted JWT may be served again for the same,
// unchanged session. Signing costs about 1 ms of CPU and sessions/authenticate
// runs on every request of every app, so an active session is signed for at
// most once per window instead of on every call.
//
// Two minutes because a session JWT lives five (exp = iat + 300): a JWT
// served again still has at least three minutes left, so a client that
// refreshes its session every three minutes, as Stytch's frontend SDKs do,
// always holds one that verifies locally. A reused JWT carries a
// last_accessed_at up to this old, and never a later expiry than the
// session has: a session extended since may be served the older JWT (whose
// expiry is earlier), a session shortened since gets a new one, and any
// change to its factors, claims, roles or attributes changes its
// fingerprint and mints anew. Revocation is unaffected: a revoked session
// is refused before any JWT is looked up.
const jwtReuseWindow = 2 * time.Minute

type cachedJWT struct {
	jwt         string
	kid         string // the key that signed it
	fingerprint [32]byte
	iat         time.Time
	expiresAt   time.Time // the session expiry the JWT claims
}

// jwtCacheMax bounds the cache: about 1.2 KB a JWT, so some 120 MB at most.
// Sessions beyond it are simply signed for again.
const jwtCacheMax = 100_000

// newJWTCache holds the JWT last minted for each session, by session id,
// while it may be served again.
func newJWTCache() *bounded.Map[string, cachedJWT] {
	return bounded.New[string](jwtCacheMax, func(c cachedJWT, now time.Time) bool {
		return now.Sub(c.iat) >= jwtReuseWindow || now.Before(c.iat)
	})
}

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
		c, ok := s.jwts.Get(sess.ID)
		if ok && c.fingerprint == fp && !now.Before(c.iat) && now.Sub(c.iat) < jwtReuseWindow && !c.expiresAt.After(sess.ExpiresAt) {
			// Only while its key still signs: after a rotation (which may
			// also drop the old key from the JWKS soon) every node hands
			// out JWTs of the new key as soon as it sees the rotation.
			if kid, err := s.keys.SigningKID(ctx, p.ID); err == nil && kid == c.kid {
				return c.jwt, nil
			}
		}
	}
	jwt, kid, err := s.keys.Sign(ctx, p.ID, jwtClaims(p, sess, now))
	if err != nil {
		return "", err
	}
	s.jwts.Put(sess.ID, cachedJWT{jwt: jwt, kid: kid, fingerprint: fp, iat: now, expiresAt: sess.ExpiresAt}, now)
	return jwt, nil
}
