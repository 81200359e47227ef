package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// The frontend SDK's /sdk/v1, called as @stytch/vanilla-js 6.3.0 calls it
// (latchtest.SDK), through real HTTP on both backends.

const sdkOrigin = "http://localhost:3000"

var sdkSeq atomic.Int64

func sdkEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@example.com", prefix, sdkSeq.Add(1))
}

func sdkPhone() string { return fmt.Sprintf("+1202555%04d", sdkSeq.Add(1)%10000) }

// sdkLogin logs a new user in by email magic link with PKCE, as the SDK
// does, and returns the client with its session token.
func sdkLogin(t *testing.T, l *latchtest.Latch, c latchtest.SDK, addr string) (latchtest.SDK, latchtest.SDKResponse) {
	t.Helper()
	verifier, challenge := mlPKCE()
	m := l.Mail.Next(t, addr, func() {
		c.OK(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{
			"email": addr, "login_magic_link_url": latchtest.DefaultRedirect, "signup_magic_link_url": latchtest.DefaultRedirect,
			"code_challenge": challenge, "captcha_token": nil, "dfp_telemetry_id": nil,
		})
	})
	r := c.OK(t, http.MethodPost, "/magic_links/authenticate", map[string]any{
		"token": latchtest.LinkToken(t, m), "code_verifier": verifier, "session_duration_minutes": 60,
	})
	c.Session = r.DataStr("session_token")
	if c.Session == "" || r.DataStr("session_jwt") == "" || r.DataStr("session.session_id") == "" || r.DataStr("user.user_id") == "" {
		t.Fatalf("login answer lacks the session or user: %s", r.Raw)
	}
	return c, r
}

func TestSDKBootstrapNamesTheProjectAndRequiresPKCE(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "Acme", sdkOrigin)
		r := c.OK(t, http.MethodGet, "/projects/bootstrap/"+c.PublicToken, nil)
		if r.DataStr("project_name") != "Acme" || r.Data("pkce_required_for_email_magic_links") != true || r.Data("password_config") != nil {
			t.Fatalf("bootstrap: %s", r.Raw)
		}
		if r.Data("captcha_settings.enabled") != false || r.Data("disable_sdk_watermark") != true {
			t.Fatalf("bootstrap: %s", r.Raw)
		}
		// Another project's token in the path is not this caller's.
		_, other := l.NewSDKProject(t, "Other", sdkOrigin)
		c.Fail(t, http.MethodGet, "/projects/bootstrap/"+other.PublicToken, nil, 401, "unauthorized_credentials")
	})
}

// A user logs in with a magic link, stays logged in (the SDK's refresh),
// reads and changes their own name, and logs out; the session is then gone.
func TestSDKMagicLinkLoginRefreshAndLogout(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, c := l.NewSDKProject(t, "Login", sdkOrigin)
		addr := sdkEmail("sdk-login")
		c, login := sdkLogin(t, l, c, addr)

		if login.DataStr("session.attributes.ip_address") != "127.0.0.1" || login.DataStr("session.attributes.user_agent") != "Go-http-client/1.1" {
			t.Fatalf("the session does not record the browser's address and agent: %s", login.Raw)
		}
		r := c.OK(t, http.MethodPost, "/sessions/authenticate", map[string]any{"session_duration_minutes": 120})
		if r.DataStr("session.session_id") != login.DataStr("session.session_id") || r.DataStr("session_token") != c.Session || r.DataStr("user.user_id") == "" {
			t.Fatalf("refresh: %s", r.Raw)
		}
		me := c.OK(t, http.MethodGet, "/users/me", nil)
		if me.DataStr("user_id") != login.DataStr("user_id") || me.DataStr("status") != "active" {
			t.Fatalf("users/me: %s", me.Raw)
		}
		up := c.OK(t, http.MethodPut, "/users/me", map[string]any{"name": map[string]any{"first_name": "Ada"}, "untrusted_metadata": map[string]any{"theme": "dark"}})
		if up.DataStr("__user.name.first_name") != "Ada" || up.Data("__user.untrusted_metadata.theme") != "dark" || up.DataStr("user_id") != login.DataStr("user_id") {
			t.Fatalf("update: %s", up.Raw)
		}
		// The backend sees the same session until the SDK revokes it.
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": c.Session})
		c.OK(t, http.MethodPost, "/sessions/revoke", nil)
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": c.Session}, 404, "session_not_found")
		c.Fail(t, http.MethodPost, "/sessions/authenticate", map[string]any{}, 404, "session_not_found")
	})
}

