package api_test

// One-time passcodes and MFA end to end (issue 4): the real HTTP API, the
// Twilio double and the SMTP server receiving the codes, the injected clock.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// otpSend posts /v1/otps/<channel>/<op> (op "send" or "login_or_create"),
// waits for the code to arrive and returns the reply and the code.
func otpSend(t *testing.T, l *latchtest.Latch, p latchtest.Project, channel, op string, body map[string]any) (latchtest.Response, string) {
	t.Helper()
	path := "/v1/otps/" + channel + "/" + op
	switch channel {
	case "email":
		var r latchtest.Response
		m := l.Mail.Next(t, body["email"].(string), func() { r = p.OK(t, http.MethodPost, path, body) })
		return r, latchtest.Code(t, m.Text)
	default:
		to := body["phone_number"].(string)
		if channel == "whatsapp" {
			to = "whatsapp:" + to
		}
		var r latchtest.Response
		m := l.SMS.Next(t, to, func() { r = p.OK(t, http.MethodPost, path, body) })
		return r, latchtest.Code(t, m.Body)
	}
}

// otpSMS sends an SMS code to phone with login_or_create and returns the
// phone_id, the user_id and the code.
func otpSMS(t *testing.T, l *latchtest.Latch, p latchtest.Project, phone string) (phoneID, userID, code string) {
	t.Helper()
	r, code := otpSend(t, l, p, "sms", "login_or_create", map[string]any{"phone_number": phone})
	return r.Str("phone_id"), r.Str("user_id"), code
}

// otpAuth posts to /v1/otps/authenticate.
func otpAuth(t *testing.T, p latchtest.Project, body map[string]any) latchtest.Response {
	t.Helper()
	return p.Do(t, http.MethodPost, "/v1/otps/authenticate", body)
}

// otpWrong is a six-digit code that is not code, different for each i.
func otpWrong(code string, i int) string {
	for j := i; ; j++ {
		w := fmt.Sprintf("%06d", (j*104729+7)%1000000)
		if w != code {
			return w
		}
	}
}

// otpPhoneVerified reads the verified flag of a phone on a user reply.
func otpPhoneVerified(t *testing.T, r latchtest.Response, path, phone string) bool {
	t.Helper()
	ps, _ := r.Get(path).([]any)
	for _, x := range ps {
		m := x.(map[string]any)
		if m["phone_number"] == phone {
			return m["verified"].(bool)
		}
	}
	t.Fatalf("no phone %s at %s: %s", phone, path, r.Raw)
	return false
}

// otpFactor finds the factor "type/delivery" in a reply's session.
func otpFactor(t *testing.T, r latchtest.Response, kind string) map[string]any {
	t.Helper()
	fs, _ := r.Get("session.authentication_factors").([]any)
	for _, f := range fs {
		m := f.(map[string]any)
		if fmt.Sprint(m["type"], "/", m["delivery_method"]) == kind {
			return m
		}
	}
	t.Fatalf("no %s factor in %s", kind, r.Raw)
	return nil
}

