package api_test

// End-to-end tests of sessions (issue 3) through the real HTTP API, on every
// backend. The helpers here (prefixed ml, otp, sess, jwt) are shared by
// magiclinks_test.go, otps_test.go and jwt_test.go.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// sessBackends runs fn against a fresh node of every backend, the backends
// in parallel (each node has its own database, clock, SMTP server and
// Twilio double).
func sessBackends(t *testing.T, fn func(t *testing.T, l *latchtest.Latch)) {
	t.Helper()
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, latchtest.Start(t, latchtest.Options{Backend: b}))
		})
	}
}

// sessLiveProject creates a live project (sandbox values do not apply).
func sessLiveProject(t *testing.T, l *latchtest.Latch, name string) latchtest.Project {
	t.Helper()
	cp, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: name, Live: true, RedirectURLs: []string{latchtest.DefaultRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	return latchtest.Project{ID: cp.Project.ID, Secret: cp.Secret, URL: l.URL}
}

// mlSend calls a route that emails a magic link to body["email"], waits for
// that email and returns the reply, the email and the link's token.
func mlSend(t *testing.T, l *latchtest.Latch, p latchtest.Project, path string, body map[string]any) (latchtest.Response, latchtest.Mail, string) {
	t.Helper()
	var r latchtest.Response
	m := l.Mail.Next(t, body["email"].(string), func() { r = p.OK(t, http.MethodPost, path, body) })
	return r, m, latchtest.LinkToken(t, m)
}

// mlToken sends a login_or_create link to email and returns its token.
func mlToken(t *testing.T, l *latchtest.Latch, p latchtest.Project, email string) string {
	t.Helper()
	_, _, tok := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": email})
	return tok
}

// mlLogin logs email in with a magic link (creating the user if needed);
// extra is merged into the authenticate body (session_duration_minutes, …).
func mlLogin(t *testing.T, l *latchtest.Latch, p latchtest.Project, email string, extra map[string]any) latchtest.Response {
	t.Helper()
	body := map[string]any{"token": mlToken(t, l, p, email)}
	for k, v := range extra {
		body[k] = v
	}
	return p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", body)
}

// sessLogin logs email in with a session of minutes and returns the reply.
func sessLogin(t *testing.T, l *latchtest.Latch, p latchtest.Project, email string, minutes int) latchtest.Response {
	t.Helper()
	r := mlLogin(t, l, p, email, map[string]any{"session_duration_minutes": minutes})
	if r.Str("session_token") == "" || r.Str("session_jwt") == "" || r.Str("session.session_id") == "" {
		t.Fatalf("login with session_duration_minutes %d returned no session: %s", minutes, r.Raw)
	}
	return r
}

// sessTime parses an RFC 3339 field of a reply.
func sessTime(t *testing.T, r latchtest.Response, path string) time.Time {
	t.Helper()
	s := r.Str(path)
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s = %q is not RFC 3339: %v (%s)", path, s, err, r.Raw)
	}
	if !strings.HasSuffix(s, "Z") {
		t.Fatalf("%s = %q is not UTC with a Z", path, s)
	}
	return v
}

// sessAuth posts to /v1/sessions/authenticate and returns the reply.
func sessAuth(t *testing.T, p latchtest.Project, body map[string]any) latchtest.Response {
	t.Helper()
	return p.Do(t, http.MethodPost, "/v1/sessions/authenticate", body)
}

// sessGone asserts that the session behind token is session_not_found.
func sessGone(t *testing.T, p latchtest.Project, field, value string) {
	t.Helper()
	p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{field: value}, http.StatusNotFound, "session_not_found")
}

// jwtPayload decodes a JWT's payload without verifying it.
func jwtPayload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return m
}

