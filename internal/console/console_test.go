package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/console"
	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/store"
)

const op = "ops@latch.test"

// userWithSession creates a user and logs them in from a device; it
// returns the user id, session id and token.
func userWithSession(t *testing.T, p latchtest.Project, email, ip, ua string) (userID, sessionID, token string) {
	t.Helper()
	u := p.OK(t, "POST", "/v1/users", map[string]any{"email": email, "name": map[string]any{"first_name": "Alice", "last_name": "Liddell"}, "external_id": "ext-" + strings.Split(email, "@")[0]})
	userID = u.Str("user_id")
	sessionID, token = login(t, p, userID, ip, ua)
	return userID, sessionID, token
}

func login(t *testing.T, p latchtest.Project, userID, ip, ua string) (sessionID, token string) {
	t.Helper()
	ml := p.OK(t, "POST", "/v1/magic_links", map[string]any{"user_id": userID})
	a := p.OK(t, "POST", "/v1/magic_links/authenticate", map[string]any{"token": ml.Str("token"), "session_duration_minutes": 60,
		"attributes": map[string]any{"ip_address": ip, "user_agent": ua}})
	return a.Str("session.session_id"), a.Str("session_token")
}

func sessionStatus(t *testing.T, p latchtest.Project, token string) int {
	t.Helper()
	return p.Do(t, "POST", "/v1/sessions/authenticate", map[string]any{"session_token": token}).Status
}

func TestOperatorSignsInByTheEmailedLink(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, "Ops@Latch.test")
		b := cn.browser(t)
		m := cn.Mail.Next(t, op, func() {
			if p := b.askLink("OPS@latch.test"); p.Status != 200 || !strings.Contains(p.Body, "a sign-in link is on its way") {
				t.Fatalf("sign-in: %d %s", p.Status, p.Body)
			}
		})
		if !strings.Contains(m.Text, cn.ConsoleURL+"/console/sign-in/confirm?token=") {
			t.Fatalf("the link does not point at the console: %q", m.Text)
		}
		// Opening the link (a mail scanner may) does not use it up.
		token := latchtest.LinkToken(t, m)
		b.get("/console/sign-in/confirm?token=" + token)
		b.get("/console/sign-in/confirm?token=" + token)
		p := b.post("/console/sign-in/confirm", url.Values{"token": {token}})
		if p.Status != http.StatusSeeOther || p.Location != "/console/" {
			t.Fatalf("confirm: %d %q %s", p.Status, p.Location, p.Body)
		}
		c := p.cookie(console.SessionCookie)
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console/" || c.Secure || c.MaxAge <= 0 || c.MaxAge > 8*3600 {
			t.Fatalf("session cookie: %+v", c)
		}
		// The cookie's value is not what the database holds.
		var n int
		if err := cn.App.Store.SQL().QueryRow(`SELECT COUNT(*) FROM console_sessions WHERE token_hash = `+placeholder(cn)+``, []byte(c.Value)).Scan(&n); err != nil || n != 0 {
			t.Fatalf("cookie value stored in plain: n=%d err=%v", n, err)
		}
		if h := b.get("/console/"); h.Status != 200 || !strings.Contains(h.Body, op) || !strings.Contains(h.Body, "live sessions") {
			t.Fatalf("home: %d %s", h.Status, h.Body)
		}
		if p := b.get("/console/sign-in"); p.Status != http.StatusSeeOther || p.Location != "/console/" {
			t.Fatalf("sign-in page when signed in: %d %q", p.Status, p.Location)
		}
		logs := cn.Logs.String()
		if strings.Contains(logs, token) || strings.Contains(logs, c.Value) || strings.Contains(logs, auth.CSRFToken(c.Value)) {
			t.Fatalf("a secret in the log:\n%s", logs)
		}
		if !strings.Contains(logs, "console request") {
			t.Fatalf("no request lines in the log:\n%s", logs)
		}
	})
}

func placeholder(cn *consoleNode) string {
	if cn.App.Store.Backend() == "postgres" {
		return "$1"
	}
	return "?"
}

func TestStrangersAddressGetsTheSamePageAndNoMessage(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		stranger := b.askLink("stranger@elsewhere.test")
		cn.Mail.Next(t, op, func() { b.askLink(op) }) // the operator's arrives; the stranger's would have too
		if n := cn.Mail.Count("stranger@elsewhere.test"); n != 0 {
			t.Fatalf("the stranger got %d messages", n)
		}
		ms, err := cn.App.Store.ListMessages(context.Background(), "stranger@elsewhere.test", 10)
		if err != nil || len(ms) != 0 {
			t.Fatalf("outbox rows for the stranger: %d (%v)", len(ms), err)
		}
		operator := b.askLink(op)
		same := func(p page, who string) string {
			return strings.ReplaceAll(csrfPattern.ReplaceAllString(p.Body, ""), who, "X")
		}
		if stranger.Status != operator.Status || same(stranger, "stranger@elsewhere.test") != same(operator, op) {
			t.Fatalf("the pages differ:\n%s\n---\n%s", stranger.Body, operator.Body)
		}
		// Not an address at all: the same page too.
		if p := b.askLink("not an address"); p.Status != 200 || !strings.Contains(p.Body, "a sign-in link is on its way") {
			t.Fatalf("junk address: %d %s", p.Status, p.Body)
		}
	})
}

