package api_test

// TOTP end to end: the real HTTP API on both backends, the injected clock
// choosing the 30-second step.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/secret"
)

// totpCreate creates a TOTP for user and returns the reply and the key.
func totpCreate(t *testing.T, p latchtest.Project, user string) (latchtest.Response, []byte) {
	t.Helper()
	r := p.OK(t, http.MethodPost, "/v1/totps", map[string]any{"user_id": user})
	key, err := secret.TOTPEncoding.DecodeString(r.Str("secret"))
	if err != nil || len(key) != 20 {
		t.Fatalf("secret %q is not base32 of 20 bytes: %v", r.Str("secret"), err)
	}
	return r, key
}

// totpCodeAt is the code of key for the step at now + d.
func totpCodeAt(key []byte, now time.Time, d time.Duration) string {
	return secret.TOTPCode(key, secret.TOTPStep(now.Add(d)))
}

// totpWrong is a 6-digit code that is none of the codes of the steps
// around now.
func totpWrong(key []byte, now time.Time, i int) string {
	near := map[string]bool{}
	for d := -2; d <= 2; d++ {
		near[totpCodeAt(key, now, time.Duration(d)*30*time.Second)] = true
	}
	for j := i; ; j++ {
		w := fmt.Sprintf("%06d", (j*104729+13)%1000000)
		if !near[w] {
			return w
		}
	}
}

func totpRecoveryCodes(r latchtest.Response, path string) []string {
	cs, _ := r.Get(path).([]any)
	var out []string
	for _, c := range cs {
		out = append(out, c.(string))
	}
	return out
}

// The flow: a passcode starts a session; a TOTP created for the
// user and authenticated with that session_token joins the same session
// (both factors in the session and its JWT); the same code is refused;
// a recovery code works once.
func TestTOTPJoinsAPasscodeSessionAsASecondFactor(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Authenticator")
		r, code := otpSend(t, l, p, "sms", "login_or_create", map[string]any{"phone_number": "+14155552690"})
		first := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": code, "session_duration_minutes": 60})
		user, sid, token := first.Str("user_id"), first.Str("session.session_id"), first.Str("session_token")

		created, key := totpCreate(t, p, user)
		totpID := created.Str("totp_id")
		if !strings.HasPrefix(totpID, "totp-test-") || created.Str("user_id") != user || created.Str("user.user_id") != user {
			t.Fatalf("create: %s", created.Raw)
		}
		qr, ok := strings.CutPrefix(created.Str("qr_code"), "data:image/png;base64,")
		if !ok {
			t.Fatalf("qr_code is not a base64 PNG data URI: %.60s", created.Str("qr_code"))
		}
		raw, err := base64.StdEncoding.DecodeString(qr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
			t.Fatalf("qr_code is not a PNG: %v", err)
		}
		codes := totpRecoveryCodes(created, "recovery_codes")
		if len(codes) != 10 {
			t.Fatalf("want 10 recovery codes: %s", created.Raw)
		}
		if ts, _ := created.Get("user.totps").([]any); len(ts) != 1 || ts[0].(map[string]any)["totp_id"] != totpID || ts[0].(map[string]any)["verified"] != false {
			t.Fatalf("the new TOTP is not listed unverified on the user: %s", created.Raw)
		}

		now := l.Clock.Now()
		auth := p.OK(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, now, 0), "session_token": token})
		if auth.Str("session.session_id") != sid || auth.Str("session_token") != token || auth.Str("totp_id") != totpID || auth.Str("user_id") != user {
			t.Fatalf("want the same session %s: %s", sid, auth.Raw)
		}
		if got := sessFactors(auth, "session"); len(got) != 2 || got[0] != "otp/sms" || got[1] != "totp/authenticator_app" {
			t.Fatalf("authentication_factors %v, want [otp/sms totp/authenticator_app]", got)
		}
		if af, _ := otpFactor(t, auth, "totp/authenticator_app")["authenticator_app_factor"].(map[string]any); af["totp_id"] != totpID {
			t.Fatalf("authenticator_app_factor %v", af)
		}
		if got := jwtFactors(t, auth.Str("session_jwt")); len(got) != 2 || got[1] != "totp/authenticator_app" {
			t.Fatalf("JWT factors %v", got)
		}
		if ts, _ := auth.Get("user.totps").([]any); len(ts) != 1 || ts[0].(map[string]any)["verified"] != true {
			t.Fatalf("the TOTP is not verified after its first code: %s", auth.Raw)
		}
		if got := sessIDs(t, p, user); len(got) != 1 {
			t.Fatalf("the TOTP made a new session: %v", got)
		}

		// The same code again, even within its step: refused, and the
		// session keeps its two factors.
		p.Fail(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, now, 0), "session_token": token},
			http.StatusBadRequest, "totp_code_already_authenticated")

		// A recovery code, through the session's JWT: once.
		rec := p.OK(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": codes[3], "session_jwt": auth.Str("session_jwt")})
		if rec.Str("session.session_id") != sid || rec.Str("totp_id") != totpID {
			t.Fatalf("recover: want the same session: %s", rec.Raw)
		}
		if got := sessFactors(rec, "session"); len(got) != 3 || got[2] != "recovery_codes/recovery_code" {
			t.Fatalf("factors after recover %v", got)
		}
		if rf, _ := otpFactor(t, rec, "recovery_codes/recovery_code")["recovery_code_factor"].(map[string]any); !strings.HasPrefix(fmt.Sprint(rf["totp_recovery_code_id"]), "totp-recovery-code-test-") {
			t.Fatalf("recovery_code_factor %v", rf)
		}
		if got := jwtFactors(t, rec.Str("session_jwt")); len(got) != 3 {
			t.Fatalf("JWT factors after recover %v", got)
		}
		p.Fail(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": codes[3], "session_token": token},
			http.StatusUnauthorized, "unable_to_authenticate_recovery_code")

		// The codes left: the nine unused, in their order.
		left := p.OK(t, http.MethodPost, "/v1/totps/recovery_codes", map[string]any{"user_id": user})
		ts, _ := left.Get("totps").([]any)
		if len(ts) != 1 {
			t.Fatalf("recovery_codes: want one TOTP: %s", left.Raw)
		}
		t0 := ts[0].(map[string]any)
		var got []string
		for _, c := range t0["recovery_codes"].([]any) {
			got = append(got, c.(string))
		}
		want := append(append([]string{}, codes[:3]...), codes[4:]...)
		if strings.Join(got, ",") != strings.Join(want, ",") || t0["totp_id"] != totpID || t0["verified"] != true {
			t.Fatalf("recovery_codes: got %v, want %v: %s", got, want, left.Raw)
		}
	})
}