// jwtFactors lists "type/delivery_method" of the session claim's factors.
func jwtFactors(t *testing.T, jwt string) []string {
	t.Helper()
	sc, _ := jwtPayload(t, jwt)["https://stytch.com/session"].(map[string]any)
	fs, _ := sc["authentication_factors"].([]any)
	var out []string
	for _, f := range fs {
		m := f.(map[string]any)
		out = append(out, fmt.Sprint(m["type"], "/", m["delivery_method"]))
	}
	return out
}

// sessFactors lists "type/delivery_method" of a reply's session factors.
func sessFactors(r latchtest.Response, path string) []string {
	fs, _ := r.Get(path + ".authentication_factors").([]any)
	var out []string
	for _, f := range fs {
		m := f.(map[string]any)
		out = append(out, fmt.Sprint(m["type"], "/", m["delivery_method"]))
	}
	return out
}

// sessIDs lists the session ids of GET /v1/sessions?user_id=.
func sessIDs(t *testing.T, p latchtest.Project, userID string) []string {
	t.Helper()
	r := p.OK(t, http.MethodGet, "/v1/sessions?user_id="+userID, nil)
	ss, ok := r.Get("sessions").([]any)
	if !ok {
		t.Fatalf("sessions is not an array: %s", r.Raw)
	}
	var out []string
	for _, s := range ss {
		out = append(out, s.(map[string]any)["session_id"].(string))
	}
	return out
}

// sessListedOne is the one session GET /v1/sessions lists for the user.
func sessListedOne(t *testing.T, p latchtest.Project, userID string) map[string]any {
	t.Helper()
	r := p.OK(t, http.MethodGet, "/v1/sessions?user_id="+userID, nil)
	ss, _ := r.Get("sessions").([]any)
	if len(ss) != 1 {
		t.Fatalf("want 1 listed session: %s", r.Raw)
	}
	return ss[0].(map[string]any)
}

func sessSameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

const thirtyDays = 30 * 24 * time.Hour

// Issue 3, first example: a login with session_duration_minutes 43200 lasts
// 30 days from login, and authenticating the token (on /v1 and on the
// guide's path without /v1) leaves the expiry where it was.
func TestRememberMeFor30DaysAfterLogin(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Remember")
		login := sessLogin(t, l, p, "ada@example.com", 43200)
		token := login.Str("session_token")
		if len(token) != 44 || strings.ContainsAny(token, "+/=") {
			t.Errorf("session_token %q is not 44 base64url characters", token)
		}
		started, expires := sessTime(t, login, "session.started_at"), sessTime(t, login, "session.expires_at")
		if got := expires.Sub(started); got != thirtyDays {
			t.Fatalf("expires_at - started_at = %v, want 30 days", got)
		}
		if !started.Equal(l.Clock.Now()) {
			t.Errorf("started_at %v, want now %v", started, l.Clock.Now())
		}
		id := login.Str("session.session_id")

		for i, path := range []string{"/v1/sessions/authenticate", "/sessions/authenticate"} {
			l.Clock.Advance(7 * 24 * time.Hour)
			r := p.OK(t, http.MethodPost, path, map[string]any{"session_token": token})
			if r.Str("session.session_id") != id {
				t.Fatalf("%s: session_id %q, want %q", path, r.Str("session.session_id"), id)
			}
			if got := sessTime(t, r, "session.expires_at"); !got.Equal(expires) {
				t.Fatalf("%s (call %d): expires_at moved from %v to %v", path, i+1, expires, got)
			}
			if got := sessTime(t, r, "session.started_at"); !got.Equal(started) {
				t.Errorf("%s: started_at moved to %v", path, got)
			}
			if got := sessTime(t, r, "session.last_accessed_at"); !got.Equal(l.Clock.Now()) {
				t.Errorf("%s: last_accessed_at %v, want now %v", path, got, l.Clock.Now())
			}
			if r.Str("session_token") != token || r.Str("session_jwt") == "" || r.Str("user.user_id") != login.Str("user_id") {
				t.Errorf("%s: want session_token, session_jwt and user: %s", path, r.Raw)
			}
			// last_accessed_at is stored, not only answered: lazily, since
			// Latch coalesces these writes (store.NoteAccess), so within
			// seconds of real time.
			deadline := time.Now().Add(10 * time.Second)
			for {
				got := sessListedOne(t, p, login.Str("user_id"))["last_accessed_at"]
				if got == r.Str("session.last_accessed_at") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: listed last_accessed_at %v, answered %s", path, got, r.Str("session.last_accessed_at"))
				}
				time.Sleep(50 * time.Millisecond) // polling for the background write
			}
		}

		// 30 days after login (16 days on), the session is over.
		l.Clock.Advance(thirtyDays - 14*24*time.Hour - time.Second)
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
		l.Clock.Advance(time.Second)
		sessGone(t, p, "session_token", token)
		p.Fail(t, http.MethodPost, "/sessions/authenticate", map[string]any{"session_token": token}, http.StatusNotFound, "session_not_found")
	})
}

