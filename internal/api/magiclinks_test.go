package api_test

// Email magic links end to end (issue 3): the real HTTP API, a real SMTP
// server receiving the email, the injected clock for expiry.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

var mlURLPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// mlLinkIn finds the one magic-link URL in a text and parses it.
func mlLinkIn(t *testing.T, text string) (string, *url.URL) {
	t.Helper()
	var found []string
	for _, u := range mlURLPattern.FindAllString(text, -1) {
		if strings.Contains(u, "token=") {
			found = append(found, u)
		}
	}
	if len(found) == 0 {
		t.Fatalf("no link in %q", text)
	}
	u, err := url.Parse(found[0])
	if err != nil {
		t.Fatal(err)
	}
	return found[0], u
}

// mlQueued lists what the outbox holds for recipient.
func mlQueued(t *testing.T, l *latchtest.Latch, recipient string) int {
	t.Helper()
	ms, err := l.App.Store.ListMessages(context.Background(), recipient, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// mlUser GETs a user.
func mlUser(t *testing.T, p latchtest.Project, id string) latchtest.Response {
	t.Helper()
	return p.OK(t, http.MethodGet, "/v1/users/"+id, nil)
}

// mlEmailVerified reads the verified flag of addr on a user reply whose
// emails are at path ("emails" or "user.emails").
func mlEmailVerified(t *testing.T, r latchtest.Response, path, addr string) bool {
	t.Helper()
	es, _ := r.Get(path).([]any)
	for _, e := range es {
		m := e.(map[string]any)
		if m["email"] == addr {
			return m["verified"].(bool)
		}
	}
	t.Fatalf("no email %s at %s: %s", addr, path, r.Raw)
	return false
}

func mlPKCE() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = hex.EncodeToString(b) // a hex verifier, as browsers make
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// The email: text and HTML, a subject naming the project, and the link
// <redirect_url>?stytch_token_type=magic_links&token=<token>. Signup for a
// new or pending user, login for an active one.
func TestMagicLinkEmailCarriesTheLink(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Acme Widgets")
		r, m, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "Lee@Example.com"})
		if r.Get("user_created") != true || !strings.HasPrefix(r.Str("user_id"), "user-test-") || !strings.HasPrefix(r.Str("email_id"), "email-test-") {
			t.Fatalf("login_or_create reply: %s", r.Raw)
		}
		if len(tok) != 44 || !strings.HasSuffix(tok, "=") {
			t.Errorf("token %q: want 44 base64url characters with padding", tok)
		}
		if _, err := base64.URLEncoding.DecodeString(tok); err != nil {
			t.Errorf("token %q is not base64url: %v", tok, err)
		}
		if !strings.Contains(m.Subject, "Acme Widgets") || !strings.Contains(strings.ToLower(m.Subject), "sign") {
			t.Errorf("signup subject %q does not name the project", m.Subject)
		}
		for name, body := range map[string]string{"text": m.Text, "html": html.UnescapeString(m.HTML)} {
			raw, u := mlLinkIn(t, body)
			if u.Scheme+"://"+u.Host+u.Path != latchtest.DefaultRedirect {
				t.Errorf("%s link %q does not go to %s", name, raw, latchtest.DefaultRedirect)
			}
			q := u.Query()
			if len(q) != 2 || q.Get("stytch_token_type") != "magic_links" || q.Get("token") != tok {
				t.Errorf("%s link %q: want exactly stytch_token_type=magic_links and token=%s", name, raw, tok)
			}
		}
		if !strings.Contains(m.HTML, "<a ") {
			t.Errorf("HTML part has no link: %q", m.HTML)
		}
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})

		// Now active: a login email, no new user.
		r, m, _ = mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "lee@example.com"})
		if r.Get("user_created") != false || r.Str("user_id") == "" {
			t.Fatalf("second login_or_create: %s", r.Raw)
		}
		if !strings.Contains(m.Subject, "Acme Widgets") || !strings.Contains(strings.ToLower(m.Subject), "log") {
			t.Errorf("login subject %q", m.Subject)
		}
	})
}