// The SDK's magic link without its code_verifier (another browser) fails.
func TestSDKMagicLinkNeedsTheVerifierOfItsChallenge(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "PKCE", sdkOrigin)
		addr := sdkEmail("sdk-pkce")
		c.Fail(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{"email": addr}, 400, "pkce_required")
		_, challenge := mlPKCE()
		m := l.Mail.Next(t, addr, func() {
			c.OK(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{"email": addr, "code_challenge": challenge})
		})
		c.Fail(t, http.MethodPost, "/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, m), "session_duration_minutes": 60}, 400, "pkce_expected_code_verifier")
	})
}

// Passcodes by SMS, WhatsApp and email: the answer's method_id is what
// the SDK's UI passes back with the code.
func TestSDKPasscodeLoginOnEveryChannel(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "OTP", sdkOrigin)
		for _, ch := range []string{"sms", "whatsapp", "email"} {
			var send latchtest.SDKResponse
			var code string
			if ch == "email" {
				addr := sdkEmail("sdk-otp")
				m := l.Mail.Next(t, addr, func() {
					send = c.OK(t, http.MethodPost, "/otps/email/login_or_create", map[string]any{"email": addr, "expiration_minutes": 5})
				})
				code = latchtest.Code(t, m.Text)
			} else {
				phone := sdkPhone()
				to := phone
				if ch == "whatsapp" {
					to = "whatsapp:" + phone
				}
				m := l.SMS.Next(t, to, func() {
					send = c.OK(t, http.MethodPost, "/otps/"+ch+"/login_or_create", map[string]any{"phone_number": phone})
				})
				code = latchtest.Code(t, m.Body)
			}
			if send.DataStr("method_id") == "" || send.Data("user_id") != nil {
				t.Fatalf("%s send: want method_id only: %s", ch, send.Raw)
			}
			r := c.OK(t, http.MethodPost, "/otps/authenticate", map[string]any{"token": code, "method_id": send.DataStr("method_id"), "session_duration_minutes": 30})
			if r.DataStr("session_token") == "" || r.DataStr("method_id") != send.DataStr("method_id") {
				t.Fatalf("%s authenticate: %s", ch, r.Raw)
			}
		}
	})
}

// A signed-in user attaches a phone with send/secondary, and deletes their
// own phone and email; another user's are not found and stay.
func TestSDKUserDeletesOnlyTheirOwnEmailAndPhone(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, c := l.NewSDKProject(t, "Mine", sdkOrigin)
		alice, _ := sdkLogin(t, l, c, sdkEmail("alice"))
		bob, bobLogin := sdkLogin(t, l, c, sdkEmail("bob"))
		bobID := bobLogin.DataStr("user_id")
		emails, _ := bobLogin.Data("user.emails").([]any)
		bobEmail := emails[0].(map[string]any)["email_id"].(string)

		// Bob adds a phone to his own account: send/secondary, then the code.
		phone := sdkPhone()
		var sent latchtest.SDKResponse
		m := l.SMS.Next(t, phone, func() {
			sent = bob.OK(t, http.MethodPost, "/otps/sms/send/secondary", map[string]any{"phone_number": phone})
		})
		r := bob.OK(t, http.MethodPost, "/otps/authenticate", map[string]any{"token": latchtest.Code(t, m.Body), "method_id": sent.DataStr("method_id"), "session_duration_minutes": 60})
		if r.DataStr("user_id") != bobID || r.DataStr("session_token") != bob.Session {
			t.Fatalf("the phone did not join Bob's session: %s", r.Raw)
		}
		bobPhone := sent.DataStr("method_id")

		alice.Fail(t, http.MethodDelete, "/users/emails/"+bobEmail, nil, 404, "email_not_found")
		alice.Fail(t, http.MethodDelete, "/users/phone_numbers/"+bobPhone, nil, 404, "phone_number_not_found")
		u := p.OK(t, http.MethodGet, "/v1/users/"+bobID, nil)
		if !strings.Contains(string(u.Raw), bobEmail) || !strings.Contains(string(u.Raw), bobPhone) {
			t.Fatalf("Bob's email or phone went: %s", u.Raw)
		}
		d := bob.OK(t, http.MethodDelete, "/users/phone_numbers/"+bobPhone, nil)
		if phones, _ := d.Data("__user.phone_numbers").([]any); len(phones) != 0 || d.DataStr("user_id") != bobID {
			t.Fatalf("delete own phone: %s", d.Raw)
		}
		d = bob.OK(t, http.MethodDelete, "/users/emails/"+bobEmail, nil)
		if emails, _ := d.Data("__user.emails").([]any); len(emails) != 0 {
			t.Fatalf("delete own email: %s", d.Raw)
		}
	})
}

