package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Issue 12 §2–4: one address one user, server ids apart from external ids,
// strict input. Each test runs through the HTTP API on SQLite and PostgreSQL.

// idsSearch returns the user ids a one-filter search finds, or the error.
func idsSearch(t *testing.T, p latchtest.Project, filter string, value string) latchtest.Response {
	t.Helper()
	return p.Do(t, http.MethodPost, "/v1/users/search", fndQuery("AND", filter, []string{value}))
}

// idsFirstEmail is the address of the first email of a create answer's user.
func idsFirstEmail(r latchtest.Response) string {
	es, _ := r.Get("user.emails").([]any)
	if len(es) == 0 {
		return ""
	}
	e, _ := es[0].(map[string]any)["email"].(string)
	return e
}

func TestEverySpellingOfAnEmailIsTheSameUserOnEveryRoute(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "spellings")
		u := fndCreateUser(t, p, map[string]any{"email": "Hans@Bücher.de"})
		id := u.Str("user_id")
		if got := idsFirstEmail(u); got != "hans@xn--bcher-kva.de" {
			t.Fatalf("stored %q", got)
		}
		for _, spelling := range []string{"hans@xn--bcher-kva.de", "HANS@XN--BCHER-KVA.DE", "hans@bu\u0308cher.de",
			"hans@ｂüｃｈｅｒ.de", "hans@BÜCHER.DE", " hans@bücher.de\t"} {
			l.Clock.Advance(time.Minute) // five messages a minute to one recipient, whatever its spelling
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": spelling}, 400, "duplicate_email")
			if got := fndIDs(t, idsSearch(t, p, "email_address", spelling)); len(got) != 1 || got[0] != id {
				t.Fatalf("search %+q found %v, want [%s]", spelling, got, id)
			}
			r := p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": spelling})
			if r.Str("user_id") != id || r.Get("user_created") != false {
				t.Fatalf("magic link login_or_create %+q: %s", spelling, r.Raw)
			}
			if r := p.OK(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": spelling}); r.Str("user_id") != id {
				t.Fatalf("magic link send %+q: %s", spelling, r.Raw)
			}
			if r := p.OK(t, http.MethodPost, "/v1/otps/email/login_or_create", map[string]any{"email": spelling}); r.Str("user_id") != id {
				t.Fatalf("email OTP %+q: %s", spelling, r.Raw)
			}
			p.Fail(t, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": spelling}, 400, "duplicate_email")
		}

		// Non-ASCII letters are never folded onto an ASCII mailbox.
		dick := fndCreateUser(t, p, map[string]any{"email": "dick@example.com"}).Str("user_id")
		dotless := fndCreateUser(t, p, map[string]any{"email": "D\u0131CK@example.com"})
		if dotless.Str("user_id") == dick || idsFirstEmail(dotless) != "d\u0131ck@example.com" {
			t.Fatalf("dotless ı: %s", dotless.Raw)
		}
		if got := fndIDs(t, idsSearch(t, p, "email_address", "d\u0131ck@example.com")); len(got) != 1 || got[0] != dotless.Str("user_id") {
			t.Fatalf("search for the dotless address found %v", got)
		}
		fndCreateUser(t, p, map[string]any{"email": "kelvin@example.com"})
		jose := fndCreateUser(t, p, map[string]any{"email": "JOSÉ@example.com"})
		if idsFirstEmail(jose) != "jos\u00e9@example.com" {
			t.Fatalf("JOSÉ: %s", jose.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": "jose\u0301@example.com"}, 400, "duplicate_email")

		// Invisible, bidi and look-alike spellings are refused on every route.
		for _, bad := range []string{"\u212aelvin@example.com", "\u0130nci@example.com", "hans\u200d@bücher.de", "hans@b\u202eücher.de",
			"\ufeffhans@bücher.de", "hans@bü\u00adcher.de"} {
			body := map[string]any{"email": bad}
			p.Fail(t, http.MethodPost, "/v1/users", body, 400, "invalid_email")
			p.Fail(t, http.MethodPost, "/v1/users/search", fndQuery("AND", "email_address", []string{bad}), 400, "invalid_email")
			p.Fail(t, http.MethodPost, "/v1/magic_links/email/login_or_create", body, 400, "invalid_email")
			p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", body, 400, "invalid_email")
			p.Fail(t, http.MethodPost, "/v1/magic_links/email/invite", body, 400, "invalid_email")
			p.Fail(t, http.MethodPost, "/v1/otps/email/login_or_create", body, 400, "invalid_email")
		}
	})
}