// Authenticate: single use, 401 when used, 404 when unknown; success
// verifies the email and makes a pending user active; no session unless
// asked for; reset_sessions false.
func TestMagicLinkAuthenticateOnceAndVerifies(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Once")
		sent, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "max@example.com", "create_user_as_pending": true})
		if u := mlUser(t, p, sent.Str("user_id")); u.Str("status") != "pending" || mlEmailVerified(t, u, "emails", "max@example.com") {
			t.Fatalf("before: want pending and unverified: %s", u.Raw)
		}
		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})
		if r.Str("user_id") != sent.Str("user_id") || r.Str("method_id") != sent.Str("email_id") {
			t.Errorf("user_id/method_id: %s", r.Raw)
		}
		if r.Str("session_token") != "" || r.Str("session_jwt") != "" || r.Get("session") != nil {
			t.Errorf("no session asked for, got one: %s", r.Raw)
		}
		if v, ok := r.Get("reset_sessions").(bool); !ok || v {
			t.Errorf("reset_sessions: %v", r.Get("reset_sessions"))
		}
		if r.Str("user.status") != "active" || !mlEmailVerified(t, r, "user.emails", "max@example.com") {
			t.Errorf("reply user not active and verified: %s", r.Raw)
		}
		if u := mlUser(t, p, sent.Str("user_id")); u.Str("status") != "active" || !mlEmailVerified(t, u, "emails", "max@example.com") {
			t.Fatalf("after: want active and verified: %s", u.Raw)
		}

		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok}, http.StatusUnauthorized, "unable_to_auth_magic_link")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60}, http.StatusUnauthorized, "unable_to_auth_magic_link")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, http.StatusNotFound, "magic_link_not_found")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{}, http.StatusBadRequest, "bad_request")
		if got := sessIDs(t, p, sent.Str("user_id")); len(got) != 0 {
			t.Fatalf("sessions made by failed or session-less authenticates: %v", got)
		}
	})
}

// Expiry defaults (login 60, signup 10080, invite 60, embeddable 60 min),
// explicit values and bounds (5–10080), with the injected clock.
func TestMagicLinkExpiry(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Expiry")
		auth := func(tok string) latchtest.Response {
			return p.Do(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})
		}
		// edge sends two links by send(), lets d - 1 s pass and checks that
		// the first works, then 1 s more and checks the second is 401.
		edge := func(name string, d time.Duration, send func() string) {
			t.Helper()
			a, b := send(), send()
			l.Clock.Advance(d - time.Second)
			if r := auth(a); r.Status != 200 {
				t.Errorf("%s: refused 1 s before expiry: %s", name, r.Raw)
			}
			l.Clock.Advance(time.Second)
			if r := auth(b); r.Status != 401 || r.ErrorType() != "unable_to_auth_magic_link" {
				t.Errorf("%s: at expiry want 401 unable_to_auth_magic_link, got %s", name, r.Raw)
			}
		}
		// Signup (a new user), default 1 week.
		edge("signup default", 10080*time.Minute, func() string { return mlToken(t, l, p, "nan@example.com") })
		// Login (now active), default 60 min.
		edge("login default", 60*time.Minute, func() string { return mlToken(t, l, p, "nan@example.com") })
		// Invite, default 60 min.
		edge("invite default", 60*time.Minute, func() string {
			_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/invite", map[string]any{"email": "oto@example.com"})
			return tok
		})
		// Embeddable, default 60 min.
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "pia@example.com"}).Str("user_id")
		edge("embeddable default", 60*time.Minute, func() string {
			return p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": user}).Str("token")
		})
		// Explicit values.
		edge("login 5", 5*time.Minute, func() string {
			_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "nan@example.com", "login_expiration_minutes": 5})
			return tok
		})
		edge("signup 7", 7*time.Minute, func() string {
			_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "quin@example.com", "signup_expiration_minutes": 7, "create_user_as_pending": true})
			return tok
		})
		edge("invite 10080", 10080*time.Minute, func() string {
			_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/invite", map[string]any{"email": "ray@example.com", "invite_expiration_minutes": 10080})
			return tok
		})
		edge("embeddable 5", 5*time.Minute, func() string {
			return p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": user, "expiration_minutes": 5}).Str("token")
		})

		// Bounds.
		for _, bad := range []int{4, 10081, -5} {
			for path, field := range map[string]string{
				"/v1/magic_links/email/login_or_create": "login_expiration_minutes",
				"/v1/magic_links/email/send":            "signup_expiration_minutes",
				"/v1/magic_links/email/invite":          "invite_expiration_minutes",
			} {
				p.Fail(t, http.MethodPost, path, map[string]any{"email": "sam@example.com", field: bad}, http.StatusBadRequest, "invalid_expiration")
			}
			p.Fail(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": user, "expiration_minutes": bad}, http.StatusBadRequest, "invalid_expiration")
		}
	})
}