func TestSignInLinksAreLimitedWithoutTellingOperatorsApart(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		for i := 0; i < 5; i++ {
			cn.Mail.Next(t, op, func() { b.askLink(op) })
		}
		sixth := b.askLink(op)
		stranger := b.askLink("stranger@elsewhere.test")
		cn.App.Console.Wait() // the sixth is counted in this minute
		same := func(p page, who string) string {
			return strings.ReplaceAll(csrfPattern.ReplaceAllString(p.Body, ""), who, "X")
		}
		if sixth.Status != 200 || same(sixth, op) != same(stranger, "stranger@elsewhere.test") {
			t.Fatalf("the sixth link's page differs: %d %s", sixth.Status, sixth.Body)
		}
		cn.Clock.Advance(time.Minute)
		cn.Mail.Next(t, op, func() { b.askLink(op) }) // a minute later, a link again
		if n := cn.Mail.Count(op); n != 6 {
			t.Fatalf("links sent: %d, want 6", n)
		}
	})
}

func TestSignInLinkWorksOnce(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		m := cn.Mail.Next(t, op, func() { b.askLink(op) })
		token := latchtest.LinkToken(t, m)
		if p := b.confirm(token); p.Status != http.StatusSeeOther {
			t.Fatalf("first use: %d %s", p.Status, p.Body)
		}
		other := cn.browser(t)
		if p := other.confirm(token); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "not valid") || p.cookie(console.SessionCookie) != nil {
			t.Fatalf("second use: %d %s", p.Status, p.Body)
		}
		if p := other.get("/console/"); !signedOut(p) {
			t.Fatalf("second use signed in: %d %s", p.Status, p.Body)
		}
		if p := other.confirm("made-up-token"); p.Status != http.StatusBadRequest {
			t.Fatalf("unknown token: %d", p.Status)
		}
	})
}

func TestExpiredSignInLinkIsRefused(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		m := cn.Mail.Next(t, op, func() { b.askLink(op) })
		cn.Clock.Advance(15*time.Minute + time.Second)
		if p := b.confirm(latchtest.LinkToken(t, m)); p.Status != http.StatusBadRequest || p.cookie(console.SessionCookie) != nil {
			t.Fatalf("expired link: %d %s", p.Status, p.Body)
		}
	})
}

func TestLinkOfARemovedOperatorIsRefused(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		m := cn.Mail.Next(t, op, func() { b.askLink(op) })
		if _, err := cn.App.Service.RemoveOperator(context.Background(), op, ""); err != nil {
			t.Fatal(err)
		}
		if p := b.confirm(latchtest.LinkToken(t, m)); p.Status != http.StatusBadRequest {
			t.Fatalf("removed operator's link: %d %s", p.Status, p.Body)
		}
	})
}

func TestConsoleCookieIsSecureUnderHTTPSAndLinksIgnoreTheHostHeader(t *testing.T) {
	cn := startConsole(t, latchtest.Options{})
	c, err := console.New(console.Config{Service: cn.App.Service, URL: "https://latch.example/console/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	cn.addOperator(t, op)
	// By hand: a cookie jar does not send Secure cookies over http.
	send := func(method, path, cookie string, form url.Values) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		req.Host = "evil.example"
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" {
			req.Header.Set("Cookie", console.PreCookie+"="+cookie)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	var pre *http.Cookie
	signIn := send("GET", "/console/sign-in", "", nil)
	if got := signIn.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("a console under https answers Strict-Transport-Security %q, want max-age=31536000", got)
	}
	// Not on a development host, where it would outlive the console.
	for _, host := range []string{"localhost:8443", "login.localhost", "127.0.0.1:8443", "[::1]:8443"} {
		req, _ := http.NewRequest("GET", srv.URL+"/console/sign-in", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("a console under https on %s answers Strict-Transport-Security %q", host, got)
		}
	}
	for _, ck := range signIn.Cookies() {
		if ck.Name == console.PreCookie {
			pre = ck
		}
	}
	if pre == nil || !pre.Secure || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode {
		t.Fatalf("pre-sign-in cookie: %+v", pre)
	}
	m := cn.Mail.Next(t, op, func() {
		send("POST", "/console/sign-in", pre.Value, url.Values{"email": {op}, "csrf": {auth.CSRFToken(pre.Value)}})
	})
	if !strings.Contains(m.Text, "https://latch.example/console/sign-in/confirm?token=") || strings.Contains(m.Text, "evil") {
		t.Fatalf("link: %q", m.Text)
	}
	res := send("POST", "/console/sign-in/confirm", pre.Value, url.Values{"token": {latchtest.LinkToken(t, m)}, "csrf": {auth.CSRFToken(pre.Value)}})
	var sess *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == console.SessionCookie {
			sess = ck
		}
	}
	if res.StatusCode != http.StatusSeeOther || sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("confirm: %d, cookie %+v", res.StatusCode, sess)
	}
}