// RFC 6238 with one step of drift either side; each step's code accepted
// once, and no older step after a newer one.
func TestTOTPCodesOfTheStepsAroundNowAreAcceptedOnce(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Steps")
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "kai@example.com"}).Str("user_id")
		_, key := totpCreate(t, p, user)
		now := l.Clock.Now()
		authn := func(code string) latchtest.Response {
			return p.Do(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": code})
		}
		// Two steps away either side: wrong.
		for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
			if r := authn(totpCodeAt(key, now, d)); r.Status != 401 || r.ErrorType() != "unable_to_authenticate_totp" {
				t.Fatalf("code of %v from now: %s", d, r.Raw)
			}
		}
		// The previous step's code, then the next step's.
		if r := authn(totpCodeAt(key, now, -30*time.Second)); r.Status != 200 {
			t.Fatalf("previous step: %s", r.Raw)
		}
		if r := authn(totpCodeAt(key, now, 30*time.Second)); r.Status != 200 {
			t.Fatalf("next step: %s", r.Raw)
		}
		// Now's code is of a step before the last accepted one.
		if r := authn(totpCodeAt(key, now, 0)); r.Status != 400 || r.ErrorType() != "totp_code_already_authenticated" {
			t.Fatalf("an older step after a newer one: %s", r.Raw)
		}
		// Two steps later the code of the new now is accepted.
		l.Clock.Advance(60 * time.Second)
		if r := authn(totpCodeAt(key, l.Clock.Now(), 0)); r.Status != 200 {
			t.Fatalf("a later step: %s", r.Raw)
		}
		// Malformed codes are 400 and say so.
		for _, c := range []string{"", "12345", "1234567", "12a456"} {
			p.Fail(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": c}, http.StatusBadRequest, "invalid_code")
		}
	})
}