// Issue 3, second example: session_duration_minutes 43200 on every
// sessions/authenticate sets expires_at to now + 30 days each time, so a
// user seen at least once a month stays logged in; one who is not is out.
func TestRememberMeFor30DaysSinceYouLastSawMe(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Sliding")
		login := sessLogin(t, l, p, "bo@example.com", 43200)
		token := login.Str("session_token")
		started := sessTime(t, login, "session.started_at")

		// Seen every 20 days for 100 days: well past the first 30.
		for i := 0; i < 5; i++ {
			l.Clock.Advance(20 * 24 * time.Hour)
			r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_duration_minutes": 43200})
			if got, want := sessTime(t, r, "session.expires_at"), l.Clock.Now().Add(thirtyDays); !got.Equal(want) {
				t.Fatalf("visit %d: expires_at %v, want now + 30 days = %v", i+1, got, want)
			}
			if !sessTime(t, r, "session.started_at").Equal(started) {
				t.Fatalf("visit %d: started_at changed", i+1)
			}
			// The new expiry is stored: the list shows it.
			if got := sessListedOne(t, p, login.Str("user_id"))["expires_at"]; got != r.Str("session.expires_at") {
				t.Fatalf("visit %d: listed expires_at %s, answered %s", i+1, got, r.Str("session.expires_at"))
			}
			// The JWT agrees with the session it describes.
			sc := jwtPayload(t, r.Str("session_jwt"))["https://stytch.com/session"].(map[string]any)
			if sc["expires_at"] != r.Str("session.expires_at") {
				t.Fatalf("visit %d: JWT expires_at %v, session %v", i+1, sc["expires_at"], r.Str("session.expires_at"))
			}
		}

		// A duration may also shorten the session.
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_duration_minutes": 5})
		if got, want := sessTime(t, r, "session.expires_at"), l.Clock.Now().Add(5*time.Minute); !got.Equal(want) {
			t.Fatalf("shortened expires_at %v, want %v", got, want)
		}
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_duration_minutes": 43200})
		if got, want := sessTime(t, r, "session.expires_at"), l.Clock.Now().Add(thirtyDays); !got.Equal(want) {
			t.Fatalf("lengthened expires_at %v, want %v", got, want)
		}

		// Not seen for 30 days: out.
		l.Clock.Advance(thirtyDays)
		sessGone(t, p, "session_token", token)
	})
}