func TestEverySpellingOfAPhoneNumberIsTheSameUserOnEveryRoute(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "phones")
		id := fndCreateUser(t, p, map[string]any{"phone_number": "+1 (415) 555-2799"}).Str("user_id")
		for _, spelling := range []string{"+14155552799", "+1 (415) - 555 - 2799", "＋１ ４１５ ５５５ ２７９９",
			"+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0662\u0667\u0669\u0669", "+1.415.555.2799"} {
			l.Clock.Advance(time.Minute)
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"phone_number": spelling}, 400, "duplicate_phone_number")
			if got := fndIDs(t, idsSearch(t, p, "phone_number", spelling)); len(got) != 1 || got[0] != id {
				t.Fatalf("search %+q found %v, want [%s]", spelling, got, id)
			}
			for _, route := range []string{"/v1/otps/sms/login_or_create", "/v1/otps/whatsapp/login_or_create", "/v1/otps/sms/send", "/v1/otps/whatsapp/send"} {
				if r := p.OK(t, http.MethodPost, route, map[string]any{"phone_number": spelling}); r.Str("user_id") != id {
					t.Fatalf("%s %+q: %s", route, spelling, r.Raw)
				}
			}
		}
		for _, bad := range []string{"+1415555\u200b2799", "+1 415 555 2799 ext. 9", "+1-415-555-CALL"} {
			body := map[string]any{"phone_number": bad}
			p.Fail(t, http.MethodPost, "/v1/users", body, 400, "invalid_phone_number")
			p.Fail(t, http.MethodPost, "/v1/users/search", fndQuery("AND", "phone_number", []string{bad}), 400, "invalid_phone_number")
			p.Fail(t, http.MethodPost, "/v1/otps/sms/login_or_create", body, 400, "invalid_phone_number")
			p.Fail(t, http.MethodPost, "/v1/otps/whatsapp/send", body, 400, "invalid_phone_number")
		}
	})
}

func TestAnExternalIDCanNeverBeAnotherUsersID(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "id spaces")
		a := fndCreateUser(t, p, map[string]any{"email": fndEmail("a")}).Str("user_id")
		b := fndCreateUser(t, p, map[string]any{"email": fndEmail("b"), "external_id": "crm-7"}).Str("user_id")
		for _, ext := range []string{a, "user-test-00000000-0000-0000-0000-000000000000", "user-live-anything"} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("c"), "external_id": ext}, 400, "invalid_external_id")
			p.Fail(t, http.MethodPut, "/v1/users/"+b, map[string]any{"external_id": ext}, 400, "invalid_external_id")
		}
		if r := p.OK(t, http.MethodGet, "/v1/users/crm-7", nil); r.Str("user_id") != b {
			t.Fatalf("GET by external id: %s", r.Raw)
		}
		p.OK(t, http.MethodDelete, "/v1/users/"+a, nil)
		// The deleted id stays gone, and the 404 says which id space it searched.
		r := p.Fail(t, http.MethodGet, "/v1/users/"+a, nil, 404, "user_not_found")
		if !strings.Contains(r.Str("error_message"), "user_id") {
			t.Fatalf("404 does not name the id space: %s", r.Raw)
		}
		p.Fail(t, http.MethodDelete, "/v1/users/"+a, nil, 404, "user_not_found")
		p.Fail(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": a}, 404, "user_not_found")
		r = p.Fail(t, http.MethodGet, "/v1/users/crm-8", nil, 404, "user_not_found")
		if !strings.Contains(r.Str("error_message"), "external_id") {
			t.Fatalf("404 does not name the id space: %s", r.Raw)
		}
		p.OK(t, http.MethodGet, "/v1/users/"+b, nil)
	})
}

// session logs a new user in and returns its session token.
func idsSession(t *testing.T, p latchtest.Project) (userID, token string) {
	t.Helper()
	userID = fndCreateUser(t, p, map[string]any{"email": fndEmail("s")}).Str("user_id")
	tok := p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": userID}).Str("token")
	s := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
	return userID, s.Str("session_token")
}

