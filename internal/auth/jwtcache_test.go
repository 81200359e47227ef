package auth

import (
	"strconv"
	"testing"
	"time"
)

// TestJWTCacheStaysBoundedWhenEverySessionIsActive: more fresh JWTs than
// the bound (a burst of logins) never grow the cache past it, and the JWT
// just stored is always kept.
func TestJWTCacheStaysBoundedWhenEverySessionIsActive(t *testing.T) {
	c := newJWTCache()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range jwtCacheMax + jwtCacheMax/2 {
		id := "session-" + strconv.Itoa(i)
		c.put(id, cachedJWT{jwt: id, iat: now}, now)
		if len(c.m) > jwtCacheMax {
			t.Fatalf("after %d puts the cache holds %d JWTs, over the bound %d", i+1, len(c.m), jwtCacheMax)
		}
		if c.m[id].jwt != id {
			t.Fatalf("the JWT just stored for %s was dropped", id)
		}
	}
	// Once the window has passed, reaching the bound drops the stale ones
	// and keeps every fresh one.
	later := now.Add(jwtReuseWindow)
	fresh := 0
	for len(c.m) < jwtCacheMax {
		id := "later-" + strconv.Itoa(fresh)
		c.put(id, cachedJWT{jwt: id, iat: later}, later)
		fresh++
	}
	c.put("last", cachedJWT{jwt: "last", iat: later}, later)
	fresh++
	if len(c.m) != fresh {
		t.Fatalf("after the window the cache holds %d JWTs; want the %d fresh ones only", len(c.m), fresh)
	}
	for k, v := range c.m {
		if !v.iat.Equal(later) {
			t.Fatalf("stale JWT %s kept", k)
		}
	}
}