// A public token alone reads and changes nothing of any user's.
func TestSDKPublicTokenAloneReadsNothing(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "Public", sdkOrigin)
		sdkLogin(t, l, c, sdkEmail("victim"))
		for _, call := range []struct{ method, path string }{
			{http.MethodGet, "/users/me"}, {http.MethodPut, "/users/me"},
			{http.MethodPost, "/sessions/authenticate"}, {http.MethodPost, "/sessions/revoke"},
			{http.MethodDelete, "/users/emails/email-test-00000000-0000-4000-8000-000000000000"},
			{http.MethodPost, "/magic_links/email/send/secondary"}, {http.MethodPost, "/otps/sms/send/secondary"},
		} {
			c.Fail(t, call.method, call.path, map[string]any{"email": "x@example.com", "phone_number": "+12025550100", "code_challenge": "x"}, 401, "user_unauthenticated")
		}
		// The sandbox's fixed session tokens name no one through the SDK.
		c.Session = "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"
		c.Fail(t, http.MethodGet, "/users/me", nil, 404, "session_not_found")
	})
}

// sessions/authenticate and revoke act on the session of the Basic
// password only: a body naming another session is not read.
func TestSDKSessionRoutesActOnlyOnTheirOwnSession(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, c := l.NewSDKProject(t, "Own", sdkOrigin)
		alice, _ := sdkLogin(t, l, c, sdkEmail("alice"))
		bob, bobLogin := sdkLogin(t, l, c, sdkEmail("bob"))
		r := alice.OK(t, http.MethodPost, "/sessions/authenticate", map[string]any{"session_token": bob.Session, "session_jwt": bobLogin.DataStr("session_jwt")})
		if r.DataStr("session_token") != alice.Session {
			t.Fatalf("authenticate followed the body: %s", r.Raw)
		}
		alice.OK(t, http.MethodPost, "/sessions/revoke", map[string]any{"session_token": bob.Session, "session_id": bobLogin.DataStr("session.session_id")})
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": bob.Session})
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": alice.Session}, 404, "session_not_found")
		// users/me with Bob's token in the body is still Alice's... and
		// Alice, logged out, is nobody.
		alice.Fail(t, http.MethodGet, "/users/me", nil, 404, "session_not_found")
	})
}

// Only the fields a browser may set reach the user: trusted metadata,
// roles and external_id in a users/me update are not read.
func TestSDKUpdateMeChangesOnlyNameAndUntrustedMetadata(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, c := l.NewSDKProject(t, "Fields", sdkOrigin)
		c, login := sdkLogin(t, l, c, sdkEmail("fields"))
		c.OK(t, http.MethodPut, "/users/me", map[string]any{"trusted_metadata": map[string]any{"admin": true}, "roles": []string{"admin"}, "external_id": "x1"})
		u := p.OK(t, http.MethodGet, "/v1/users/"+login.DataStr("user_id"), nil)
		if u.Get("trusted_metadata.admin") != nil || u.Get("external_id") != nil || len(u.Get("roles").([]any)) != 0 {
			t.Fatalf("the browser changed a trusted field: %s", u.Raw)
		}
	})
}

// Redirect URLs are held to the project's allow-list, as on the backend.
func TestSDKMagicLinkRedirectMustBeAllowed(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "Redirect", sdkOrigin)
		_, challenge := mlPKCE()
		c.Fail(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{
			"email": sdkEmail("redirect"), "code_challenge": challenge, "login_magic_link_url": "https://evil.example/steal",
		}, 400, "no_match_for_provided_magic_link_url")
	})
}