// Issue 3, third example: revoking by session_id, session_token or
// session_jwt ends the session at once; the user's other sessions live on.
func TestLogOutAUser(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Logout")
		byID := sessLogin(t, l, p, "cy@example.com", 60)
		byToken := sessLogin(t, l, p, "cy@example.com", 60)
		byJWT := sessLogin(t, l, p, "cy@example.com", 60)
		keep := sessLogin(t, l, p, "cy@example.com", 60)
		user := keep.Str("user_id")
		if got := sessIDs(t, p, user); len(got) != 4 {
			t.Fatalf("want 4 live sessions, got %v", got)
		}

		for _, c := range []struct {
			field string
			login latchtest.Response
			value string
		}{
			{"session_id", byID, byID.Str("session.session_id")},
			{"session_token", byToken, byToken.Str("session_token")},
			{"session_jwt", byJWT, byJWT.Str("session_jwt")},
		} {
			r := p.OK(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{c.field: c.value})
			if r.Get("request_id") == nil {
				t.Errorf("revoke reply lacks request_id: %s", r.Raw)
			}
			// At once, by token and by JWT (the JWT itself has not expired).
			sessGone(t, p, "session_token", c.login.Str("session_token"))
			sessGone(t, p, "session_jwt", c.login.Str("session_jwt"))
			p.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{c.field: c.value}, http.StatusNotFound, "session_not_found")
			for _, id := range sessIDs(t, p, user) {
				if id == c.login.Str("session.session_id") {
					t.Fatalf("revoked session %s (by %s) is still listed", id, c.field)
				}
			}
		}
		if got := sessIDs(t, p, user); len(got) != 1 || got[0] != keep.Str("session.session_id") {
			t.Fatalf("want only the untouched session left, got %v", got)
		}
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": keep.Str("session_token")})

		// Argument errors.
		p.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{}, http.StatusBadRequest, "no_session_revoke_arguments")
		p.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_id": keep.Str("session.session_id"), "session_token": keep.Str("session_token")}, http.StatusBadRequest, "too_many_session_revoke_arguments")
		p.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_id": "session-test-00000000-0000-4000-8000-000000000000"}, http.StatusNotFound, "session_not_found")
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": keep.Str("session_token")})
	})
}

// Issue 3, fourth example: GET /v1/sessions lists the user's live sessions
// and revoking each ends them all; Latch's revoke with user_id does it in
// one call and touches no other user.
func TestLogAUserOutOfAllSessions(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Everywhere")
		var tokens, ids []string
		for i := 0; i < 3; i++ {
			r := sessLogin(t, l, p, "di@example.com", 60)
			tokens, ids = append(tokens, r.Str("session_token")), append(ids, r.Str("session.session_id"))
		}
		// A short session that has ended is not listed.
		short := sessLogin(t, l, p, "di@example.com", 5)
		other := sessLogin(t, l, p, "eve@example.com", 60)
		user := short.Str("user_id")
		l.Clock.Advance(5 * time.Minute)

		listed := p.OK(t, http.MethodGet, "/v1/sessions?user_id="+user, nil)
		got := sessIDs(t, p, user)
		if !sessSameSet(got, ids) {
			t.Fatalf("listed %v, want the 3 live sessions %v", got, ids)
		}
		for _, s := range listed.Get("sessions").([]any) {
			m := s.(map[string]any)
			if m["user_id"] != user || m["expires_at"] == nil || m["authentication_factors"] == nil || m["roles"] == nil {
				t.Fatalf("listed session lacks fields: %v", m)
			}
		}

		// Stytch's way: revoke each listed session.
		for _, id := range got {
			p.OK(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_id": id})
		}
		if got := sessIDs(t, p, user); len(got) != 0 {
			t.Fatalf("after revoking each, still listed: %v", got)
		}
		for _, tok := range tokens {
			sessGone(t, p, "session_token", tok)
		}

		// Latch's way: one call with user_id.
		tokens = nil
		for i := 0; i < 3; i++ {
			tokens = append(tokens, sessLogin(t, l, p, "di@example.com", 60).Str("session_token"))
		}
		if got := sessIDs(t, p, user); len(got) != 3 {
			t.Fatalf("want 3 new sessions, got %v", got)
		}
		p.OK(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"user_id": user})
		if got := sessIDs(t, p, user); len(got) != 0 {
			t.Fatalf("after revoke by user_id, still listed: %v", got)
		}
		for _, tok := range tokens {
			sessGone(t, p, "session_token", tok)
		}
		// Another user's session is untouched.
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": other.Str("session_token")})
		if got := sessIDs(t, p, other.Str("user_id")); len(got) != 1 {
			t.Fatalf("other user's sessions: %v", got)
		}

		p.Fail(t, http.MethodGet, "/v1/sessions?user_id=user-test-00000000-0000-4000-8000-000000000000", nil, http.StatusNotFound, "user_not_found")
		p.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"user_id": "user-test-00000000-0000-4000-8000-000000000000"}, http.StatusNotFound, "user_not_found")
	})
}