// Issue 4's example: a magic link starts a session; a passcode for the
// user's phone, authenticated with that session_token, joins the same
// session, and the JWT says so too.
func TestMultipleAuthenticationFactors(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Two Factor")
		login := sessLogin(t, l, p, "mia@example.com", 60)
		user, id, token := login.Str("user_id"), login.Str("session.session_id"), login.Str("session_token")

		// The phone is attached through the session, unverified.
		sent, code := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552671", "session_token": token})
		phoneID := sent.Str("phone_id")
		if sent.Str("user_id") != user || !strings.HasPrefix(phoneID, "phone-number-test-") {
			t.Fatalf("sms send: %s", sent.Raw)
		}
		if otpPhoneVerified(t, mlUser(t, p, user), "phone_numbers", "+14155552671") {
			t.Fatal("the phone is verified before its code was used")
		}
		// The JWT of the unchanged session, as an app would hold it now.
		before := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token}).Str("session_jwt")

		r := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code, "session_token": token})
		if r.Str("session.session_id") != id || r.Str("session_token") != token || r.Str("method_id") != phoneID || r.Str("user_id") != user {
			t.Fatalf("MFA reply: want the same session %s: %s", id, r.Raw)
		}
		if got := sessFactors(r, "session"); len(got) != 2 || got[0] != "magic_link/email" || got[1] != "otp/sms" {
			t.Fatalf("authentication_factors %v, want [magic_link/email otp/sms]", got)
		}
		pf, _ := otpFactor(t, r, "otp/sms")["phone_number_factor"].(map[string]any)
		if pf["phone_id"] != phoneID || pf["phone_number"] != "+14155552671" {
			t.Errorf("phone_number_factor %v", pf)
		}
		jwt := r.Str("session_jwt")
		if jwt == before {
			t.Fatal("the JWT served after the factor was added is the one from before")
		}
		if got := jwtFactors(t, jwt); len(got) != 2 || got[1] != "otp/sms" {
			t.Fatalf("JWT factors %v", got)
		}
		// sessions/authenticate agrees, by token and by JWT, at once.
		for _, body := range []map[string]any{{"session_token": token}, {"session_jwt": jwt}} {
			a := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", body)
			if got := jwtFactors(t, a.Str("session_jwt")); len(got) != 2 {
				t.Fatalf("sessions/authenticate JWT factors %v", got)
			}
			if got := sessFactors(a, "session"); len(got) != 2 {
				t.Fatalf("sessions/authenticate factors %v", got)
			}
		}
		if u := mlUser(t, p, user); !otpPhoneVerified(t, u, "phone_numbers", "+14155552671") {
			t.Fatalf("phone not verified: %s", u.Raw)
		}
		if got := sessIDs(t, p, user); len(got) != 1 {
			t.Fatalf("MFA made a new session: %v", got)
		}

		// A third factor through session_jwt: an email passcode.
		sentE, codeE := otpSend(t, l, p, "email", "send", map[string]any{"email": "mia@example.com"})
		r = p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": sentE.Str("email_id"), "code": codeE, "session_jwt": jwt})
		if got := sessFactors(r, "session"); r.Str("session.session_id") != id || len(got) != 3 || got[2] != "otp/email" {
			t.Fatalf("third factor: %v %s", got, r.Raw)
		}

		// The SMS factor again: its timestamp is refreshed, no duplicate.
		l.Clock.Advance(time.Minute)
		_, code = otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552671"})
		r = p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code, "session_token": token})
		if got := sessFactors(r, "session"); len(got) != 3 {
			t.Fatalf("re-authenticating a factor duplicated it: %v", got)
		}
		if got := otpFactor(t, r, "otp/sms")["last_authenticated_at"]; got != mlTS(l.Clock.Now()) {
			t.Errorf("sms last_authenticated_at %v, want now %s", got, mlTS(l.Clock.Now()))
		}
		if got := jwtFactors(t, r.Str("session_jwt")); len(got) != 3 {
			t.Errorf("JWT factors %v", got)
		}
	})
}