func TestPostWithoutTheCSRFTokenIsRefused(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		uid, sid, token := userWithSession(t, p, "alice@example.com", "203.0.113.7", "Firefox")
		b := cn.browser(t)
		b.signIn(op)
		b.get("/console/projects/" + p.ID + "/users/" + uid)
		path := "/console/projects/" + p.ID + "/users/" + uid + "/sessions/" + sid + "/revoke"
		for name, form := range map[string]url.Values{
			"no token":    {},
			"wrong token": {"csrf": {"AAAA" + b.csrf[4:]}},
			"empty token": {"csrf": {""}},
		} {
			if r := b.postRaw(path, form); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "refused") {
				t.Fatalf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		// Another visitor's token does not fit this session.
		other := cn.browser(t)
		other.get("/console/sign-in")
		if r := b.post(path, url.Values{"csrf": {other.csrf}}); r.Status != http.StatusForbidden {
			t.Fatalf("another cookie's token: %d", r.Status)
		}
		if got := sessionStatus(t, p, token); got != 200 {
			t.Fatalf("a refused POST revoked the session: %d", got)
		}
		// The sign-in forms need the pre-sign-in cookie's token too.
		if r := cn.browser(t).postRaw("/console/sign-in", url.Values{"email": {op}}); r.Status != http.StatusForbidden {
			t.Fatalf("sign-in without token: %d", r.Status)
		}
		if r := cn.browser(t).postRaw("/console/sign-in/confirm", url.Values{"token": {"x"}}); r.Status != http.StatusForbidden {
			t.Fatalf("confirm without token: %d", r.Status)
		}
		// With the token, the same POST works.
		if r := b.post(path, nil); r.Status != http.StatusSeeOther {
			t.Fatalf("with the token: %d %s", r.Status, r.Body)
		}
	})
}

func TestRemovedOperatorIsSignedOutOnTheNextRequest(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		cn.addOperator(t, "other@latch.test")
		b := cn.browser(t)
		b.signIn(op)
		if _, err := cn.App.Service.RemoveOperator(context.Background(), op, ""); err != nil {
			t.Fatal(err)
		}
		p := b.get("/console/projects")
		if !signedOut(p) {
			t.Fatalf("removed operator still in: %d %s", p.Status, p.Body)
		}
		if c := p.cookie(console.SessionCookie); c == nil || c.MaxAge >= 0 {
			t.Fatalf("cookie not cleared: %+v", c)
		}
		// Added again, the old session stays gone.
		cn.addOperator(t, op)
		if p := b.get("/console/"); !signedOut(p) {
			t.Fatalf("old session back: %d", p.Status)
		}
	})
}

func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		b.signIn(op)
		u, _ := url.Parse(cn.ConsoleURL + "/console/")
		var saved *http.Cookie
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == console.SessionCookie {
				saved = c
			}
		}
		if p := b.post("/console/sign-out", nil); !signedOut(p) {
			t.Fatalf("sign-out: %d %s", p.Status, p.Body)
		}
		// The old cookie, replayed, is refused.
		replay := cn.browser(t)
		replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: saved.Value, Path: "/console/"}})
		if p := replay.get("/console/"); !signedOut(p) {
			t.Fatalf("replayed cookie after sign-out: %d", p.Status)
		}
		if p := cn.browser(t).post("/console/sign-out", nil); !signedOut(p) {
			t.Fatalf("sign-out signed out: %d", p.Status)
		}
	})
}

func TestIdleConsoleSessionEnds(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		b.signIn(op)
		cn.Clock.Advance(59 * time.Minute)
		if p := b.get("/console/"); p.Status != 200 {
			t.Fatalf("within the idle time: %d", p.Status)
		}
		cn.Clock.Advance(59 * time.Minute) // seen 59 min ago: still in
		if p := b.get("/console/"); p.Status != 200 {
			t.Fatalf("used within the idle time: %d", p.Status)
		}
		cn.Clock.Advance(61 * time.Minute)
		if p := b.get("/console/"); !signedOut(p) {
			t.Fatalf("idle session: %d", p.Status)
		}
	})
}

func TestConsoleSessionEndsAfterEightHours(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		b.signIn(op)
		for i := 0; i < 8; i++ {
			cn.Clock.Advance(50 * time.Minute)
			if p := b.get("/console/"); p.Status != 200 {
				t.Fatalf("after %d min: %d", (i+1)*50, p.Status)
			}
		}
		cn.Clock.Advance(81 * time.Minute) // 8 h 1 min
		if p := b.get("/console/"); !signedOut(p) {
			t.Fatalf("after 8 h: %d", p.Status)
		}
	})
}