// sessions/authenticate: argument errors, duration bounds, custom claims,
// last_accessed_at, and the JWT-only form (which also returns the token,
// open question 5).
func TestSessionAuthenticateFields(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Fields")
		login := sessLogin(t, l, p, "fay@example.com", 60)
		token, jwt := login.Str("session_token"), login.Str("session_jwt")

		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{}, http.StatusBadRequest, "no_session_arguments")
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_jwt": jwt}, http.StatusBadRequest, "too_many_session_arguments")
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": "not a jwt"}, http.StatusBadRequest, "unable_to_parse_session_jwt")
		sessGone(t, p, "session_token", "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3Fxx")

		// Duration bounds: 5–527040, on sessions/authenticate and on login.
		for _, d := range []int{4, 527041, -1} {
			p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_duration_minutes": d}, http.StatusBadRequest, "invalid_session_duration_minutes")
			p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": mlToken(t, l, p, "fay@example.com"), "session_duration_minutes": d}, http.StatusBadRequest, "invalid_session_duration_minutes")
		}
		for _, d := range []int{5, 527040} {
			r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_duration_minutes": d})
			if got, want := sessTime(t, r, "session.expires_at"), l.Clock.Now().Add(time.Duration(d)*time.Minute); !got.Equal(want) {
				t.Fatalf("duration %d: expires_at %v, want %v", d, got, want)
			}
		}

		// JWT only: 200 with the session's opaque token too; last_accessed_at moves.
		l.Clock.Advance(time.Minute)
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": jwt})
		if r.Str("session_token") != token {
			t.Errorf("JWT authenticate: session_token %q, want the session's token", r.Str("session_token"))
		}
		if got := sessTime(t, r, "session.last_accessed_at"); !got.Equal(l.Clock.Now()) {
			t.Errorf("last_accessed_at %v, want %v", got, l.Clock.Now())
		}
		if r.Str("user.user_id") != login.Str("user_id") || r.Get("user.emails") == nil {
			t.Errorf("no user in reply: %s", r.Raw)
		}

		// Custom claims: set, nested merge, replace, null deletes.
		claims := func(r latchtest.Response) map[string]any {
			t.Helper()
			c, ok := r.Get("session.custom_claims").(map[string]any)
			if !ok {
				t.Fatalf("custom_claims is not an object: %s", r.Raw)
			}
			pl := jwtPayload(t, r.Str("session_jwt"))
			for k, v := range c {
				if fmt.Sprint(pl[k]) != fmt.Sprint(v) {
					t.Fatalf("JWT claim %s = %v, session says %v", k, pl[k], v)
				}
			}
			return c
		}
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token,
			"session_custom_claims": map[string]any{"plan": "pro", "org": map[string]any{"id": "o1", "admin": true}}})
		if c := claims(r); c["plan"] != "pro" || fmt.Sprint(c["org"]) != "map[admin:true id:o1]" {
			t.Fatalf("claims after set: %v", c)
		}
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token,
			"session_custom_claims": map[string]any{"plan": "team", "org": map[string]any{"admin": nil}}})
		if c := claims(r); c["plan"] != "team" || fmt.Sprint(c["org"]) != "map[id:o1]" {
			t.Fatalf("claims after replace and nested delete: %v", c)
		}
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": r.Str("session_jwt"),
			"session_custom_claims": map[string]any{"plan": nil}})
		if c := claims(r); len(c) != 1 || c["org"] == nil {
			t.Fatalf("claims after null delete: %v", c)
		}
		if _, ok := jwtPayload(t, r.Str("session_jwt"))["plan"]; ok {
			t.Fatalf("deleted claim still in the JWT")
		}
		// The claims persist without being sent again.
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
		if c := claims(r); c["org"] == nil {
			t.Fatalf("claims not stored: %v", c)
		}

		// Design choice (open question 3, and the issue's "reserved names
		// refused"): reserved names are a 400, never stored, never in a JWT.
		for _, k := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"} {
			p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_custom_claims": map[string]any{k: "x"}}, http.StatusBadRequest, "reserved_claims_in_custom_claims")
			r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
			if _, ok := claims(r)[k]; ok {
				t.Fatalf("reserved claim %q stored", k)
			}
		}
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_custom_claims": map[string]any{"https://stytch.com/session": "x"}}, http.StatusBadRequest, "stytch_claims_in_custom_claims")
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_custom_claims": map[string]any{"big": strings.Repeat("x", 4100)}}, http.StatusBadRequest, "custom_claims_too_large")
		// Just under the cap is fine.
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_custom_claims": map[string]any{"big": strings.Repeat("x", 3900)}})
		// A refused patch changed nothing.
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_custom_claims": map[string]any{"big": nil}})
		if c := claims(r); len(c) != 1 || c["org"] == nil {
			t.Fatalf("claims after refusals: %v", c)
		}
		// Custom claims given at login land in the new session.
		r = mlLogin(t, l, p, "fay@example.com", map[string]any{"session_duration_minutes": 60, "session_custom_claims": map[string]any{"tier": 3}})
		if c := claims(r); fmt.Sprint(c["tier"]) != "3" {
			t.Fatalf("login claims: %v", c)
		}
	})
}