// WhatsApp: Twilio's Messages API with whatsapp: numbers, factor otp/whatsapp.
func TestWhatsAppPasscode(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Chat")
		r, code := otpSend(t, l, p, "whatsapp", "login_or_create", map[string]any{"phone_number": "+14155552672"})
		if r.Get("user_created") != true || r.Str("phone_id") == "" {
			t.Fatalf("whatsapp login_or_create: %s", r.Raw)
		}
		m := l.SMS.WaitFor(t, "whatsapp:+14155552672", 1)
		if m.From != "whatsapp:"+latchtest.TwilioWhatsAppFrom || !strings.Contains(m.Body, "Chat") {
			t.Errorf("message: %+v", m)
		}
		if len(code) != 6 {
			t.Fatalf("code %q", code)
		}
		a := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": code, "session_duration_minutes": 60})
		pf, _ := otpFactor(t, a, "otp/whatsapp")["phone_number_factor"].(map[string]any)
		if pf["phone_id"] != r.Str("phone_id") || pf["phone_number"] != "+14155552672" {
			t.Errorf("phone_number_factor %v", pf)
		}
		if got := jwtFactors(t, a.Str("session_jwt")); len(got) != 1 || got[0] != "otp/whatsapp" {
			t.Errorf("JWT factors %v", got)
		}
		if !otpPhoneVerified(t, a, "user.phone_numbers", "+14155552672") || a.Str("user.status") != "active" {
			t.Errorf("user after whatsapp: %s", a.Raw)
		}

		// SMS to a UK number goes from the SMS sender, to the plain number.
		// (+447700900123, Ofcom's drama range, is invalid for libphonenumber
		// and refused with invalid_phone_number; this is a real mobile range.)
		r, code = otpSend(t, l, p, "sms", "login_or_create", map[string]any{"phone_number": "+447911123456"})
		if m := l.SMS.WaitFor(t, "+447911123456", 1); m.From != latchtest.TwilioFrom {
			t.Errorf("SMS from %q", m.From)
		}
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": code})
		if l.SMS.Rejects != 0 {
			t.Errorf("the Twilio double refused %d requests (path, auth or form)", l.SMS.Rejects)
		}

		p.Fail(t, http.MethodPost, "/v1/otps/whatsapp/send", map[string]any{"phone_number": "+14155552673"}, http.StatusNotFound, "phone_number_not_found")
		p.Fail(t, http.MethodPost, "/v1/otps/sms/send", map[string]any{"phone_number": "+14155552673"}, http.StatusNotFound, "phone_number_not_found")
		p.Fail(t, http.MethodPost, "/v1/otps/sms/send", map[string]any{"phone_number": "not a phone"}, http.StatusBadRequest, "invalid_phone_number")
	})
}

// Email passcodes over SMTP: subject naming the project, factor otp/email
// with email_factor, the email verified; a pending user made active.
func TestEmailPasscode(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Mailroom")
		var r latchtest.Response
		m := l.Mail.Next(t, "ned@example.com", func() {
			r = p.OK(t, http.MethodPost, "/v1/otps/email/login_or_create", map[string]any{"email": "ned@example.com", "create_user_as_pending": true})
		})
		code := latchtest.Code(t, m.Text)
		if !strings.Contains(m.Subject, "Mailroom") || !strings.Contains(m.HTML, code) {
			t.Errorf("email: subject %q, code in HTML %v", m.Subject, strings.Contains(m.HTML, code))
		}
		if r.Get("user_created") != true || mlUser(t, p, r.Str("user_id")).Str("status") != "pending" {
			t.Fatalf("email login_or_create: %s", r.Raw)
		}
		a := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("email_id"), "code": code, "session_duration_minutes": 60})
		ef, _ := otpFactor(t, a, "otp/email")["email_factor"].(map[string]any)
		if ef["email_id"] != r.Str("email_id") || ef["email_address"] != "ned@example.com" {
			t.Errorf("email_factor %v", ef)
		}
		if a.Str("user.status") != "active" || !mlEmailVerified(t, a, "user.emails", "ned@example.com") {
			t.Errorf("user after email code: %s", a.Raw)
		}
		if a.Str("method_id") != r.Str("email_id") {
			t.Errorf("method_id %q", a.Str("method_id"))
		}
		p.Fail(t, http.MethodPost, "/v1/otps/email/send", map[string]any{"email": "nobody@example.com"}, http.StatusNotFound, "email_not_found")

		// send with user_id attaches a new address, unverified until its code is used.
		user := r.Str("user_id")
		att, codeA := otpSend(t, l, p, "email", "send", map[string]any{"email": "ned.work@example.com", "user_id": user})
		if att.Str("user_id") != user || mlEmailVerified(t, mlUser(t, p, user), "emails", "ned.work@example.com") {
			t.Fatalf("attach: %s", att.Raw)
		}
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": att.Str("email_id"), "code": codeA})
		if !mlEmailVerified(t, mlUser(t, p, user), "emails", "ned.work@example.com") {
			t.Fatal("the attached address was not verified by its code")
		}

		// options.ip_match_required compares with the send's attributes; a
		// mismatch leaves the code usable.
		sent, code := otpSend(t, l, p, "email", "send", map[string]any{"email": "ned@example.com", "attributes": map[string]any{"ip_address": "203.0.113.5"}})
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": sent.Str("email_id"), "code": code,
			"options": map[string]any{"ip_match_required": true}, "attributes": map[string]any{"ip_address": "198.51.100.5"}}, http.StatusUnauthorized, "attribute_mismatch")
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": sent.Str("email_id"), "code": code,
			"options": map[string]any{"ip_match_required": true}, "attributes": map[string]any{"ip_address": "203.0.113.5"}})
	})
}