func TestSignedOutVisitorSeesNoData(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		uid, sid, token := userWithSession(t, p, "alice@example.com", "203.0.113.7", "Firefox")
		pp := "/console/projects/" + p.ID
		b := cn.browser(t)
		for _, path := range []string{"/console/", "/console/projects", pp, pp + "/users?q=alice", pp + "/users/" + uid, pp + "/sessions", "/console/outbox", "/console/audit"} {
			r := b.get(path)
			if !signedOut(r) || strings.Contains(r.Body, "alice") || strings.Contains(r.Body, p.ID) {
				t.Fatalf("GET %s signed out: %d %s", path, r.Status, r.Body)
			}
		}
		b.get("/console/sign-in")
		for _, path := range []string{pp + "/users/" + uid + "/sessions/" + sid + "/revoke", pp + "/users/" + uid + "/delete", pp + "/secrets", "/console/projects"} {
			if r := b.post(path, url.Values{"name": {"x"}}); !signedOut(r) {
				t.Fatalf("POST %s signed out: %d %s", path, r.Status, r.Body)
			}
		}
		if got := sessionStatus(t, p, token); got != 200 {
			t.Fatalf("session revoked by a signed-out visitor: %d", got)
		}
		// A made-up cookie is no session either.
		u, _ := url.Parse(cn.ConsoleURL + "/console/")
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: "made-up", Path: "/console/"}})
		if r := b.get("/console/"); !signedOut(r) {
			t.Fatalf("made-up cookie: %d", r.Status)
		}
	})
}

func TestRevokeFromTheConsoleEndsTheSessionForTheBackend(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		uid, laptop, laptopToken := userWithSession(t, p, "alice@example.com", "203.0.113.7", "Mozilla/5.0 Firefox/133.0")
		phone, phoneToken := login(t, p, uid, "198.51.100.23", "Mozilla/5.0 (iPhone) Safari")
		b := cn.browser(t)
		b.signIn(op)
		up := "/console/projects/" + p.ID + "/users/" + uid
		r := b.get(up)
		for _, want := range []string{laptop, phone, "203.0.113.7", "Firefox/133.0", "198.51.100.23", "magic_link", "alice@example.com"} {
			if !strings.Contains(r.Body, want) {
				t.Fatalf("user page lacks %q", want)
			}
		}
		// Post, redirect, get: the user's page says what was done, and a
		// reload does not post again.
		rv := b.post(up+"/sessions/"+laptop+"/revoke", nil)
		if rv.Status != http.StatusSeeOther || !strings.HasPrefix(rv.Location, up+"?") {
			t.Fatalf("revoke: %d %q", rv.Status, rv.Location)
		}
		if r := b.get(rv.Location); r.Status != 200 || !strings.Contains(r.Body, "Session "+laptop+" revoked.") || strings.Contains(r.Body, `data-session-id="`+laptop) {
			t.Fatalf("after revoke: %d %s", r.Status, r.Body)
		}
		// The flash repeats a session id and nothing else a link could put there.
		if r := b.get(up + "?revoked=" + url.QueryEscape("<b>Call +1 555 0100</b>")); strings.Contains(r.Body, `class="flash"`) || strings.Contains(r.Body, "Call") {
			t.Fatalf("the page repeats a made-up flash: %s", r.Body)
		}
		if got := sessionStatus(t, p, laptopToken); got != http.StatusNotFound {
			t.Fatalf("revoked session authenticates: %d", got)
		}
		if got := sessionStatus(t, p, phoneToken); got != 200 {
			t.Fatalf("the other session: %d", got)
		}
		// Another user's session, named under this user, is not revoked.
		bob, bobSess, bobToken := userWithSession(t, p, "bob@example.com", "", "")
		_ = bob
		if r := b.post(up+"/sessions/"+bobSess+"/revoke", nil); r.Status != http.StatusNotFound {
			t.Fatalf("another user's session: %d", r.Status)
		}
		if got := sessionStatus(t, p, bobToken); got != 200 {
			t.Fatalf("bob's session: %d", got)
		}
		if rv := b.post(up+"/sessions/revoke-all", nil); rv.Status != http.StatusSeeOther {
			t.Fatalf("revoke all: %d %s", rv.Status, rv.Body)
		} else if r := b.get(rv.Location); !strings.Contains(r.Body, "No live sessions") || !strings.Contains(r.Body, "Every session of this user was revoked.") {
			t.Fatalf("after revoke all: %d %s", r.Status, r.Body)
		}
		if got := sessionStatus(t, p, phoneToken); got != http.StatusNotFound {
			t.Fatalf("after revoke all: %d", got)
		}
		audit := b.get("/console/audit").Body
		for _, want := range []string{"session.revoke", "session.revoke-all", laptop, "sign-in", "sign-in.link-sent", "127.0.0.1", "ConsoleTest/1.0"} {
			if !strings.Contains(audit, want) {
				t.Fatalf("audit log lacks %q", want)
			}
		}
	})
}