func TestRequestBodiesAreReadStrictly(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "strict")
		userID, tok := idsSession(t, p)
		email := fndEmail("strict")
		refused := map[string]string{
			"duplicate key":             `"untrusted_metadata":{},"untrusted_metadata":{}`,
			"duplicate nested key":      `"trusted_metadata":{"a":1,"a":2}`,
			"duplicate deeper key":      `"trusted_metadata":{"a":{"b":[{"c":1,"c":1}]}}`,
			"invalid UTF-8 in metadata": `"trusted_metadata":{"k":"` + "\xff\xfe" + `"}`,
			"invalid UTF-8 in a key":    `"untrusted_metadata":{"` + "\xc3" + `":1}`,
			"lone surrogate":            `"trusted_metadata":{"k":"\ud800"}`,
			"number beyond a double":    `"trusted_metadata":{"k":1e400}`,
			"negative beyond a double":  `"untrusted_metadata":{"k":[-1E+309]}`,
			"NUL in metadata":           `"trusted_metadata":{"k":"a\u0000b"}`,
		}
		for name, fields := range refused {
			r := p.Do(t, http.MethodPost, "/v1/users", []byte(`{"email":"`+email+`",`+fields+`}`))
			if r.Status != 400 || r.ErrorType() != "bad_request" {
				t.Fatalf("create with %s: %d %s", name, r.Status, r.Raw)
			}
			r = p.Do(t, http.MethodPut, "/v1/users/"+userID, []byte(`{`+fields+`}`))
			if r.Status != 400 || r.ErrorType() != "bad_request" {
				t.Fatalf("update with %s: %d %s", name, r.Status, r.Raw)
			}
		}
		// Nothing of it was stored, and the user still reads.
		if got := fndIDs(t, idsSearch(t, p, "email_address", email)); len(got) != 0 {
			t.Fatalf("a refused body created %v", got)
		}
		if r := p.OK(t, http.MethodGet, "/v1/users/"+userID, nil); len(r.Get("trusted_metadata").(map[string]any)) != 0 {
			t.Fatalf("a refused update was stored: %s", r.Raw)
		}
		// The largest doubles are fine.
		p.OK(t, http.MethodPut, "/v1/users/"+userID, []byte(`{"trusted_metadata":{"k":1.7976931348623157e308,"n":-5e-324}}`))

		// Custom claims get the same checks.
		for _, claims := range []string{`{"k":1e400}`, `{"k":"` + "\xff" + `"}`, `{"k":1,"k":2}`} {
			p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", []byte(`{"session_token":"`+tok+`","session_custom_claims":`+claims+`}`), 400, "bad_request")
		}
		// Member names match exactly: no case folding, no ſ for s.
		for _, name := range []string{"SESSION_TOKEN", "Session_Token", "\u017fession_token", "session_to\u212aen"} {
			p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{name: tok}, 400, "no_session_arguments")
		}
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})
		p.Fail(t, http.MethodPost, "/v1/sessions/authenticate", []byte(`{"session_token":"`+tok+`","session_token":"x"}`), 400, "bad_request")
	})
}

func TestACursorMustDecodeToCleanText(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "cursors")
		for i := 0; i < 3; i++ {
			fndCreateUser(t, p, map[string]any{"email": fndEmail("c")})
		}
		next := fndSearch(t, p, map[string]any{"limit": 1}).Str("results_metadata.next_cursor")
		if next == "" {
			t.Fatal("no next_cursor")
		}
		p.OK(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": 1, "cursor": next})
		raw, _ := base64.RawURLEncoding.DecodeString(next)
		ms, id, _ := strings.Cut(string(raw), "|")
		for _, bad := range []string{ms + "|" + id + "\x00", ms + "|user-test-\xff\xfe", ms + "|\x00", "\x00|" + id, ms + "|" + id[:10] + "\x00" + id[11:], ms + "|crm-1"} {
			p.Fail(t, http.MethodPost, "/v1/users/search", map[string]any{"cursor": base64.RawURLEncoding.EncodeToString([]byte(bad))}, 400, "user_search_invalid_cursor")
		}
	})
}

func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "headers")
		other := l.NewProject(t, "other")
		_, tok := idsSession(t, p)
		for _, c := range []struct{ path, body string }{
			{"/v1/users/search", `{}`},
			{"/v1/sessions/authenticate", `{"session_token":"` + tok + `"}`},
		} {
			send := func(auths ...string) int {
				req, err := http.NewRequest(http.MethodPost, l.URL+c.path, strings.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				for _, a := range auths {
					req.Header.Add("Authorization", a)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			mine, theirs := basic(p.ID, p.Secret), basic(other.ID, other.Secret)
			if got := send(mine); got != 200 {
				t.Fatalf("%s with one header: %d", c.path, got)
			}
			for _, pair := range [][]string{{mine, mine}, {mine, theirs}, {theirs, mine}, {mine, "Basic Og=="}} {
				if got := send(pair...); got != 401 {
					t.Fatalf("%s with two Authorization headers: %d, want 401", c.path, got)
				}
			}
		}
	})
}
