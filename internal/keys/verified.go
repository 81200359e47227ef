package keys

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// verifiedMax bounds the cache of verified JWTs (a few KB each with their
// decoded claims). Tokens beyond it are simply verified again.
const verifiedMax = 20_000

// verifiedCache remembers the JWTs whose signature and claims Verify has
// checked, so that an app sending the same session JWT on every request
// (for up to its five minutes) pays for the RSA verification and the
// parsing once. What a signature proves does not change; what can is
// whether its key is still one of the project's, so every hit checks the
// kid against the project's current keys, and the checks that depend on the
// time (iat, nbf, exp) are made again.
type verifiedCache struct {
	mu    sync.Mutex
	m     map[[32]byte]verifiedJWT
	swept time.Time
}

type verifiedJWT struct {
	kid    string
	claims Claims
}

func verifiedKey(projectID, token string) [32]byte {
	h := sha256.New()
	h.Write([]byte(projectID))
	h.Write([]byte{0})
	h.Write([]byte(token))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func (c *verifiedCache) get(key [32]byte) (verifiedJWT, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

// put stores a verified JWT. Past verifiedMax it drops the expired entries
// (at most once a second, as that walks the map), then arbitrary ones down
// to nine tenths of the bound.
func (c *verifiedCache) put(key [32]byte, v verifiedJWT, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]verifiedJWT{}
	}
	if len(c.m) >= verifiedMax {
		if now.Sub(c.swept) >= time.Second || now.Before(c.swept) {
			c.swept = now
			for k, e := range c.m {
				if !now.Before(e.claims.Expiry) {
					delete(c.m, k)
				}
			}
		}
		for k := range c.m {
			if len(c.m) < verifiedMax*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = v
}

// timeChecks makes again, at now, the checks of checkClaims that depend on
// the time.
func timeChecks(c Claims, now time.Time) (Claims, error) {
	if c.IssuedAt.After(now.Add(leeway)) {
		return Claims{}, fmt.Errorf("%w: iat %v is in the future", ErrInvalid, c.IssuedAt)
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(leeway)) {
		return Claims{}, fmt.Errorf("%w: nbf %v is in the future", ErrInvalid, c.NotBefore)
	}
	c.Expired = !now.Before(c.Expiry)
	return c, nil
}