func TestSearchFindsUsersByEmailPhoneNameIDAndExternalID(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		alice := p.OK(t, "POST", "/v1/users", map[string]any{"email": "alice@example.com", "phone_number": "+14155550123", "external_id": "crm-42",
			"name": map[string]any{"first_name": "Alice", "last_name": "Liddell"}}).Str("user_id")
		p.OK(t, "POST", "/v1/users", map[string]any{"email": "bob@example.com", "name": map[string]any{"first_name": "Bob"}})
		b := cn.browser(t)
		b.signIn(op)
		for _, q := range []string{"alice@example.com", "ALICE@example.com", "alice", "+14155550123", "4155550123", "Liddell", alice, "crm-42"} {
			r := b.get("/console/projects/" + p.ID + "/users?q=" + url.QueryEscape(q))
			if r.Status != 200 || !strings.Contains(r.Body, alice) || strings.Contains(r.Body, "bob@example.com") || !strings.Contains(r.Body, "1 user<") {
				t.Fatalf("search %q: %d %s", q, r.Status, r.Body)
			}
		}
		r := b.get("/console/projects/" + p.ID + "/users")
		if !strings.Contains(r.Body, "alice@example.com") || !strings.Contains(r.Body, "bob@example.com") {
			t.Fatalf("empty search lists all: %s", r.Body)
		}
		if r := b.get("/console/projects/" + p.ID + "/users?q=nobody-here"); r.Status != 200 || !strings.Contains(r.Body, "0 users") {
			t.Fatalf("no match: %d %s", r.Status, r.Body)
		}
		if r := b.get("/console/projects/" + p.ID + "/users?q=" + strings.Repeat("a", 101)); r.Status != 200 || !strings.Contains(r.Body, "too long") {
			t.Fatalf("long query: %d %s", r.Status, r.Body)
		}
		if r := b.get("/console/projects/project-test-00000000-0000-0000-0000-000000000000/users"); r.Status != http.StatusNotFound {
			t.Fatalf("unknown project: %d", r.Status)
		}
	})
}

func TestUserPageShowsTheUserAndDeleteRemovesThem(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		uid := p.OK(t, "POST", "/v1/users", map[string]any{"email": "alice@example.com", "phone_number": "+14155550123", "external_id": "crm-42",
			"trusted_metadata": map[string]any{"plan": "gold"}, "untrusted_metadata": map[string]any{"theme": "dark<script>"}}).Str("user_id")
		b := cn.browser(t)
		b.signIn(op)
		up := "/console/projects/" + p.ID + "/users/" + uid
		r := b.get(up)
		for _, want := range []string{"alice@example.com", "&#43;14155550123", "crm-42", "gold", "dark&lt;script&gt;", "active", "not locked"} {
			if !strings.Contains(r.Body, want) {
				t.Fatalf("user page lacks %q: %s", want, r.Body)
			}
		}
		if strings.Contains(r.Body, "dark<script>") {
			t.Fatal("metadata not escaped")
		}
		if r := b.get("/console/projects/" + p.ID + "/users/user-test-00000000-0000-0000-0000-000000000000"); r.Status != http.StatusNotFound {
			t.Fatalf("unknown user: %d", r.Status)
		}
		if r := b.post(up+"/delete", nil); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "confirm") {
			t.Fatalf("delete unconfirmed: %d %s", r.Status, r.Body)
		}
		p.OK(t, "GET", "/v1/users/"+uid, nil)
		if r := b.post(up+"/delete", url.Values{"confirm": {"yes"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		p.Fail(t, "GET", "/v1/users/"+uid, nil, http.StatusNotFound, "user_not_found")
		if !strings.Contains(b.get("/console/audit").Body, "user.delete") {
			t.Fatal("delete not audited")
		}
	})
}

func TestRecentSessionsListsTheProjectsNewestFirst(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		other := cn.NewProject(t, "Other")
		_, first, _ := userWithSession(t, p, "alice@example.com", "203.0.113.7", "Firefox")
		cn.Clock.Advance(time.Minute)
		_, second, _ := userWithSession(t, p, "bob@example.com", "203.0.113.8", "Chrome")
		_, foreign, _ := userWithSession(t, other, "carol@example.com", "", "")
		b := cn.browser(t)
		b.signIn(op)
		r := b.get("/console/projects/" + p.ID + "/sessions")
		i, j := strings.Index(r.Body, second), strings.Index(r.Body, first)
		if r.Status != 200 || i < 0 || j < 0 || i > j || strings.Contains(r.Body, foreign) {
			t.Fatalf("recent sessions: %d %d %d %s", r.Status, i, j, r.Body)
		}
	})
}

func TestHealthShowsLiveSessionsLoginsBacklogAndSigner(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		userWithSession(t, p, "alice@example.com", "", "")
		userWithSession(t, p, "bob@example.com", "", "")
		b := cn.browser(t)
		b.signIn(op)
		r := b.get("/console/")
		for _, want := range []string{`id="live-sessions">2<`, `<div class="n">2</div><div class="muted">logins in the last minute`, "messages waiting", "JWT signer", "Acme"} {
			if !strings.Contains(r.Body, want) {
				t.Fatalf("health lacks %q: %s", want, r.Body)
			}
		}
	})
}