// The redirect URL: the project's default when absent, the caller's when on
// the allow-list (its own query kept), refused otherwise; a project without
// URLs says so per kind.
func TestMagicLinkRedirectAllowList(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Redirects", latchtest.DefaultRedirect, "https://app.example/welcome")
		p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "tia@example.com"})

		link := func(body map[string]any, path string) *url.URL {
			t.Helper()
			_, m, _ := mlSend(t, l, p, path, body)
			_, u := mlLinkIn(t, m.Text)
			return u
		}
		if u := link(map[string]any{"email": "tia@example.com"}, "/v1/magic_links/email/login_or_create"); u.Host+u.Path != "app.example/authenticate" {
			t.Errorf("default link %v", u)
		}
		if u := link(map[string]any{"email": "tia@example.com", "login_magic_link_url": "https://app.example/welcome"}, "/v1/magic_links/email/send"); u.Host+u.Path != "app.example/welcome" {
			t.Errorf("chosen link %v", u)
		}
		u := link(map[string]any{"email": "tia@example.com", "login_magic_link_url": "https://app.example/authenticate?next=%2Fhome"}, "/v1/magic_links/email/login_or_create")
		if u.Query().Get("next") != "/home" || u.Query().Get("stytch_token_type") != "magic_links" || u.Query().Get("token") == "" {
			t.Errorf("the URL's own query was not kept: %v", u)
		}
		if u := link(map[string]any{"email": "uma@example.com", "signup_magic_link_url": "https://app.example/welcome"}, "/v1/magic_links/email/login_or_create"); u.Path != "/welcome" {
			t.Errorf("signup link %v", u)
		}
		if u := link(map[string]any{"email": "vic@example.com", "invite_magic_link_url": "https://app.example/welcome"}, "/v1/magic_links/email/invite"); u.Path != "/welcome" {
			t.Errorf("invite link %v", u)
		}
		l.Clock.Advance(time.Minute) // send limit per recipient

		for _, bad := range []string{
			"https://evil.example/authenticate",
			"https://app.example.evil.example/authenticate",
			"http://app.example/authenticate",
			"https://app.example/authenticate/../admin",
			"https://app.example/Authenticate",
			"https://app.example:8443/authenticate",
			"https://attacker@app.example/authenticate",
			"https://app.example/authenticate#frag",
			"javascript:alert(1)",
			"//evil.example/authenticate",
		} {
			l.Clock.Advance(time.Minute) // refused sends count against the per-recipient limit too
			for path, field := range map[string]string{
				"/v1/magic_links/email/login_or_create": "login_magic_link_url",
				"/v1/magic_links/email/send":            "login_magic_link_url",
				"/v1/magic_links/email/invite":          "invite_magic_link_url",
			} {
				email := "tia@example.com"
				if path == "/v1/magic_links/email/invite" {
					email = "wes@example.com"
				}
				p.Fail(t, http.MethodPost, path, map[string]any{"email": email, field: bad}, http.StatusBadRequest, "no_match_for_provided_magic_link_url")
			}
			p.Fail(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "xan@example.com", "signup_magic_link_url": bad}, http.StatusBadRequest, "no_match_for_provided_magic_link_url")
		}
		if n := mlQueued(t, l, "wes@example.com") + mlQueued(t, l, "xan@example.com"); n != 0 {
			t.Fatalf("refused sends queued %d messages", n)
		}

		// A project without redirect URLs.
		cp, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: "Bare"})
		if err != nil {
			t.Fatal(err)
		}
		bare := latchtest.Project{ID: cp.Project.ID, Secret: cp.Secret, URL: l.URL}
		bare.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "yul@example.com"})
		bare.Fail(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "yul@example.com"}, http.StatusBadRequest, "no_login_redirect_urls_set")
		bare.Fail(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "zed@example.com"}, http.StatusBadRequest, "no_signup_redirect_urls_set")
		bare.Fail(t, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": "zed@example.com"}, http.StatusBadRequest, "no_invite_redirect_urls_set")
		// The failed signup created no user.
		bare.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": "zed@example.com"}, http.StatusNotFound, "email_not_found")
	})
}