// Codes are 6 digits, live 2 minutes by default (1–10 allowed), only the
// newest of a method is live, and they rest as HMAC, not as themselves.
func TestPasscodeExpiryAndNewestCodeOnly(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Clock")
		phones := []string{"+14155552681", "+14155552682", "+14155552683", "+14155552684", "+14155552685", "+14155552686"}
		type sent struct{ id, code string }
		var s []sent
		for i, ph := range phones {
			body := map[string]any{"phone_number": ph}
			if i >= 2 && i < 4 {
				body["expiration_minutes"] = 10
			}
			if i >= 4 {
				body["expiration_minutes"] = 1
			}
			r, code := otpSend(t, l, p, "sms", "login_or_create", body)
			s = append(s, sent{r.Str("phone_id"), code})
		}
		o, err := l.App.Store.GetLatestOTP(context.Background(), p.ID, s[0].id)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256([]byte(s[0].code)); len(o.CodeHash) != 32 || string(o.CodeHash) == string(sum[:]) || strings.Contains(string(o.CodeHash), s[0].code) {
			t.Errorf("the code does not rest as an HMAC: %x", o.CodeHash)
		}
		sentAt := l.Clock.Now()
		// edge moves the clock to 1 s before sentAt + d and checks that a
		// works, then to sentAt + d and checks that b is expired.
		edge := func(name string, d time.Duration, a, b sent) {
			t.Helper()
			l.Clock.Advance(sentAt.Add(d - time.Second).Sub(l.Clock.Now()))
			if r := otpAuth(t, p, map[string]any{"method_id": a.id, "code": a.code}); r.Status != 200 {
				t.Errorf("%s: refused 1 s before expiry: %s", name, r.Raw)
			}
			l.Clock.Advance(time.Second)
			if r := otpAuth(t, p, map[string]any{"method_id": b.id, "code": b.code}); r.Status != 401 || r.ErrorType() != "unable_to_auth_otp_code" {
				t.Errorf("%s: at expiry want 401 unable_to_auth_otp_code, got %s", name, r.Raw)
			}
		}
		edge("1 min", time.Minute, s[4], s[5])
		edge("default 2 min", 2*time.Minute, s[0], s[1])
		edge("10 min", 10*time.Minute, s[2], s[3])

		for _, bad := range []int{11, -1, 60} {
			p.Fail(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": "+14155552687", "expiration_minutes": bad}, http.StatusBadRequest, "invalid_expiration_otp")
			p.Fail(t, http.MethodPost, "/v1/otps/email/login_or_create", map[string]any{"email": "olga@example.com", "expiration_minutes": bad}, http.StatusBadRequest, "invalid_expiration_otp")
		}

		// Only the newest code of a method is live.
		l.Clock.Advance(time.Minute)
		r, first := otpSend(t, l, p, "sms", "login_or_create", map[string]any{"phone_number": "+14155552688"})
		_, second := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552688"})
		if first != second {
			if a := otpAuth(t, p, map[string]any{"method_id": r.Str("phone_id"), "code": first}); a.Status == 200 {
				t.Fatal("an older code still works after a resend")
			}
		}
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": second})
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": second}, http.StatusUnauthorized, "unable_to_auth_otp_code")

		// Malformed requests.
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": "12345"}, http.StatusBadRequest, "invalid_code")
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": "abcdef"}, http.StatusBadRequest, "invalid_code")
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"code": "123456"}, http.StatusBadRequest, "invalid_method_id")
		// Design choice: an unknown method_id says no more than a wrong code.
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": "phone-number-test-00000000-0000-4000-8000-000000000000", "code": "123456"}, http.StatusNotFound, "otp_code_not_found")
	})
}

