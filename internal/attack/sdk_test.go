package attack

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Test14SDK (issue 14): a public token is in every page's source and
// proves nothing but the project. Through /sdk/v1 an attacker holding it
// (and a session of their own) reads and changes nothing but their own
// user, acts on no other session, sends to no URL off the allow-list, and
// is held to the send limits, counted in the database across nodes.

const sdkPage = "https://app.example"

// sdkDo sends one SDK call and returns it as a resp, for refused().
func sdkDo(t *testing.T, c latchtest.SDK, method, path string, body any) resp {
	t.Helper()
	r := c.Do(t, method, path, body)
	return resp{Response: r.Response, Header: r.Header}
}

func Test14SDKPublicTokenReadsAndChangesNoOneElse(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p, pub := l.NewSDKProject(t, "sdk-attack", sdkPage)
		victim := newLogin(t, p)
		victimUser := ok(t, p, http.MethodGet, "/v1/users/"+victim.UserID, nil)
		victimEmail := victimUser.Str("emails.0.email_id")
		if emails, _ := victimUser.Get("emails").([]any); victimEmail == "" && len(emails) > 0 {
			victimEmail, _ = emails[0].(map[string]any)["email_id"].(string)
		}
		attacker := pub
		attacker.Session = newLogin(t, p).Token

		// The public token alone: nobody's data, no session acted on.
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/users/me"}, {http.MethodPut, "/users/me"}, {http.MethodPost, "/sessions/revoke"},
			{http.MethodPost, "/sessions/authenticate"}, {http.MethodDelete, "/users/emails/" + victimEmail},
		} {
			refused(t, "public token alone: "+c.method+" "+c.path, sdkDo(t, pub, c.method, c.path,
				map[string]any{"session_token": victim.Token, "session_jwt": victim.JWT, "user_id": victim.UserID}), 401, "user_unauthenticated")
		}
		// The public token is no backend credential.
		asBackend := latchtest.Project{ID: pub.PublicToken, Secret: pub.PublicToken, URL: l.URL}
		refused(t, "public token on the backend API", do(t, asBackend, http.MethodGet, "/v1/users/"+victim.UserID, nil), 401, "unauthorized_credentials")
		// A JWT, a session id or another project's token is no SDK session.
		for what, pass := range map[string]string{"victim's JWT": victim.JWT, "victim's session id": victim.SessionID} {
			c := pub
			c.Session = pass
			refused(t, what+" as the Basic password", sdkDo(t, c, http.MethodGet, "/users/me", nil), 404, "session_not_found")
		}
		other, otherPub := l.NewSDKProject(t, "sdk-attack-other", sdkPage)
		otherSession := newLogin(t, other).Token
		cross := pub
		cross.Session = otherSession
		refused(t, "another project's session", sdkDo(t, cross, http.MethodGet, "/users/me", nil), 404, "session_not_found")
		cross = otherPub
		cross.Session = victim.Token
		refused(t, "the victim's session under another project's token", sdkDo(t, cross, http.MethodGet, "/users/me", nil), 404, "session_not_found")

		// With a session of their own: the victim's email, session and
		// fields stay as they were.
		refused(t, "delete the victim's email", sdkDo(t, attacker, http.MethodDelete, "/users/emails/"+victimEmail, nil), 404, "email_not_found")
		attacksTried.Add(3)
		attacker.OK(t, http.MethodPut, "/users/me", map[string]any{"user_id": victim.UserID, "name": map[string]any{"first_name": "Mallory"}, "trusted_metadata": map[string]any{"admin": true}})
		attacker.OK(t, http.MethodPost, "/sessions/authenticate", map[string]any{"session_token": victim.Token, "session_duration_minutes": 5})
		// The attacker's own trusted metadata did not change either.
		me := attacker.OK(t, http.MethodGet, "/users/me", nil)
		if me.Data("trusted_metadata.admin") != nil {
			t.Errorf("the browser set trusted metadata: %s", me.Raw)
		}
		for what, secret := range map[string]string{"the victim's session token": victim.Token, "the attacker's session token": attacker.Session, "a session JWT": victim.JWT} {
			if strings.Contains(l.Logs.String(), secret) {
				t.Errorf("the log holds %s", what)
			}
		}
		attacker.OK(t, http.MethodPost, "/sessions/revoke", map[string]any{"session_token": victim.Token, "session_id": victim.SessionID, "user_id": victim.UserID})
		after := ok(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": victim.Token})
		if after.Str("session.expires_at") != victim.ExpiresAt {
			t.Errorf("the victim's session changed: %s → %s", victim.ExpiresAt, after.Str("session.expires_at"))
		}
		u := ok(t, p, http.MethodGet, "/v1/users/"+victim.UserID, nil)
		if u.Str("name.first_name") != "" || u.Get("trusted_metadata.admin") != nil || len(u.Get("emails").([]any)) != 1 {
			t.Errorf("the victim's user changed: %s", u.Raw)
		}
	})
}

// Redirect URLs off the allow-list are refused through the SDK as on the
// backend, and nothing is queued.
func Test14SDKRedirectsHeldToTheAllowList(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		_, c := l.NewSDKProject(t, "sdk-redirects", sdkPage)
		addr := email("sdk-redirect")
		for _, u := range []string{"https://evil.example/authenticate", "https://app.example@evil.example/authenticate", "https://app.example.evil.example/authenticate", "http://app.example/authenticate"} {
			for _, field := range []string{"login_magic_link_url", "signup_magic_link_url"} {
				refused(t, field+" "+u, sdkDo(t, c, http.MethodPost, "/magic_links/email/login_or_create",
					map[string]any{"email": addr, "code_challenge": "x", field: u}), 400, "no_match_for_provided_magic_link_url")
			}
		}
		if n := outboxTo(t, l, addr); n != 0 {
			t.Fatalf("%d messages queued to %s", n, addr)
		}
	})
}

// One recipient gets at most 5 messages a minute however the SDK's calls
// are spread over two nodes; a page at another origin sends none at all.
func Test14SDKSendLimitsHoldAcrossNodes(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		a, b := twoNodes(t, backend)
		_, ca := a.NewSDKProject(t, "sdk-limits", sdkPage)
		cb := ca
		cb.URL = b.URL
		addr := email("sdk-flood")
		for i := range 5 {
			c := ca
			if i%2 == 1 {
				c = cb
			}
			c.OK(t, http.MethodPost, "/otps/email/login_or_create", map[string]any{"email": addr})
		}
		for _, c := range []latchtest.SDK{ca, cb} {
			refused(t, "6th send to one address", sdkDo(t, c, http.MethodPost, "/otps/email/login_or_create", map[string]any{"email": addr}), 429, "too_many_requests")
		}
		evil := ca
		evil.Origin = "https://evil.example"
		victim := email("sdk-evil")
		refused(t, "send from an unauthorized page", sdkDo(t, evil, http.MethodPost, "/otps/email/login_or_create", map[string]any{"email": victim}), 403, "invalid_request_origin")
		if n := outboxTo(t, a, victim); n != 0 {
			t.Fatalf("%d messages queued from an unauthorized page", n)
		}
	})
}