// send: the address must exist, unless a user is named by user_id,
// session_token or session_jwt, in which case a new address is attached
// unverified until its link is used; another user's address is refused.
func TestMagicLinkSendAttachesAnEmail(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Attach")
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": "nobody@example.com"}, http.StatusNotFound, "email_not_found")
		if mlQueued(t, l, "nobody@example.com") != 0 {
			t.Fatal("a refused send queued a message")
		}
		login := sessLogin(t, l, p, "amy@example.com", 60)
		user := login.Str("user_id")
		other := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "ben@example.com"})

		for i, by := range []map[string]any{
			{"user_id": user},
			{"session_token": login.Str("session_token")},
			{"session_jwt": login.Str("session_jwt")},
		} {
			addr := []string{"amy.work@example.com", "amy.home@example.com", "amy.old@example.com"}[i]
			body := map[string]any{"email": addr}
			for k, v := range by {
				body[k] = v
			}
			sent, _, tok := mlSend(t, l, p, "/v1/magic_links/email/send", body)
			if sent.Str("user_id") != user {
				t.Fatalf("attached to %s, want %s", sent.Str("user_id"), user)
			}
			if mlEmailVerified(t, mlUser(t, p, user), "emails", addr) {
				t.Fatalf("%s verified before its link was used", addr)
			}
			r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})
			if r.Str("method_id") != sent.Str("email_id") || !mlEmailVerified(t, mlUser(t, p, user), "emails", addr) {
				t.Fatalf("%s not verified by its link: %s", addr, r.Raw)
			}
		}

		// Another user's address: refused, nothing attached or sent.
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": "ben@example.com", "user_id": user}, http.StatusBadRequest, "duplicate_email")
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": "ben@example.com", "session_token": login.Str("session_token")}, http.StatusBadRequest, "duplicate_email")
		if es := mlUser(t, p, user).Get("emails").([]any); len(es) != 4 {
			t.Fatalf("want 4 emails on the user, got %v", es)
		}
		if es := mlUser(t, p, other.Str("user_id")).Get("emails").([]any); len(es) != 1 {
			t.Fatalf("other user's emails changed: %v", es)
		}
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": "new@example.com", "user_id": "user-test-00000000-0000-4000-8000-000000000000"}, http.StatusNotFound, "user_not_found")
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": "new@example.com", "session_token": "nope"}, http.StatusNotFound, "session_not_found")
	})
}

