package attack

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Test01TokenReuseAndRaces (issue 8, point 1): a magic link, an embeddable
// link or a passcode redeemed twice one after the other fails the second
// time; 50 concurrent redemptions of one token, spread over two nodes on
// one database, succeed exactly once and make exactly one session.
func Test01TokenReuseAndRaces(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		a, b := twoNodes(t, backend)
		p := a.NewProject(t, "reuse")
		pb := p.On(b)

		t.Run("magic link twice", func(t *testing.T) {
			addr := email("twice")
			ok(t, p, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
			tok := latchtest.LinkToken(t, a.Mail.WaitFor(t, addr, 1))
			ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
			for i, q := range []latchtest.Project{p, pb} {
				r := do(t, q, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
				refused(t, fmt.Sprintf("magic link redeemed again on node %d", i), r, http.StatusUnauthorized, "unable_to_auth_magic_link")
			}
		})

		t.Run("embeddable link twice", func(t *testing.T) {
			id := user(t, p, map[string]any{"email": email("embed")}).Str("user_id")
			tok := ok(t, p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": id}).Str("token")
			ok(t, pb, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})
			r := do(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
			refused(t, "embeddable link redeemed again", r, http.StatusUnauthorized, "unable_to_auth_magic_link")
		})

		t.Run("code twice", func(t *testing.T) {
			number := phone(t)
			phoneID, code := smsCode(t, a, p, number)
			ok(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code, "session_duration_minutes": 60})
			for i, q := range []latchtest.Project{p, pb} {
				r := do(t, q, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code, "session_duration_minutes": 60})
				refused(t, fmt.Sprintf("code redeemed again on node %d", i), r, http.StatusUnauthorized, "unable_to_auth_otp_code")
			}
		})

		// race redeems one token 50 times at once, alternating nodes, and
		// checks exactly one 200 and 49 refusals of the wanted type.
		race := func(t *testing.T, what, path string, body map[string]any, loserType string) (winner resp) {
			t.Helper()
			const n = 50
			var wins atomic.Int32
			replies := make([]resp, n)
			err := parallel(n, func(i int) error {
				q := p
				if i%2 == 1 {
					q = pb
				}
				r, err := exchange(q, http.MethodPost, path, body)
				replies[i] = r
				if err == nil && r.Status == http.StatusOK {
					wins.Add(1)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range replies {
				if r.Status == http.StatusOK {
					winner = r
					continue
				}
				refused(t, fmt.Sprintf("%s: concurrent redemption %d", what, i), r, http.StatusUnauthorized, loserType)
			}
			if w := wins.Load(); w != 1 {
				t.Fatalf("%s: %d of %d concurrent redemptions succeeded, want exactly 1", what, w, n)
			}
			return winner
		}
		sessions := func(t *testing.T, userID string) int {
			t.Helper()
			ss, _ := ok(t, pb, http.MethodGet, "/v1/sessions?user_id="+userID, nil).Get("sessions").([]any)
			return len(ss)
		}

		t.Run("50 concurrent magic-link redemptions", func(t *testing.T) {
			addr := email("race")
			ok(t, pb, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
			tok := latchtest.LinkToken(t, a.Mail.WaitFor(t, addr, 1))
			w := race(t, "magic link", "/v1/magic_links/authenticate",
				map[string]any{"token": tok, "session_duration_minutes": 60}, "unable_to_auth_magic_link")
			if n := sessions(t, w.Str("user_id")); n != 1 {
				t.Fatalf("the race left %d sessions, want 1", n)
			}
		})

		t.Run("50 concurrent passcode redemptions", func(t *testing.T) {
			number := phone(t)
			phoneID, code := smsCode(t, a, pb, number)
			w := race(t, "passcode", "/v1/otps/authenticate",
				map[string]any{"method_id": phoneID, "code": code, "session_duration_minutes": 60}, "unable_to_auth_otp_code")
			if n := sessions(t, w.Str("user_id")); n != 1 {
				t.Fatalf("the race left %d sessions, want 1", n)
			}
		})
	})
}