// Sandbox session tokens work in test projects only (CONTRACT §1.6).
func TestSessionSandboxValues(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Sandbox")
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"})
		if r.Str("user.user_id") != "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd" || r.Str("session_jwt") == "" {
			t.Fatalf("sandbox session: %s", r.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": "59cnLELtq5cFVS6uYK9f-pAWzBkhqZl8AvLhbhOvKNWw"}, http.StatusNotFound, "session_not_found")

		live := sessLiveProject(t, l, "Live sandbox")
		live.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"}, http.StatusNotFound, "session_not_found")
	})
}

// Custom claims set at the same time as each other and as factors being
// added are all kept: five passcodes for five phones, authenticated at once
// with the session_token, join the session and its JWT.
func TestConcurrentClaimsAndFactorsAllKept(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Busy Session")
		login := sessLogin(t, l, p, "rex@example.com", 60)
		token := login.Str("session_token")
		type method struct{ id, code string }
		var ms []method
		for i := range 5 {
			r, code := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": fmt.Sprintf("+1415555278%d", i+1), "session_token": token})
			ms = append(ms, method{r.Str("phone_id"), code})
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, m := range ms {
			wg.Go(func() {
				<-start
				if r := p.Do(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": m.id, "code": m.code, "session_token": token}); r.Status != 200 {
					t.Errorf("otp authenticate: %s", r.Raw)
				}
			})
			for j := range 2 {
				wg.Go(func() {
					<-start
					body := map[string]any{"session_token": token, "session_custom_claims": map[string]any{fmt.Sprintf("k%d_%d", i, j): i}}
					if r := p.Do(t, http.MethodPost, "/v1/sessions/authenticate", body); r.Status != 200 {
						t.Errorf("sessions authenticate: %s", r.Raw)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
		if got := sessFactors(r, "session"); len(got) != 6 {
			t.Errorf("want the magic link and 5 SMS factors, got %v", got)
		}
		if got := jwtFactors(t, r.Str("session_jwt")); len(got) != 6 {
			t.Errorf("JWT factors %v", got)
		}
		if c, _ := r.Get("session.custom_claims").(map[string]any); len(c) != 10 {
			t.Errorf("want 10 claims, got %v", c)
		}
	})
}

// TestSessionsAuthenticateGivesAWrongSecretOnlyA401: sessions/authenticate
// checks the project secret within its own read of the session (one query
// fewer on the hottest path), so every other way through it is held here:
// with a wrong or revoked secret, whatever the body (a live token, the
// sandbox token, a JWT, garbage, a bad duration, an unknown token), the
// answer is the 401, and nothing is written.
func TestSessionsAuthenticateGivesAWrongSecretOnlyA401(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Lazy")
		login := sessLogin(t, l, p, "lazy@example.com", 60)
		tok, jwt := login.Str("session_token"), login.Str("session_jwt")
		before := login.Str("session.expires_at")
		wrong := p
		wrong.Secret = p.Secret[:len(p.Secret)-1] + "A"
		if wrong.Secret == p.Secret {
			wrong.Secret = p.Secret[:len(p.Secret)-1] + "B"
		}
		other := l.NewProject(t, "Other")
		crossed := p
		crossed.Secret = other.Secret // a real secret, of another project

		bodies := []string{
			`{"session_token":"` + tok + `"}`,
			`{"session_token":"` + tok + `","session_duration_minutes":600}`,
			`{"session_token":"` + tok + `","session_custom_claims":{"x":1}}`,
			`{"session_jwt":"` + jwt + `"}`,
			`{"session_token":"WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"}`,
			`{"session_token":"no-such-token"}`,
			`{"session_jwt":"not.a.jwt"}`,
			`{"session_token":"` + tok + `","session_duration_minutes":1}`,
			`{"session_token":"` + tok + `","session_jwt":"` + jwt + `"}`,
			`{}`,
			`{"session_token":`,
		}
		l.Clock.Advance(time.Minute)
		for _, who := range []latchtest.Project{wrong, crossed} {
			for _, path := range []string{"/v1/sessions/authenticate", "/sessions/authenticate"} {
				for _, b := range bodies {
					who.Fail(t, http.MethodPost, path, b, http.StatusUnauthorized, "unauthorized_credentials")
				}
			}
		}
		// Nothing was written: no extension, no claims, no access noted.
		// An access is noted in the background, in batches (NoteAccess):
		// a second session authenticated now is noted after every refused
		// call above, so once its note is in the database, any note those
		// calls made would be too.
		marker := sessLogin(t, l, p, "marker@example.com", 60)
		l.Clock.Advance(time.Minute)
		noted := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": marker.Str("session_token")})
		if noted.Str("session.last_accessed_at") == marker.Str("session.last_accessed_at") {
			t.Fatalf("the marker's access is not newer than its login: %s", noted.Raw)
		}
		for deadline := time.Now().Add(10 * time.Second); sessListedOne(t, p, marker.Str("user_id"))["last_accessed_at"] != noted.Str("session.last_accessed_at"); {
			if time.Now().After(deadline) {
				t.Fatal("the marker session's access was not written within 10 s")
			}
			time.Sleep(20 * time.Millisecond) // polling for a background write, not waiting for time to pass
		}
		s := sessListedOne(t, p, login.Str("user_id"))
		if s["expires_at"] != before || s["last_accessed_at"] != login.Str("session.last_accessed_at") {
			t.Fatalf("a refused request changed the session: %v", s)
		}
		if c, _ := s["custom_claims"].(map[string]any); len(c) != 0 {
			t.Fatalf("a refused request set claims: %v", c)
		}

		// The right secret still works; once revoked, it gets the 401 at
		// once, on the very next call.
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})
		ctx := context.Background()
		secrets, err := l.App.Store.ListProjectSecrets(ctx, p.ID)
		if err != nil || len(secrets) != 1 {
			t.Fatalf("secrets %v, %v", secrets, err)
		}
		if err := l.App.Store.DeleteProjectSecret(ctx, p.ID, secrets[0].ID); err != nil {
			t.Fatal(err)
		}
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok}, http.StatusUnauthorized, "unauthorized_credentials")
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": jwt}, http.StatusUnauthorized, "unauthorized_credentials")
	})
}