// invite makes a pending user and emails an invite; its link activates the
// user. revoke_invite cancels a pending invite and its link.
func TestMagicLinkInviteAndRevokeInvite(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Club")
		sent, m, tok := mlSend(t, l, p, "/v1/magic_links/email/invite", map[string]any{
			"email": "cat@example.com", "name": map[string]any{"first_name": "Cat"},
			"trusted_metadata": map[string]any{"plan": "gold"},
		})
		if !strings.Contains(m.Subject, "Club") || !strings.Contains(strings.ToLower(m.Subject), "invit") {
			t.Errorf("invite subject %q", m.Subject)
		}
		u := mlUser(t, p, sent.Str("user_id"))
		if u.Str("status") != "pending" || u.Str("name.first_name") != "Cat" || u.Str("trusted_metadata.plan") != "gold" {
			t.Fatalf("invited user: %s", u.Raw)
		}
		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
		if r.Str("user.status") != "active" || !mlEmailVerified(t, r, "user.emails", "cat@example.com") || r.Str("session.session_id") == "" {
			t.Fatalf("invite authenticate: %s", r.Raw)
		}
		// Design choice (open question 11): an active user cannot be invited or un-invited.
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": "cat@example.com"}, http.StatusBadRequest, "duplicate_email")
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/revoke_invite", map[string]any{"email": "cat@example.com"}, http.StatusNotFound, "email_not_found")
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/revoke_invite", map[string]any{"email": "nobody@example.com"}, http.StatusNotFound, "email_not_found")

		sent, _, tok = mlSend(t, l, p, "/v1/magic_links/email/invite", map[string]any{"email": "dan@example.com"})
		p.OK(t, http.MethodPost, "/v1/magic_links/email/revoke_invite", map[string]any{"email": "dan@example.com"})
		if r := p.Do(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok}); r.Status == 200 {
			t.Fatalf("a revoked invite's link still works: %s", r.Raw)
		}
		p.Fail(t, http.MethodGet, "/v1/users/"+sent.Str("user_id"), nil, http.StatusNotFound, "user_not_found")
		// The address is free again.
		p.OK(t, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": "dan@example.com"})
	})
}

// POST /v1/magic_links returns a token and sends nothing; authenticating it
// gives an embedded factor and verifies nothing.
func TestEmbeddableMagicLink(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Embed")
		user := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "eli@example.com", "create_user_as_pending": true}).Str("user_id")
		r := p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": user})
		tok := r.Str("token")
		if r.Str("user_id") != user || len(tok) != 44 {
			t.Fatalf("embeddable reply: %s", r.Raw)
		}
		if mlQueued(t, l, "eli@example.com") != 0 {
			t.Fatal("an embeddable link queued an email")
		}
		a := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
		fs := a.Get("session.authentication_factors").([]any)
		f := fs[0].(map[string]any)
		if len(fs) != 1 || f["type"] != "magic_link" || f["delivery_method"] != "embedded" {
			t.Fatalf("embedded factor: %v", fs)
		}
		if e, _ := f["embeddable_magic_link_factor"].(map[string]any); e == nil || e["embedded_id"] == "" {
			t.Fatalf("no embeddable_magic_link_factor: %v", f)
		}
		if got := jwtFactors(t, a.Str("session_jwt")); len(got) != 1 || got[0] != "magic_link/embedded" {
			t.Errorf("JWT factors %v", got)
		}
		if mlEmailVerified(t, mlUser(t, p, user), "emails", "eli@example.com") {
			t.Fatal("an embeddable link verified the email")
		}
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok}, http.StatusUnauthorized, "unable_to_auth_magic_link")
		p.Fail(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": "user-test-00000000-0000-4000-8000-000000000000"}, http.StatusNotFound, "user_not_found")
	})
}

