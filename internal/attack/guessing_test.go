package attack

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// Test02Guessing (issue 8, point 2): a passcode dies after 5 wrong tries;
// wrong tries spread over resends, API clients (two secrets of the
// project), client IPs and two nodes all count toward one user lock; a
// locked user is refused with the right code exactly as with a wrong one,
// whatever the factor; the lock ends on time (injected clock).
func Test02Guessing(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		a, b := twoNodes(t, backend)
		p := a.NewProject(t, "guessing")
		_, sec2, err := a.App.Service.AddSecret(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Four "clients": two nodes × two secrets of the project.
		clients := []latchtest.Project{p, p.On(b), {ID: p.ID, Secret: sec2, URL: a.URL}, {ID: p.ID, Secret: sec2, URL: b.URL}}
		fromIP := func(i int) func(*http.Request) {
			return func(r *http.Request) {
				ip := fmt.Sprintf("203.0.113.%d", 1+i%250)
				r.Header.Set("X-Forwarded-For", ip)
				r.Header.Set("X-Real-IP", ip)
			}
		}
		try := func(i int, methodID, code string) resp {
			return do(t, clients[i%len(clients)], http.MethodPost, "/v1/otps/authenticate", map[string]any{
				"method_id": methodID, "code": code, "session_duration_minutes": 60,
				"attributes": map[string]any{"ip_address": fmt.Sprintf("198.51.100.%d", 1+i%250), "user_agent": fmt.Sprintf("guesser/%d", i)},
			}, fromIP(i))
		}

		t.Run("a code dies after 5 wrong tries", func(t *testing.T) {
			number := phone(t)
			phoneID, code := smsCode(t, a, p, number)
			for i := range auth.MaxCodeAttempts {
				refused(t, fmt.Sprintf("wrong try %d", i+1), try(i, phoneID, wrongCode(code, i)), http.StatusNotFound, "otp_code_not_found")
			}
			refused(t, "right code after 5 wrong tries", try(5, phoneID, code), http.StatusUnauthorized, "unable_to_auth_otp_code")
			// A fresh code works: the user is not locked by 5 failures.
			a.Clock.Advance(time.Minute)
			phoneID, code = smsCode(t, b, clients[1], number)
			ok(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code})
		})

		t.Run("wrong tries everywhere lock the user, who is refused the same way with the right code, on every factor, until the lock ends", func(t *testing.T) {
			number, addr := phone(t), email("locked")
			uid := user(t, p, map[string]any{"phone_number": number, "email": addr}).Str("user_id")
			lockStart := a.Clock.Now()
			// 10 wrong tries (the default threshold), a resend after every
			// third, each from another client, node and IP.
			var phoneID, code string
			for i := range auth.DefaultLockThreshold {
				if i%3 == 0 {
					a.Clock.Advance(61 * time.Second) // a new send-rate window
					phoneID, code = smsCode(t, a, clients[(i/3)%len(clients)], number)
				}
				refused(t, fmt.Sprintf("wrong try %d", i+1), try(i, phoneID, wrongCode(code, i)), http.StatusNotFound, "otp_code_not_found")
			}
			a.Clock.Advance(61 * time.Second)
			phoneID, code = smsCode(t, a, clients[2], number)
			right := try(11, phoneID, code)
			wrong := try(12, phoneID, wrongCode(code, 0))
			refused(t, "right code of a locked user", right, http.StatusTooManyRequests, "user_lock_limit_reached")
			refused(t, "wrong code of a locked user", wrong, http.StatusTooManyRequests, "user_lock_limit_reached")
			if right.Str("error_message") != wrong.Str("error_message") {
				t.Errorf("a locked user's right and wrong codes answer differently:\n%s\n%s", right.Raw, wrong.Raw)
			}
			if u := ok(t, p, http.MethodGet, "/v1/users/"+uid, nil); u.Get("is_locked") != true {
				t.Errorf("user not shown locked: %s", u.Raw)
			}
			// Every other factor of the user is refused too.
			tok := ok(t, p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": uid}).Str("token")
			refused(t, "embeddable link of a locked user", do(t, clients[1], http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60}), http.StatusTooManyRequests, "user_lock_limit_reached")
			ok(t, p, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": addr})
			link := latchtest.LinkToken(t, a.Mail.WaitFor(t, addr, 1))
			refused(t, "emailed link of a locked user", do(t, clients[3], http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link, "session_duration_minutes": 60}), http.StatusTooManyRequests, "user_lock_limit_reached")
			eid := ok(t, p, http.MethodPost, "/v1/otps/email/send", map[string]any{"email": addr}).Str("email_id")
			ecode := latchtest.Code(t, a.Mail.WaitFor(t, addr, 2).Text)
			refused(t, "email code of a locked user", do(t, clients[2], http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": eid, "code": ecode}), http.StatusTooManyRequests, "user_lock_limit_reached")

			// Still locked one second before the lock's hour is over
			// (the lock started at the 10th wrong try).
			end := lockStart.Add(4*61*time.Second + auth.DefaultLockTTL)
			a.Clock.Advance(end.Sub(a.Clock.Now()) - 2*time.Second)
			phoneID, code = smsCode(t, a, clients[1], number)
			refused(t, "right code a second before the lock ends", try(13, phoneID, code), http.StatusTooManyRequests, "user_lock_limit_reached")
			// The refused links were not spent: they work once the lock is over.
			a.Clock.Advance(3 * time.Second)
			ok(t, clients[3], http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code, "session_duration_minutes": 60})
			if u := ok(t, p, http.MethodGet, "/v1/users/"+uid, nil); u.Get("is_locked") != false {
				t.Errorf("user still shown locked after a success: %s", u.Raw)
			}
		})

		t.Run("a burst of concurrent wrong guesses gets 5 tries at most", func(t *testing.T) {
			number := phone(t)
			a.Clock.Advance(61 * time.Second)
			phoneID, code := smsCode(t, a, p, number)
			const n = 30
			replies := make([]resp, n)
			if err := parallel(n, func(i int) error {
				r, err := exchange(clients[i%len(clients)], http.MethodPost, "/v1/otps/authenticate",
					map[string]any{"method_id": phoneID, "code": wrongCode(code, i)}, fromIP(i))
				replies[i] = r
				return err
			}); err != nil {
				t.Fatal(err)
			}
			compared := 0
			for i, r := range replies {
				attacksTried.Add(1)
				switch {
				case r.Status == http.StatusNotFound && r.ErrorType() == "otp_code_not_found":
					compared++
				case r.Status == http.StatusUnauthorized && r.ErrorType() == "unable_to_auth_otp_code":
				case r.Status == http.StatusTooManyRequests && r.ErrorType() == "user_lock_limit_reached":
				default:
					t.Errorf("concurrent wrong guess %d: %d %s", i, r.Status, r.Raw)
				}
			}
			// A code dies after 5 wrong tries under any concurrency: at
			// most 5 of the burst may be compared with it (404); the rest
			// find it dead (401) or the user locked (429).
			if compared > auth.MaxCodeAttempts {
				t.Errorf("%d of %d concurrent wrong guesses were compared with one code, want at most %d", compared, n, auth.MaxCodeAttempts)
			}
			r := try(0, phoneID, code)
			attacksTried.Add(1)
			if r.Status == http.StatusOK {
				t.Fatalf("the right code passed after %d concurrent wrong guesses", n)
			}
		})
	})
}