// A code dies after 5 wrong tries, even for the right code after.
func TestPasscodeDiesAfterFiveWrongTries(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Guess")
		phoneID, _, code := otpSMS(t, l, p, "+14155552691")
		for i := range 4 {
			p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": otpWrong(code, i)}, http.StatusNotFound, "otp_code_not_found")
		}
		// After 4 wrong tries the right code still works (on a new code).
		_, code2 := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552691"})
		for i := range 4 {
			p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": otpWrong(code2, i)}, http.StatusNotFound, "otp_code_not_found")
		}
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code2})

		_, code3 := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552691"})
		for i := range 5 {
			p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": otpWrong(code3, i)}, http.StatusNotFound, "otp_code_not_found")
		}
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code3}, http.StatusUnauthorized, "unable_to_auth_otp_code")
		// A further guess is not even compared.
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": otpWrong(code3, 9)}, http.StatusUnauthorized, "unable_to_auth_otp_code")
	})
}

// otpFailTimes sends wrong codes for the method's live code.
func otpFailTimes(t *testing.T, p latchtest.Project, methodID, code string, n int) {
	t.Helper()
	for i := range n {
		r := otpAuth(t, p, map[string]any{"method_id": methodID, "code": otpWrong(code, i)})
		if r.Status != http.StatusNotFound || r.ErrorType() != "otp_code_not_found" {
			t.Fatalf("wrong try %d: want 404 otp_code_not_found, got %s", i+1, r.Raw)
		}
	}
}

// The user lock: consecutive failures across all factors reaching the
// threshold (default 10) lock the user for 1 h, 429 even with the right
// code or a magic link; the lock then ends. A success resets the count.
func TestUserLockAtTheThresholdAndItsEnd(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Lock")
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "pat@example.com", "phone_number": "+14155552701"}).Str("user_id")
		sent, code := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552701"})
		phoneID := sent.Str("phone_id")
		otpFailTimes(t, p, phoneID, code, 5)
		sentE, codeE := otpSend(t, l, p, "email", "send", map[string]any{"email": "pat@example.com"})
		otpFailTimes(t, p, sentE.Str("email_id"), codeE, 4) // 9 in all, across two factors
		if u := mlUser(t, p, user); u.Get("is_locked") != false {
			t.Fatalf("locked before the threshold: %s", u.Raw)
		}
		// The 10th failure locks.
		if r := otpAuth(t, p, map[string]any{"method_id": sentE.Str("email_id"), "code": otpWrong(codeE, 4)}); r.Status != 404 && r.Status != 429 {
			t.Fatalf("10th failure: %s", r.Raw)
		}
		lockedAt := l.Clock.Now()
		u := mlUser(t, p, user)
		if u.Get("is_locked") != true || u.Str("lock_expires_at") != mlTS(lockedAt.Add(time.Hour)) || u.Str("lock_created_at") != mlTS(lockedAt) {
			t.Fatalf("after 10 failures: want locked for 1 h: %s", u.Raw)
		}
		_, code = otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552701"})
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code}, http.StatusTooManyRequests, "user_lock_limit_reached")
		tok := mlToken(t, l, p, "pat@example.com")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok}, http.StatusTooManyRequests, "user_lock_limit_reached")

		l.Clock.Advance(time.Hour - time.Second)
		_, code = otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552701"})
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code}, http.StatusTooManyRequests, "user_lock_limit_reached")

		// The lock ends after 1 h: no longer shown, and the count starts
		// over (one wrong try does not lock again).
		l.Clock.Advance(time.Second)
		if u := mlUser(t, p, user); u.Get("is_locked") != false || u.Get("lock_expires_at") != nil {
			t.Fatalf("the lock is still shown after 1 h: %s", u.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": otpWrong(code, 0)}, http.StatusNotFound, "otp_code_not_found")
		r := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code})
		if r.Get("user.is_locked") != false {
			t.Errorf("still locked after success: %s", r.Raw)
		}
		if u := mlUser(t, p, user); u.Get("is_locked") != false || u.Get("lock_expires_at") != nil {
			t.Fatalf("after the lock: %s", u.Raw)
		}

		// A success resets the count: 9 failures, a success, 9 failures, no lock.
		l.Clock.Advance(time.Minute)
		for round := range 2 {
			_, code = otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552701"})
			otpFailTimes(t, p, phoneID, code, 5)
			_, codeE = otpSend(t, l, p, "email", "send", map[string]any{"email": "pat@example.com"})
			otpFailTimes(t, p, sentE.Str("email_id"), codeE, 4)
			p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": sentE.Str("email_id"), "code": codeE})
			if u := mlUser(t, p, user); u.Get("is_locked") != false {
				t.Fatalf("round %d: locked although a success came between: %s", round+1, u.Raw)
			}
			l.Clock.Advance(time.Minute)
		}
	})
}