// PKCE (S256): a link sent with a code_challenge needs the right
// code_verifier; failures leave the link usable.
func TestMagicLinkPKCE(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "PKCE")
		verifier, challenge := mlPKCE()
		_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "fox@example.com", "code_challenge": challenge})

		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok}, http.StatusBadRequest, "pkce_expected_code_verifier")
		// The token as the link carries it (URL-encoded): not found, with a hint.
		if r := p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": url.QueryEscape(tok + "="), "code_verifier": verifier}, http.StatusNotFound, "magic_link_not_found"); !strings.Contains(r.Str("error_message"), "%3D is =") {
			t.Fatalf("no hint about the encoding: %s", r.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "code_verifier": verifier + "0"}, http.StatusBadRequest, "pkce_mismatch")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "code_verifier": challenge}, http.StatusBadRequest, "pkce_mismatch")
		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "code_verifier": verifier, "session_duration_minutes": 60})
		if r.Str("session_token") == "" {
			t.Fatalf("PKCE authenticate: %s", r.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "code_verifier": verifier}, http.StatusUnauthorized, "unable_to_auth_magic_link")

		// A verifier for a link sent without a challenge.
		_, _, tok = mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": "fox@example.com"})
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "code_verifier": verifier}, http.StatusBadRequest, "pkce_did_not_expect_code_verifier")
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})

		// send carries a challenge too.
		_, _, tok = mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": "fox@example.com", "code_challenge": challenge})
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok}, http.StatusBadRequest, "pkce_expected_code_verifier")
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "code_verifier": verifier})

		// A challenge no verifier could match is refused at the send, on
		// every route that takes one: nothing is sent.
		for _, bad := range []string{"short", challenge + "A", challenge[:42] + "!", verifier} {
			for _, path := range []string{"/v1/magic_links/email/login_or_create", "/v1/magic_links/email/send", "/v1/passwords/email/reset/start"} {
				p.Fail(t, http.MethodPost, path, map[string]any{"email": "fox@example.com", "code_challenge": bad}, http.StatusBadRequest, "bad_request")
			}
		}
	})
}

// options.ip_match_required and user_agent_match_required compare with the
// attributes given at send time (401 attribute_mismatch); the session
// records the attributes.
func TestMagicLinkIPAndUserAgentMatch(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Match")
		attrs := map[string]any{"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (Latch test)"}
		send := func() string {
			_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "gus@example.com", "attributes": attrs})
			return tok
		}
		ipOnly := map[string]any{"ip_match_required": true}
		uaOnly := map[string]any{"user_agent_match_required": true}

		tok := send()
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "options": ipOnly,
			"attributes": map[string]any{"ip_address": "198.51.100.1", "user_agent": "Mozilla/5.0 (Latch test)"}}, http.StatusUnauthorized, "attribute_mismatch")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "options": ipOnly}, http.StatusUnauthorized, "attribute_mismatch")
		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "options": ipOnly, "session_duration_minutes": 60,
			"attributes": map[string]any{"ip_address": "203.0.113.7", "user_agent": "curl/8"}})
		if r.Str("session.attributes.ip_address") != "203.0.113.7" || r.Str("session.attributes.user_agent") != "curl/8" {
			t.Errorf("session attributes: %s", r.Raw)
		}

		tok = send()
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "options": uaOnly,
			"attributes": map[string]any{"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (Other)"}}, http.StatusUnauthorized, "attribute_mismatch")
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "options": uaOnly,
			"attributes": map[string]any{"ip_address": "192.0.2.1", "user_agent": "Mozilla/5.0 (Latch test)"}})

		// Without options, attributes are not compared.
		tok = send()
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "attributes": map[string]any{"ip_address": "192.0.2.1"}})

		// A send without attributes matches nothing when a match is required.
		_, _, tok = mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "gus@example.com"})
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "options": ipOnly,
			"attributes": map[string]any{"ip_address": "203.0.113.7"}}, http.StatusUnauthorized, "attribute_mismatch")
	})
}