// Replay refusal holds under concurrency: the same code sent at once by
// several callers logs in exactly once.
func TestTheSameTOTPCodeSentConcurrentlySucceedsOnce(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Race")
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "ivy@example.com"}).Str("user_id")
		_, key := totpCreate(t, p, user)
		code := totpCodeAt(key, l.Clock.Now(), 0)
		const n = 6
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[string]int{}
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				r := p.Do(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": code, "session_duration_minutes": 30})
				mu.Lock()
				statuses[fmt.Sprint(r.Status, " ", r.ErrorType())]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if statuses["200 "] != 1 || statuses["400 totp_code_already_authenticated"] != n-1 {
			t.Fatalf("want one 200 and %d totp_code_already_authenticated: %v", n-1, statuses)
		}
		if got := sessIDs(t, p, user); len(got) != 1 {
			t.Fatalf("sessions %v, want one", got)
		}
	})
}

// Wrong TOTP codes and wrong recovery codes count toward the user lock as
// wrong passcodes do; a locked user is refused even the right code.
func TestWrongTOTPAndRecoveryCodesCountTowardTheLock(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "TOTP Lock")
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "lou@example.com"}).Str("user_id")
		created, key := totpCreate(t, p, user)
		now := l.Clock.Now()
		p.OK(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, now, 0)})
		for i := range 7 {
			p.Fail(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpWrong(key, now, i)},
				http.StatusUnauthorized, "unable_to_authenticate_totp")
		}
		for i := range 2 {
			p.Fail(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": fmt.Sprintf("zzzz-zzzz-zzz%d", i)},
				http.StatusUnauthorized, "unable_to_authenticate_recovery_code")
		}
		if u := mlUser(t, p, user); u.Get("is_locked") != false {
			t.Fatalf("locked after 9 failures: %s", u.Raw)
		}
		if r := p.Do(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpWrong(key, now, 9)}); r.Status != 401 && r.Status != 429 {
			t.Fatalf("10th failure: %s", r.Raw)
		}
		if u := mlUser(t, p, user); u.Get("is_locked") != true {
			t.Fatalf("not locked after 10 failures: %s", u.Raw)
		}
		l.Clock.Advance(30 * time.Second)
		p.Fail(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, l.Clock.Now(), 0)},
			http.StatusTooManyRequests, "user_lock_limit_reached")
		p.Fail(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": totpRecoveryCodes(created, "recovery_codes")[0]},
			http.StatusTooManyRequests, "user_lock_limit_reached")
		// The lock ends; the right code works and starts the count over.
		l.Clock.Advance(time.Hour)
		p.OK(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, l.Clock.Now(), 0)})
	})
}

// A TOTP is created unverified and expires unless a code verifies it in
// time; a new create replaces an unverified one; a verified one blocks
// another until it is deleted.
func TestTOTPEnrolmentExpiryReplacementAndDeletion(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Enrolment")
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "noa@example.com"}).Str("user_id")
		p.Fail(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": "123456"}, http.StatusNotFound, "totps_not_found_for_user")
		if r := p.OK(t, http.MethodPost, "/v1/totps/recovery_codes", map[string]any{"user_id": user}); r.Get("totps") == nil || len(r.Get("totps").([]any)) != 0 {
			t.Fatalf("recovery_codes of a user without a TOTP: %s", r.Raw)
		}
		for _, m := range []int{4, 1441} {
			p.Fail(t, http.MethodPost, "/v1/totps", map[string]any{"user_id": user, "expiration_minutes": m}, http.StatusBadRequest, "invalid_expiration")
		}
		p.Fail(t, http.MethodPost, "/v1/totps", map[string]any{"user_id": "user-test-00000000-0000-0000-0000-000000000000"}, http.StatusNotFound, "user_not_found")

		first := p.OK(t, http.MethodPost, "/v1/totps", map[string]any{"user_id": user, "expiration_minutes": 5})
		key, _ := secret.TOTPEncoding.DecodeString(first.Str("secret"))
		// Recovery codes work only once the TOTP is verified.
		p.Fail(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": totpRecoveryCodes(first, "recovery_codes")[0]},
			http.StatusUnauthorized, "unable_to_authenticate_recovery_code")
		l.Clock.Advance(5 * time.Minute)
		p.Fail(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, l.Clock.Now(), 0)},
			http.StatusUnauthorized, "unable_to_authenticate_totp")

		// A new create replaces the expired, unverified one.
		second, key := totpCreate(t, p, user)
		if ts, _ := second.Get("user.totps").([]any); len(ts) != 1 || ts[0].(map[string]any)["totp_id"] != second.Str("totp_id") {
			t.Fatalf("want only the new TOTP on the user: %s", second.Raw)
		}
		p.OK(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": user, "totp_code": totpCodeAt(key, l.Clock.Now(), 0)})
		p.Fail(t, http.MethodPost, "/v1/totps", map[string]any{"user_id": user}, http.StatusBadRequest, "active_totp_exists")

		// Another project cannot see or delete it.
		other := l.NewProject(t, "Other")
		other.Fail(t, http.MethodDelete, "/v1/users/totps/"+second.Str("totp_id"), nil, http.StatusNotFound, "totp_not_found")

		del := p.OK(t, http.MethodDelete, "/v1/users/totps/"+second.Str("totp_id"), nil)
		if ts, _ := del.Get("user.totps").([]any); del.Str("user_id") != user || len(ts) != 0 {
			t.Fatalf("delete: %s", del.Raw)
		}
		p.Fail(t, http.MethodDelete, "/v1/users/totps/"+second.Str("totp_id"), nil, http.StatusNotFound, "totp_not_found")
		p.Fail(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": totpRecoveryCodes(second, "recovery_codes")[0]},
			http.StatusNotFound, "totps_not_found_for_user")
		totpCreate(t, p, user)
		// A TOTP code passed to recover is named for what it is.
		p.Fail(t, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": user, "recovery_code": "123456"}, http.StatusBadRequest, "totp_code_used_as_recovery_code")
	})
}