func TestProjectsPagesCreateProjectsSecretsURLsSettingsAndKeys(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		b := cn.browser(t)
		b.signIn(op)
		first := cn.NewProject(t, "First")
		if r := b.get("/console/projects"); r.Status != 200 || !strings.Contains(r.Body, first.ID) || !strings.Contains(r.Body, ">First<") {
			t.Fatalf("projects: %d %s", r.Status, r.Body)
		}
		r := b.post("/console/projects", url.Values{"name": {"Console made"}, "redirect_url": {"https://app.example/cb"}})
		id := regexpFind(t, r.Body, `<code>(project-test-[0-9a-f-]+)</code>`)
		if r := b.get("/console/projects"); !strings.Contains(r.Body, id) {
			t.Fatalf("the new project is not listed: %s", r.Body)
		}
		sec := regexpFind(t, r.Body, `<code id="new-secret">(secret-test-[A-Za-z0-9_-]+)</code>`)
		p := latchtest.Project{ID: id, Secret: sec, URL: cn.URL}
		p.OK(t, "POST", "/v1/users", map[string]any{"email": "a@example.com"})
		// Shown once: the page read again has no secret.
		pp := "/console/projects/" + id
		if r := b.get(pp); strings.Contains(r.Body, sec) || !strings.Contains(r.Body, "https://app.example/cb") {
			t.Fatalf("project page: %s", r.Body)
		}
		r = b.post(pp+"/secrets", nil)
		sec2 := regexpFind(t, r.Body, `<code id="new-secret">(secret-test-[A-Za-z0-9_-]+)</code>`)
		secID := regexpFind(t, r.Body, `New secret (secret-test-[0-9a-f-]+)`)
		p2 := p
		p2.Secret = sec2
		p2.OK(t, "POST", "/v1/users/search", map[string]any{})
		if r := b.post(pp+"/secrets/"+secID+"/revoke", nil); r.Status != 200 {
			t.Fatalf("revoke secret: %d %s", r.Status, r.Body)
		}
		p2.Fail(t, "POST", "/v1/users/search", map[string]any{}, http.StatusUnauthorized, "unauthorized_credentials")
		p.OK(t, "POST", "/v1/users/search", map[string]any{})

		if r := b.post(pp+"/redirect-urls", url.Values{"url": {"https://second.example/cb"}}); r.Status != 200 || !strings.Contains(r.Body, "second.example") {
			t.Fatalf("add URL: %d %s", r.Status, r.Body)
		}
		if r := b.post(pp+"/redirect-urls", url.Values{"url": {"javascript:alert(1)"}}); r.Status != http.StatusBadRequest {
			t.Fatalf("bad URL: %d %s", r.Status, r.Body)
		}
		b.get(pp)
		if r := b.post(pp+"/redirect-urls/remove", url.Values{"url": {"https://second.example/cb"}}); r.Status != 200 || strings.Contains(r.Body, "second.example") {
			t.Fatalf("remove URL: %d %s", r.Status, r.Body)
		}
		if r := b.post(pp+"/settings", url.Values{"name": {"Renamed"}, "lock_threshold": {"5"}, "lock_ttl": {"30m"}, "recipient_sends_per_minute": {"7"}, "project_sends_per_minute": {"0"}}); r.Status != 200 || !strings.Contains(r.Body, "Settings saved") {
			t.Fatalf("settings: %d %s", r.Status, r.Body)
		}
		got, err := cn.App.Store.GetProject(context.Background(), id)
		if err != nil || got.Name != "Renamed" || got.LockThreshold != 5 || got.LockTTL != 30*time.Minute || got.RecipientSendsPerMinute != 7 {
			t.Fatalf("settings stored: %+v %v", got, err)
		}
		for _, bad := range []url.Values{{"lock_threshold": {"0"}}, {"lock_threshold": {"x"}}, {"lock_ttl": {"1s"}}, {"lock_ttl": {"soon"}}, {"recipient_sends_per_minute": {"-1"}}} {
			if r := b.post(pp+"/settings", bad); r.Status != http.StatusBadRequest {
				t.Fatalf("settings %v: %d %s", bad, r.Status, r.Body)
			}
		}
		keysBefore, _ := cn.App.Store.ListSigningKeys(context.Background(), id, cn.Clock.Now())
		b.get(pp)
		if r := b.post(pp+"/keys/rotate", url.Values{"lead": {"lead"}}); r.Status != 200 || !strings.Contains(r.Body, "signs from "+cn.Clock.Now().Add(10*time.Minute).UTC().Format(time.RFC3339)) {
			t.Fatalf("rotate: %d %s", r.Status, r.Body)
		}
		if r := b.post(pp+"/keys/rotate", url.Values{"lead": {"now"}}); r.Status != 200 || !strings.Contains(r.Body, "signs from "+cn.Clock.Now().UTC().Format(time.RFC3339)) {
			t.Fatalf("rotate now: %d %s", r.Status, r.Body)
		}
		keysAfter, _ := cn.App.Store.ListSigningKeys(context.Background(), id, cn.Clock.Now())
		if len(keysAfter) != len(keysBefore)+2 {
			t.Fatalf("keys: %d → %d", len(keysBefore), len(keysAfter))
		}
		audit := b.get("/console/audit").Body
		for _, want := range []string{"project.create", "secret.create", "secret.revoke", "redirect-url.add", "redirect-url.remove", "project.settings", "key.rotate"} {
			if !strings.Contains(audit, want) {
				t.Fatalf("audit lacks %s", want)
			}
		}
		if strings.Contains(audit, sec) || strings.Contains(audit, sec2) {
			t.Fatal("a secret in the audit log")
		}
	})
}

