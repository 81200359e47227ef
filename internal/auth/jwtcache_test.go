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
		c.Put(id, cachedJWT{jwt: id, iat: now}, now)
		if c.Len() > jwtCacheMax {
			t.Fatalf("after %d puts the cache holds %d JWTs, over the bound %d", i+1, c.Len(), jwtCacheMax)
		}
		if v, _ := c.Get(id); v.jwt != id {
			t.Fatalf("the JWT just stored for %s was dropped", id)
		}
	}
	// Once the window has passed, reaching the bound drops the stale ones
	// and keeps every fresh one.
	later := now.Add(jwtReuseWindow)
	fresh := 0
	for c.Len() < jwtCacheMax {
		id := "later-" + strconv.Itoa(fresh)
		c.Put(id, cachedJWT{jwt: id, iat: later}, later)
		fresh++
	}
	c.Put("later-"+strconv.Itoa(fresh), cachedJWT{iat: later}, later)
	fresh++
	if c.Len() != fresh {
		t.Fatalf("after the window the cache holds %d JWTs; want the %d fresh ones only", c.Len(), fresh)
	}
	for i := range fresh {
		if _, ok := c.Get("later-" + strconv.Itoa(i)); !ok {
			t.Fatalf("fresh JWT later-%d dropped", i)
		}
	}
}
