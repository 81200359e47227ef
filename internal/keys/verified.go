package keys

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/latch-auth/latch/internal/bounded"
)

// verifiedMax bounds the cache of verified JWTs (a few KB each with their
// decoded claims). Tokens beyond it are simply verified again.
const verifiedMax = 20_000

// newVerifiedCache remembers the JWTs whose signature and claims Verify has
// checked, by verifiedKey, so that an app sending the same session JWT on
// every request (for up to its five minutes) pays for the RSA verification
// and the parsing once. What a signature proves does not change; what can
// is whether its key is still one of the project's, so every hit checks the
// kid against the project's current keys, and the checks that depend on the
// time (iat, nbf, exp) are made again. Expired entries are the stale ones.
func newVerifiedCache() *bounded.Map[[32]byte, verifiedJWT] {
	return bounded.New[[32]byte](verifiedMax, func(v verifiedJWT, now time.Time) bool {
		return !now.Before(v.claims.Expiry)
	})
}

type verifiedJWT struct {
	kid    string
	claims Claims
}

func verifiedKey(projectID, token string) [32]byte { return hashKey(projectID, token) }

// hashKey is the SHA-256 of parts, each followed by a NUL: a cache key that
// no two different lists of parts share.
func hashKey(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
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

// mintedMax bounds the exact memo of Sign: about 1.3 KB a token. A payload
// carries its iat in whole seconds, so an entry can only match within the
// second it was minted in (or a caller minting for an earlier instant):
// entries older than mintedAge are the stale ones.
const (
	mintedMax = 20_000
	mintedAge = 2 * time.Second
)

type mintedJWT struct {
	token string
	at    time.Time
}

func newMintedCache() *bounded.Map[[32]byte, mintedJWT] {
	return bounded.New[[32]byte](mintedMax, func(m mintedJWT, now time.Time) bool {
		return now.Sub(m.at) >= mintedAge || now.Before(m.at)
	})
}

// memoKey names what fixes a token's bytes: the project, the kid (which
// fixes the header and the private key) and the exact payload.
func memoKey(projectID, kid string, payload []byte) [32]byte {
	return hashKey(projectID, kid, string(payload))
}