func TestOutboxMasksRecipientsHidesLinksAndRetries(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		m := cn.Mail.Next(t, "alice@example.com", func() {
			p.OK(t, "POST", "/v1/magic_links/email/login_or_create", map[string]any{"email": "alice@example.com"})
		})
		token := latchtest.LinkToken(t, m)
		b := cn.browser(t)
		b.signIn(op)
		// A message the SMTP server refuses for now: failing.
		cn.Mail.Refuse(true)
		p.OK(t, "POST", "/v1/magic_links/email/login_or_create", map[string]any{"email": "bob@example.com"})
		ctx := context.Background()
		var failing store.OutboxMessage
		deadline := time.Now().Add(10 * time.Second)
		for failing.ID == 0 && time.Now().Before(deadline) {
			ms, _ := cn.App.Store.ListMessages(ctx, "bob@example.com", 1)
			if len(ms) == 1 && ms[0].LastError != "" {
				failing = ms[0]
			}
			time.Sleep(20 * time.Millisecond)
		}
		if failing.ID == 0 {
			t.Fatal("bob's message never failed")
		}
		// A provider's refusal quotes the address: masked there too.
		if err := cn.App.Store.MarkMessageFailed(ctx, failing.ID, "550 5.1.1 <bob@example.com>: Recipient address rejected (BOB@EXAMPLE.COM)", failing.NextAttemptAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		r := b.get("/console/outbox")
		_, main, _ := strings.Cut(r.Body, "<main")
		if !strings.Contains(main, "Recipient address rejected") {
			t.Fatalf("the provider's error is not shown: %s", main)
		}
		for _, no := range []string{"alice@example.com", "bob@example.com", token, op, "token="} {
			if strings.Contains(strings.ToLower(main), strings.ToLower(no)) {
				t.Fatalf("outbox shows %q", no)
			}
		}
		for _, want := range []string{"a•••@example.com", "b•••@example.com", "o•••@latch.test", "console", "sent", "retrying"} {
			if !strings.Contains(r.Body, want) {
				t.Fatalf("outbox lacks %q: %s", want, r.Body)
			}
		}
		if r := b.get("/console/outbox?state=retrying"); strings.Contains(r.Body, "a•••@example.com") || !strings.Contains(r.Body, "b•••@example.com") {
			t.Fatalf("retrying filter: %s", r.Body)
		}
		if r := b.get("/console/outbox?state=failed"); strings.Contains(r.Body, "b•••@example.com") {
			t.Fatalf("a message being retried is listed as failed: %s", r.Body)
		}
		cn.Mail.Refuse(false)
		cn.Mail.Next(t, "bob@example.com", func() {
			if r := b.post("/console/outbox/"+itoa(failing.ID)+"/retry", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("retry: %d %s", r.Status, r.Body)
			}
			cn.App.Sender.Notify()
		})
		sent, _ := cn.App.Store.ListMessages(ctx, "alice@example.com", 1)
		if r := b.post("/console/outbox/"+itoa(sent[0].ID)+"/retry", nil); r.Status != http.StatusNotFound {
			t.Fatalf("retry of a sent message: %d", r.Status)
		}
		if r := b.post("/console/outbox/x/retry", nil); r.Status != http.StatusNotFound {
			t.Fatalf("retry of junk: %d", r.Status)
		}
		if !strings.Contains(b.get("/console/audit").Body, "outbox.retry") {
			t.Fatal("retry not audited")
		}
	})
}

func TestTheStylesheetIsServedToAnyone(t *testing.T) {
	cn := startConsole(t, latchtest.Options{})
	r := cn.browser(t).get("/console/console.css")
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(r.Body, "font") {
		t.Fatalf("css: %d %s", r.Status, r.Header)
	}
	// Every answer carries the console's security headers.
	for h, want := range map[string]string{"Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if !strings.Contains(cn.browser(t).get("/console/sign-in").Header.Get(h), want) {
			t.Errorf("%s lacks %q", h, want)
		}
	}
	if got := cn.browser(t).get("/console/sign-in").Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("a console on plain http answers Strict-Transport-Security %q", got)
	}
}