// A link authenticated with session_token or session_jwt joins that
// session: same session_id, the factor added once (a repeat refreshes its
// timestamp); a link of another user, or a dead session, is refused and the
// link stays usable.
func TestMagicLinkAttachesToAnExistingSession(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Stepup")
		login := sessLogin(t, l, p, "hana@example.com", 60)
		id, token := login.Str("session.session_id"), login.Str("session_token")
		first := login.Get("session.authentication_factors").([]any)[0].(map[string]any)["last_authenticated_at"]

		l.Clock.Advance(time.Minute)
		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": mlToken(t, l, p, "hana@example.com"), "session_token": token})
		fs := r.Get("session.authentication_factors").([]any)
		if r.Str("session.session_id") != id || len(fs) != 1 {
			t.Fatalf("same factor again: want session %s with 1 factor, got %s", id, r.Raw)
		}
		if again := fs[0].(map[string]any)["last_authenticated_at"]; again == first || again != mlTS(l.Clock.Now()) {
			t.Errorf("last_authenticated_at %v → %v, want now", first, again)
		}
		if r.Str("session_token") != token {
			t.Errorf("session_token changed")
		}
		if got := sessTime(t, r, "session.expires_at"); !got.Equal(sessTime(t, login, "session.expires_at")) {
			t.Errorf("expires_at moved without a duration: %v", got)
		}

		// A second address of the same user, by session_jwt, with a duration.
		_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": "hana.work@example.com", "session_token": token})
		r = p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_jwt": login.Str("session_jwt"), "session_duration_minutes": 120})
		if r.Str("session.session_id") != id || len(sessFactors(r, "session")) != 2 || len(jwtFactors(t, r.Str("session_jwt"))) != 2 {
			t.Fatalf("second email factor: %s", r.Raw)
		}
		if got, want := sessTime(t, r, "session.expires_at"), l.Clock.Now().Add(120*time.Minute); !got.Equal(want) {
			t.Errorf("expires_at %v, want %v", got, want)
		}
		if got := sessIDs(t, p, login.Str("user_id")); len(got) != 1 {
			t.Fatalf("a step-up made a new session: %v", got)
		}

		// Another user's link with this session: refused, nothing attached, link intact.
		otherTok := mlToken(t, l, p, "ivo@example.com")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": otherTok, "session_token": token}, http.StatusBadRequest, "user_id_mismatch")
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
		if len(sessFactors(r, "session")) != 2 {
			t.Fatalf("the refused link changed the session: %s", r.Raw)
		}
		// A dead session: refused, link intact.
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": otherTok, "session_token": "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3Fxx"}, http.StatusNotFound, "session_not_found")
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": otherTok})
	})
}

// One link, 50 concurrent redemptions: exactly one session.
func TestMagicLinkRedeemedOnceBy50Goroutines(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Race")
		sent, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": "jay@example.com"})
		const n = 50
		var wg sync.WaitGroup
		results := make([]latchtest.Response, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = p.Do(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
			})
		}
		close(start)
		wg.Wait()
		ok, used := 0, 0
		for _, r := range results {
			switch {
			case r.Status == 200:
				ok++
			case r.Status == 401 && r.ErrorType() == "unable_to_auth_magic_link":
				used++
			default:
				t.Errorf("unexpected reply: %d %s", r.Status, r.Raw)
			}
		}
		if ok != 1 || used != n-1 {
			t.Fatalf("%d successes and %d refusals, want 1 and %d", ok, used, n-1)
		}
		if got := sessIDs(t, p, sent.Str("user_id")); len(got) != 1 {
			t.Fatalf("want exactly 1 session, got %v", got)
		}
	})
}