// A resend does not reset the failure count: 5 wrong tries on one code,
// a new code, 5 wrong tries on it: locked.
func TestPasscodeResendDoesNotResetTheCount(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Resend")
		phoneID, user, code := otpSMS(t, l, p, "+14155552711")
		otpFailTimes(t, p, phoneID, code, 5)
		otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552711"})
		_, code = otpSend(t, l, p, "sms", "login_or_create", map[string]any{"phone_number": "+14155552711"})
		otpFailTimes(t, p, phoneID, code, 4)
		if u := mlUser(t, p, user); u.Get("is_locked") != false {
			t.Fatalf("locked after 9: %s", u.Raw)
		}
		otpAuth(t, p, map[string]any{"method_id": phoneID, "code": otpWrong(code, 4)})
		if u := mlUser(t, p, user); u.Get("is_locked") != true {
			t.Fatalf("not locked after 10 failures across resends: %s", u.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code}, http.StatusTooManyRequests, "user_lock_limit_reached")
	})
}

// A code sent to phone A does not authenticate phone B.
func TestPasscodeForPhoneARefusedWithPhoneBsMethodID(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Phones")
		a, user, codeA := otpSMS(t, l, p, "+14155552721")
		sentB, codeB := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552722", "user_id": user})
		b := sentB.Str("phone_id")
		for codeA == codeB { // one chance in a million
			_, codeB = otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552722"})
		}
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": b, "code": codeA}, http.StatusNotFound, "otp_code_not_found")
		if otpPhoneVerified(t, mlUser(t, p, user), "phone_numbers", "+14155552722") {
			t.Fatal("phone B verified by phone A's code")
		}
		r := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": a, "code": codeA})
		if r.Str("method_id") != a {
			t.Errorf("method_id %q, want %q", r.Str("method_id"), a)
		}
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": b, "code": codeB})
	})
}

// 20 concurrent authenticates of one code: exactly one success.
func TestTwentyConcurrentAuthenticatesOfOneCode(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Race")
		phoneID, user, code := otpSMS(t, l, p, "+14155552731")
		const n = 20
		var wg sync.WaitGroup
		results := make([]latchtest.Response, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = otpAuth(t, p, map[string]any{"method_id": phoneID, "code": code, "session_duration_minutes": 60})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch {
			case r.Status == 200:
				ok++
			case r.Status == 401 && r.ErrorType() == "unable_to_auth_otp_code":
			default:
				t.Errorf("unexpected reply: %d %s", r.Status, r.Raw)
			}
		}
		if ok != 1 {
			t.Fatalf("%d successes, want exactly 1", ok)
		}
		if got := sessIDs(t, p, user); len(got) != 1 {
			t.Fatalf("want exactly 1 session, got %v", got)
		}
	})
}