// users/search finds users by totp_id and by whether their TOTP is
// verified.
func TestUsersAreFoundByTheirTOTP(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "TOTP Search")
		verified := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "vee@example.com"}).Str("user_id")
		pending := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "pen@example.com"}).Str("user_id")
		p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "nil@example.com"})
		v, key := totpCreate(t, p, verified)
		p.OK(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": verified, "totp_code": totpCodeAt(key, l.Clock.Now(), 0)})
		u, _ := totpCreate(t, p, pending)
		for _, c := range []struct {
			name string
			body map[string]any
			want []string
		}{
			{"totp_id", fndQuery("AND", "totp_id", []any{v.Str("totp_id"), u.Str("totp_id")}), []string{verified, pending}},
			{"totp_verified true", fndQuery("AND", "totp_verified", true), []string{verified}},
			{"totp_verified false", fndQuery("AND", "totp_verified", false), []string{pending}},
		} {
			fndSameSet(t, c.name, fndIDs(t, fndSearch(t, p, c.body)), c.want)
		}
		// Search results list the TOTPs on each user too.
		r := fndSearch(t, p, fndQuery("AND", "user_id", []any{verified}))
		if ts, _ := r.Get("results").([]any)[0].(map[string]any)["totps"].([]any); len(ts) != 1 || ts[0].(map[string]any)["verified"] != true {
			t.Fatalf("search result totps: %s", r.Raw)
		}
	})
}

// The README's other pair of factors: a password starts the session and an
// authenticator app joins it, named by session_jwt this time: one
// session_id, the password and TOTP factors in the session and its JWT.
func TestAPasswordSessionGainsAnAuthenticatorAppAsItsSecondFactor(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Password and app")
		const addr, pw = "grace@example.com", "correct horse battery staple"
		p.OK(t, http.MethodPost, "/v1/passwords", map[string]any{"email": addr, "password": pw})
		first := p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": addr, "password": pw, "session_duration_minutes": 60})
		user, sid := first.Str("user_id"), first.Str("session.session_id")
		if got := sessFactors(first, "session"); len(got) != 1 || got[0] != "password/knowledge" {
			t.Fatalf("authentication_factors %v, want [password/knowledge]", got)
		}
		_, key := totpCreate(t, p, user)
		second := p.OK(t, http.MethodPost, "/v1/totps/authenticate", map[string]any{
			"user_id": user, "totp_code": totpCodeAt(key, l.Clock.Now(), 0), "session_jwt": first.Str("session_jwt")})
		if second.Str("session.session_id") != sid {
			t.Fatalf("want the same session %s: %s", sid, second.Raw)
		}
		want := []string{"password/knowledge", "totp/authenticator_app"}
		if got := sessFactors(second, "session"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("authentication_factors %v, want %v", got, want)
		}
		if got := jwtFactors(t, second.Str("session_jwt")); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("JWT factors %v, want %v", got, want)
		}
		if got := sessIDs(t, p, user); len(got) != 1 {
			t.Fatalf("the TOTP made a new session: %v", got)
		}
	})
}