func TestMaskRecipient(t *testing.T) {
	for in, want := range map[string]string{"alice@example.com": "a•••@example.com", "+14155550123": "+1••••••••23", "abc": "•••"} {
		if got := console.MaskRecipient(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func regexpFind(t *testing.T, body, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in %s", pattern, body)
	}
	return m[1]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestProjectPageShowsThePublicTokenAndManagesSDKOrigins(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		token, err := cn.App.Service.PublicToken(context.Background(), store.Project{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		b := cn.browser(t)
		b.signIn(op)
		pp := "/console/projects/" + p.ID
		if r := b.get(pp); !strings.Contains(r.Body, token) || !strings.Contains(r.Body, "Frontend SDK") {
			t.Fatalf("no public token on the page: %s", r.Body)
		}
		if r := b.post(pp+"/sdk-origins", url.Values{"origin": {"HTTPS://App.Example.com:443"}}); r.Status != 200 || !strings.Contains(r.Body, "<code>https://app.example.com</code>") {
			t.Fatalf("add origin: %d %s", r.Status, r.Body)
		}
		if ok, err := cn.App.Service.OriginAllowed(context.Background(), store.Project{ID: p.ID}, "https://app.example.com"); err != nil || !ok {
			t.Fatalf("origin not allowed after adding: %v %v", ok, err)
		}
		if r := b.post(pp+"/sdk-origins", url.Values{"origin": {"https://app.example.com/path"}}); r.Status != http.StatusBadRequest {
			t.Fatalf("bad origin: %d %s", r.Status, r.Body)
		}
		b.get(pp)
		if r := b.post(pp+"/sdk-origins/remove", url.Values{"origin": {"https://app.example.com"}}); r.Status != 200 || strings.Contains(r.Body, "<code>https://app.example.com</code>") {
			t.Fatalf("remove origin: %d %s", r.Status, r.Body)
		}
		if ok, _ := cn.App.Service.OriginAllowed(context.Background(), store.Project{ID: p.ID}, "https://app.example.com"); ok {
			t.Fatal("origin still allowed")
		}
		if r := b.get(pp); !strings.Contains(r.Body, `name="pkce_required" checked`) {
			t.Fatal("PKCE not shown on by default")
		}
		if r := b.post(pp+"/sdk-settings", url.Values{}); r.Status != 200 || strings.Contains(r.Body, `name="pkce_required" checked`) {
			t.Fatalf("PKCE off: %d", r.Status)
		}
		if on, err := cn.App.Service.SDKPKCERequired(context.Background(), store.Project{ID: p.ID}); err != nil || on {
			t.Fatalf("PKCE still required: %v %v", on, err)
		}
		if r := b.post(pp+"/sdk-settings", url.Values{"pkce_required": {"on"}}); r.Status != 200 || !strings.Contains(r.Body, `name="pkce_required" checked`) {
			t.Fatalf("PKCE on: %d", r.Status)
		}
		audit := b.get("/console/audit").Body
		if !strings.Contains(audit, "sdk-origin.add") || !strings.Contains(audit, "sdk-origin.remove") || !strings.Contains(audit, "pkce_required=off") {
			t.Fatal("origins not audited")
		}
	})
}

func TestConsoleCookieIsSecureOverTLS(t *testing.T) {
	cn := startConsole(t, latchtest.Options{})
	srv := httptest.NewTLSServer(cn.App.Console)
	t.Cleanup(srv.Close)
	res, err := srv.Client().Get(srv.URL + "/console/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var pre *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == console.PreCookie {
			pre = c
		}
	}
	if pre == nil || !pre.Secure {
		t.Fatalf("cookie over TLS: %+v", pre)
	}
}

func TestUserListPagesByFifty(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		cn.addOperator(t, op)
		p := cn.NewProject(t, "Acme")
		for i := 0; i < 51; i++ {
			p.OK(t, "POST", "/v1/users", map[string]any{"email": "user" + strconv.Itoa(i) + "@example.com"})
		}
		b := cn.browser(t)
		b.signIn(op)
		r := b.get("/console/projects/" + p.ID + "/users")
		if n := strings.Count(r.Body, `<tr><td><a href="/console/projects/`); n != 50 || !strings.Contains(r.Body, "51 users") {
			t.Fatalf("first page: %d rows", n)
		}
		next := regexpFind(t, r.Body, `<a href="(/console/projects/[^"]+cursor=[^"]+)">Next page</a>`)
		r = b.get(strings.ReplaceAll(next, "&amp;", "&"))
		if n := strings.Count(r.Body, `<tr><td><a href="/console/projects/`); n != 1 || strings.Contains(r.Body, "Next page") {
			t.Fatalf("second page: %d rows: %s", n, r.Body)
		}
	})
}

func TestAuditNamesTheClientBehindATrustedProxyOnly(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		o := latchtest.Options{}
		if trusted {
			o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		}
		cn := startConsole(t, o)
		cn.addOperator(t, op)
		b := cn.browser(t)
		b.signIn(op)
		req, _ := http.NewRequest("POST", cn.ConsoleURL+"/console/sign-out", strings.NewReader(url.Values{"csrf": {b.csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "198.51.100.9")
		if p := b.do(req); !signedOut(p) {
			t.Fatalf("sign-out: %d", p.Status)
		}
		es, err := cn.App.Service.ConsoleData()
		if err != nil {
			t.Fatal(err)
		}
		entries, err := es.ListAudit(context.Background(), 1)
		if err != nil || len(entries) != 1 || entries[0].Action != "sign-out" {
			t.Fatalf("audit: %+v %v", entries, err)
		}
		want := "127.0.0.1"
		if trusted {
			want = "198.51.100.9"
		}
		if entries[0].IPAddress != want {
			t.Fatalf("trusted=%v: audit IP %s, want %s", trusted, entries[0].IPAddress, want)
		}
	}
}
