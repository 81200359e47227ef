package attack

import (
	"net/http"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// TestAWrongSecretTellsNothingOfASession (issue 13, point 4): with a wrong
// secret, sessions/authenticate answers a live session token and a bogus
// one with the same 401 in the same time: the secret is checked before the
// session is looked up, so the work up to the refusal does not depend on
// whether the session exists. 600 samples of each, interleaved; medians
// compared against the noise as in Test06Enumeration, and logged.
func TestAWrongSecretTellsNothingOfASession(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "timing")
		u := ok(t, p, http.MethodPost, "/v1/users", map[string]any{"email": email("timing")})
		link := ok(t, p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": u.Str("user_id")})
		login := ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link.Str("token"), "session_duration_minutes": 600})
		live := login.Str("session_token")
		bogus := "Bogus" + live[5:]
		wrong := p
		wrong.Secret = p.Secret[:len(p.Secret)-4] + "0000"

		const samples, warm = 600, 50
		var tl, tb []time.Duration
		for i := range samples + warm {
			order := []string{live, bogus}
			if i%2 == 1 {
				order = []string{bogus, live}
			}
			for _, tok := range order {
				r := do(t, wrong, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})
				attacksTried.Add(1)
				if r.Status != http.StatusUnauthorized || r.ErrorType() != "unauthorized_credentials" {
					t.Fatalf("wrong secret: want 401 unauthorized_credentials, got %d %s", r.Status, r.Raw)
				}
				if i < warm {
					continue
				}
				if tok == live {
					tl = append(tl, r.Latency)
				} else {
					tb = append(tb, r.Latency)
				}
			}
		}
		sameTiming(t, backend+": wrong secret, live vs bogus session token", tl, tb, 20*time.Microsecond)
	})
}