// Routes Latch does not serve answer the SDK's error, at once.
func TestSDKUnservedRoutesAnswerNotSupported(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "Unserved", sdkOrigin)
		for _, call := range []struct{ method, path string }{
			{http.MethodPost, "/passwords/authenticate"}, {http.MethodGet, "/oauth/google/start"},
			{http.MethodGet, "/sessions/authenticate"}, {http.MethodDelete, "/users/totps/x"},
		} {
			r := c.Fail(t, call.method, call.path, nil, 404, "feature_not_supported")
			if r.Header.Get("Access-Control-Allow-Origin") != sdkOrigin {
				t.Fatalf("%s %s: the page cannot read the error: %v", call.method, call.path, r.Header)
			}
		}
		ev := c.Send(t, c.Request(t, http.MethodPost, "/sdk/v1/events", `[{"telemetry":{},"event":{"public_token":"`+c.PublicToken+`","event_name":"x"}}]`))
		if ev.Status != 200 {
			t.Fatalf("events: %d %s", ev.Status, ev.Raw)
		}
	})
}

// A link of another user opened in a browser signed in as someone else is
// refused (the backend's user_id_mismatch) and not used up: signed out,
// the same browser logs in with it.
func TestSDKAnotherUsersLinkWhileSignedInIsRefusedAndKept(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "Switch", sdkOrigin)
		alice, _ := sdkLogin(t, l, c, sdkEmail("alice"))
		bobAddr := sdkEmail("bob")
		_, bob := sdkLogin(t, l, c, bobAddr)
		verifier, challenge := mlPKCE()
		m := l.Mail.Next(t, bobAddr, func() {
			alice.OK(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{"email": bobAddr, "code_challenge": challenge})
		})
		body := map[string]any{"token": latchtest.LinkToken(t, m), "code_verifier": verifier, "session_duration_minutes": 60}
		alice.Fail(t, http.MethodPost, "/magic_links/authenticate", body, 400, "user_id_mismatch")
		alice.OK(t, http.MethodPost, "/sessions/revoke", nil)
		alice.Session = ""
		if r := alice.OK(t, http.MethodPost, "/magic_links/authenticate", body); r.DataStr("user_id") != bob.DataStr("user_id") {
			t.Fatalf("signed out, the link is not Bob's login: %s", r.Raw)
		}
	})
}

// A live project's public token is public-token-live-…, and its SDK
// answers carry live request ids.
func TestSDKLiveProjectsHaveLiveTokens(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{})
	cp, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: "Live", Live: true, SDKOrigins: []string{sdkOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cp.PublicToken, "public-token-live-") {
		t.Fatalf("public token %q", cp.PublicToken)
	}
	c := latchtest.SDK{URL: l.URL, PublicToken: cp.PublicToken, Origin: sdkOrigin}
	r := c.OK(t, http.MethodGet, "/projects/bootstrap/"+cp.PublicToken, nil)
	if !strings.HasPrefix(r.Str("request_id"), "request-id-live-") {
		t.Fatalf("request id: %s", r.Raw)
	}
}

// With PKCE turned off for the project (latch project sdk-settings
// --pkce-required false), bootstrap says so and a link sent without a
// code_challenge logs in from any browser.
func TestSDKMagicLinksWithoutPKCEWhenTheProjectTurnsItOff(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "NoPKCE", sdkOrigin)
		p, err := l.App.Store.GetProject(context.Background(), c.ProjectID)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.App.Service.SetSDKPKCERequired(context.Background(), p, false); err != nil {
			t.Fatal(err)
		}
		if r := c.OK(t, http.MethodGet, "/projects/bootstrap/"+c.PublicToken, nil); r.Data("pkce_required_for_email_magic_links") != false {
			t.Fatalf("bootstrap: %s", r.Raw)
		}
		addr := sdkEmail("nopkce")
		m := l.Mail.Next(t, addr, func() {
			c.OK(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{"email": addr})
		})
		other := c // another browser: no verifier
		if r := other.OK(t, http.MethodPost, "/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, m), "session_duration_minutes": 60}); r.DataStr("session_token") == "" {
			t.Fatalf("login: %s", r.Raw)
		}
	})
}