// Another user's method is refused in a session (400 user_id_mismatch),
// nothing attached, the code not spent; sending with the session to another
// user's phone is a duplicate.
func TestPasscodeOfAnotherUserRefusedInTheSession(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Mismatch")
		x := sessLogin(t, l, p, "xena@example.com", 60)
		yPhone, y, code := otpSMS(t, l, p, "+14155552741")

		for _, by := range []map[string]any{{"session_token": x.Str("session_token")}, {"session_jwt": x.Str("session_jwt")}} {
			body := map[string]any{"method_id": yPhone, "code": code}
			for k, v := range by {
				body[k] = v
			}
			p.Fail(t, http.MethodPost, "/v1/otps/authenticate", body, http.StatusBadRequest, "user_id_mismatch")
		}
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": x.Str("session_token")})
		if got := sessFactors(r, "session"); len(got) != 1 || r.Str("user.user_id") != x.Str("user_id") {
			t.Fatalf("X's session changed: %v %s", got, r.Raw)
		}
		if n := len(mlUser(t, p, x.Str("user_id")).Get("phone_numbers").([]any)); n != 0 {
			t.Fatalf("a phone was attached to X: %d", n)
		}
		if otpPhoneVerified(t, mlUser(t, p, y), "phone_numbers", "+14155552741") {
			t.Fatal("Y's phone was verified by the refused attempt")
		}
		// Sending with X's session to Y's phone.
		p.Fail(t, http.MethodPost, "/v1/otps/sms/send", map[string]any{"phone_number": "+14155552741", "session_token": x.Str("session_token")}, http.StatusBadRequest, "duplicate_phone_number")
		p.Fail(t, http.MethodPost, "/v1/otps/email/send", map[string]any{"email": "xena@example.com", "user_id": y}, http.StatusBadRequest, "duplicate_email")
		if n := len(mlUser(t, p, x.Str("user_id")).Get("phone_numbers").([]any)); n != 0 {
			t.Fatalf("a phone was attached to X: %d", n)
		}
		// Y's code was not spent.
		a := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": yPhone, "code": code, "session_duration_minutes": 60})
		if a.Str("user_id") != y {
			t.Fatalf("user_id %q, want %q", a.Str("user_id"), y)
		}
	})
}

// Sandbox: +10000000000 and sandbox@stytch.com send nothing and accept
// 000000, in test projects only.
func TestPasscodeSandboxValues(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Sandbox")
		sms := p.OK(t, http.MethodPost, "/v1/otps/sms/send", map[string]any{"phone_number": "+10000000000"})
		wa := p.OK(t, http.MethodPost, "/v1/otps/whatsapp/login_or_create", map[string]any{"phone_number": "+10000000000"})
		em := p.OK(t, http.MethodPost, "/v1/otps/email/send", map[string]any{"email": "sandbox@stytch.com"})
		for _, r := range []latchtest.Response{sms, wa} {
			a := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": "000000", "session_duration_minutes": 60})
			if a.Str("user_id") != "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd" || a.Str("session_jwt") == "" {
				t.Fatalf("sandbox phone: %s", a.Raw)
			}
			p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": "123456"}, http.StatusNotFound, "otp_code_not_found")
		}
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": em.Str("email_id"), "code": "000000"})
		if mlQueued(t, l, "+10000000000")+mlQueued(t, l, "sandbox@stytch.com") != 0 {
			t.Fatal("a sandbox value got a message")
		}

		live := sessLiveProject(t, l, "Live")
		live.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": sms.Str("phone_id"), "code": "000000"}, http.StatusNotFound, "otp_code_not_found")
		live.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": em.Str("email_id"), "code": "000000"}, http.StatusNotFound, "otp_code_not_found")
		// In a live project sandbox@stytch.com is an ordinary address: a real code goes out.
		r := live.OK(t, http.MethodPost, "/v1/otps/email/login_or_create", map[string]any{"email": "sandbox@stytch.com"})
		if strings.HasPrefix(r.Str("user_id"), "user-test-") {
			t.Fatalf("live project answered with the sandbox user: %s", r.Raw)
		}
		m := l.Mail.WaitFor(t, "sandbox@stytch.com", 1)
		live.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("email_id"), "code": otpWrong(latchtest.Code(t, m.Text), 0)}, http.StatusNotFound, "otp_code_not_found")
	})
}