// Sandbox values work in test projects only.
func TestMagicLinkSandboxValues(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Sandbox")
		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": "DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94=", "session_duration_minutes": 60})
		if r.Str("user_id") != "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd" || r.Str("session_token") == "" {
			t.Fatalf("sandbox token: %s", r.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": "3pzjQpgksDlGKWEwUq2Up--hCHC_0oamfLHyfspKDFU="}, http.StatusUnauthorized, "unable_to_auth_magic_link")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": "CprTtwhnRNiMBiUS2jSLcWYrfuO2POeBNdo5HhW6qTM="}, http.StatusNotFound, "magic_link_not_found")
		p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "sandbox@stytch.com"})
		if mlQueued(t, l, "sandbox@stytch.com") != 0 {
			t.Fatal("the sandbox address got a message in a test project")
		}

		live := sessLiveProject(t, l, "Live")
		live.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": "DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94="}, http.StatusNotFound, "magic_link_not_found")
		live.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": "3pzjQpgksDlGKWEwUq2Up--hCHC_0oamfLHyfspKDFU="}, http.StatusNotFound, "magic_link_not_found")
		// In a live project the address is an ordinary one.
		r = live.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "sandbox@stytch.com"})
		if r.Str("user_id") == "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd" || !strings.HasPrefix(r.Str("user_id"), "user-live-") {
			t.Fatalf("live project answered with the sandbox user: %s", r.Raw)
		}
		m := l.Mail.WaitFor(t, "sandbox@stytch.com", 1)
		// A live project's session, JWT and key say live.
		a := live.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, m), "session_duration_minutes": 60})
		if !strings.HasPrefix(a.Str("session.session_id"), "session-live-") || !strings.HasPrefix(a.Str("method_id"), "email-live-") {
			t.Errorf("live ids: %s", a.Raw)
		}
		set, _ := jwtFetchJWKS(t, l, live.ID)
		if v := jwtMustVerify(t, a.Str("session_jwt"), set, live.ID, l.Clock.Now()); !strings.HasPrefix(v.KID, "jwk-live-") || v.Std.Issuer != "stytch.com/"+live.ID {
			t.Errorf("live JWT kid %s iss %s", v.KID, v.Std.Issuer)
		}
	})
}

// An SMTP outage loses no message: the 200 comes at once, the send fails,
// and the email goes out when SMTP is back.
func TestMagicLinkEmailSurvivesSMTPOutage(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Outage")
		l.Mail.Refuse(true)
		p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "kai@example.com"})
		// Wait (real time, for the background sender) until a delivery failed.
		deadline := time.Now().Add(10 * time.Second)
		for {
			ms, err := l.App.Store.ListMessages(context.Background(), "kai@example.com", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 {
				t.Fatalf("want 1 queued message, got %d", len(ms))
			}
			if ms[0].Attempts > 0 && ms[0].SentAt == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed delivery attempt: %+v", ms[0])
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(l.Mail.Messages()) != 0 {
			t.Fatal("a message arrived during the outage")
		}
		// The node even stops during the outage; another takes over the
		// same database.
		l.Stop()
		l.Mail.Refuse(false)
		l.Clock.Advance(10 * time.Minute) // past any retry backoff
		l2 := latchtest.Start(t, latchtest.Options{Backend: mlBackendOf(l), Database: l.Database, MasterKey: l.MasterKey, Clock: l.Clock, Mail: l.Mail, SMS: l.SMS})
		m := l2.Mail.WaitFor(t, "kai@example.com", 1)
		p.On(l2).OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, m)})
	})
}

// A 200 never waits on SMTP: with a mail server that accepts connections
// and never answers, sends still return at once, the message durable.
func TestMagicLinkSendNeverWaitsOnSMTP(t *testing.T) {
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var conns []net.Conn
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}()
			l := latchtest.Start(t, latchtest.Options{Backend: b, Mail: &latchtest.MailServer{Addr: ln.Addr().String()}})
			// Runs before the node stops: frees the sender stuck on SMTP.
			t.Cleanup(func() {
				ln.Close()
				mu.Lock()
				for _, c := range conns {
					c.Close()
				}
				mu.Unlock()
			})
			p := l.NewProject(t, "Blackhole")
			for i, addr := range []string{"lou@example.com", "lou@example.com", "mae@example.com"} {
				began := time.Now()
				p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
				if d := time.Since(began); d > 5*time.Second { // SMTP's own timeout is 15 s
					t.Fatalf("send %d took %v with SMTP hanging", i+1, d)
				}
			}
			if n := mlQueued(t, l, "lou@example.com"); n != 2 {
				t.Fatalf("want 2 durable messages, got %d", n)
			}
		})
	}
}

// mlTS formats a time as the API does.
func mlTS(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// mlBackendOf names the backend of a node's database URL.
func mlBackendOf(l *latchtest.Latch) string {
	if strings.HasPrefix(l.Database, "postgres") {
		return "postgres"
	}
	return "sqlite"
}