// A Twilio outage loses no passcode: the 200 comes at once and the message
// goes out when Twilio answers again.
func TestPasscodeSurvivesTwilioOutage(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Outage")
		l.SMS.Refuse(http.StatusServiceUnavailable)
		r := p.OK(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": "+14155552751"})
		deadline := time.Now().Add(10 * time.Second)
		for {
			ms, err := l.App.Store.ListMessages(context.Background(), "+14155552751", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 {
				t.Fatalf("want 1 queued message, got %d", len(ms))
			}
			// The failure recorded, not only the claim (which counts the
			// attempt before the delivery): a failure recorded after the
			// clock moves on below would be due after the clock's new time.
			if ms[0].Attempts > 0 && ms[0].LastError != "" && ms[0].SentAt == nil && ms[0].DeadAt == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed delivery attempt: %+v", ms[0])
			}
			time.Sleep(20 * time.Millisecond)
		}
		l.SMS.Refuse(0)
		l.Clock.Advance(10 * time.Minute) // past the retry backoff (and the code's 2 min)
		m := l.SMS.WaitFor(t, "+14155552751", 1)
		// The code expired while Twilio was down; a fresh one works.
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": latchtest.Code(t, m.Body)}, http.StatusUnauthorized, "unable_to_auth_otp_code")
		_, code := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155552751"})
		p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": r.Str("phone_id"), "code": code})
	})
}

// 20 wrong guesses at once: exactly 5 are compared (404), the rest find
// the code dead (401); only those 5 count against the user, who is not
// locked; the right code after is refused.
func TestConcurrentWrongGuessesAreCappedAtFive(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Guessers")
		phoneID, user, code := otpSMS(t, l, p, "+14155552761")
		const n = 20
		var wg sync.WaitGroup
		results := make([]latchtest.Response, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = otpAuth(t, p, map[string]any{"method_id": phoneID, "code": otpWrong(code, i)})
			})
		}
		close(start)
		wg.Wait()
		wrong, dead := 0, 0
		for _, r := range results {
			switch {
			case r.Status == 404 && r.ErrorType() == "otp_code_not_found":
				wrong++
			case r.Status == 401 && r.ErrorType() == "unable_to_auth_otp_code":
				dead++
			default:
				t.Errorf("unexpected reply: %d %s", r.Status, r.Raw)
			}
		}
		if wrong != 5 || dead != n-5 {
			t.Fatalf("%d compared and %d refused unread, want 5 and %d", wrong, dead, n-5)
		}
		if u := mlUser(t, p, user); u.Get("is_locked") != false {
			t.Fatalf("locked by guesses that were never compared: %s", u.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": code}, http.StatusUnauthorized, "unable_to_auth_otp_code")
	})
}

// A double-clicked "send me a code" for a new address: concurrent
// login_or_create calls all succeed with one user, created once, on every
// channel (never duplicate_email / duplicate_phone_number).
func TestConcurrentLoginOrCreateMakesOneUser(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Double Click")
		for _, c := range []struct {
			path string
			body map[string]any
		}{
			{"/v1/otps/sms/login_or_create", map[string]any{"phone_number": "+14155552799"}},
			{"/v1/otps/whatsapp/login_or_create", map[string]any{"phone_number": "+14155552798"}},
			{"/v1/otps/email/login_or_create", map[string]any{"email": "dup.otp@example.com"}},
			{"/v1/magic_links/email/login_or_create", map[string]any{"email": "dup.link@example.com"}},
		} {
			const n = 5 // the per-recipient send limit
			var wg sync.WaitGroup
			results := make([]latchtest.Response, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					results[i] = p.Do(t, http.MethodPost, c.path, c.body)
				})
			}
			close(start)
			wg.Wait()
			created, users := 0, map[string]bool{}
			for _, r := range results {
				if r.Status != 200 {
					t.Errorf("%s: %d %s", c.path, r.Status, r.Raw)
					continue
				}
				users[r.Str("user_id")] = true
				if r.Get("user_created") == true {
					created++
				}
			}
			if len(users) != 1 || created != 1 {
				t.Errorf("%s: %d users, %d created; want 1 and 1", c.path, len(users), created)
			}
		}
	})
}
