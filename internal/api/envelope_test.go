package api_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

var fndRequestIDPattern = regexp.MustCompile(`^request-id-test-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// fndCheckError fails unless r is a complete error envelope of the status
// and type, with an error_url for that type.
func fndCheckError(t *testing.T, r latchtest.Response, status int, errorType string) {
	t.Helper()
	if r.Status != status || r.ErrorType() != errorType {
		t.Fatalf("want %d %s, got %d: %s", status, errorType, r.Status, r.Raw)
	}
	if r.Get("status_code") != float64(status) {
		t.Fatalf("status_code %v != %d", r.Get("status_code"), status)
	}
	if !fndRequestIDPattern.MatchString(r.Str("request_id")) {
		t.Fatalf("request_id %q has the wrong shape", r.Str("request_id"))
	}
	if r.Str("error_message") == "" {
		t.Fatalf("error_message is empty: %s", r.Raw)
	}
	if want := fmt.Sprintf("https://stytch.com/docs/api/errors/%d#%s", status, errorType); r.Str("error_url") != want {
		t.Fatalf("error_url %q, want %q", r.Str("error_url"), want)
	}
}

// fndRaw sends a request with the given headers and body and decodes the
// JSON reply (it must be JSON, whatever the status).
func fndRaw(t *testing.T, method, url string, body io.Reader, header map[string]string) latchtest.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := latchtest.Response{Status: res.StatusCode, Raw: raw}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q: %s", method, url, ct, raw)
	}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("%s %s: reply is not JSON (%d): %s", method, url, res.StatusCode, raw)
	}
	return out
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

func TestWrongOrMissingCredentialsAre401(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "creds")
		other := l.NewProject(t, "creds-other")
		live, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: "live", Live: true})
		if err != nil {
			t.Fatal(err)
		}
		p.OK(t, http.MethodPost, "/v1/users/search", nil)
		// Even a secret the project really holds is refused when its
		// environment is not the project's: plant a live-looking secret on
		// the test project, and a test-looking one on the live project.
		wrongEnvOnTest := secret.ProjectSecret(true)
		wrongEnvOnLive := secret.ProjectSecret(false)
		for _, s := range []store.ProjectSecret{
			{ID: secret.ID("secret", false), ProjectID: p.ID, Hash: secret.Hash(wrongEnvOnTest), CreatedAt: l.Clock.Now()},
			{ID: secret.ID("secret", true), ProjectID: live.Project.ID, Hash: secret.Hash(wrongEnvOnLive), CreatedAt: l.Clock.Now()},
		} {
			if err := l.App.Store.AddProjectSecret(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}

		cases := map[string]map[string]string{
			"test id, a live secret it holds":                 {"Authorization": basic(p.ID, wrongEnvOnTest)},
			"live id, a test secret it holds":                 {"Authorization": basic(live.Project.ID, wrongEnvOnLive)},
			"no Authorization":                                nil,
			"wrong secret":                                    {"Authorization": basic(p.ID, p.Secret+"x")},
			"empty secret":                                    {"Authorization": basic(p.ID, "")},
			"another project's secret":                        {"Authorization": basic(p.ID, other.Secret)},
			"unknown project":                                 {"Authorization": basic("project-test-00000000-0000-0000-0000-000000000000", p.Secret)},
			"test id, live secret":                            {"Authorization": basic(p.ID, live.Secret)},
			"live id, test secret":                            {"Authorization": basic(live.Project.ID, p.Secret)},
			"live id, a test-prefixed copy of its own secret": {"Authorization": basic(live.Project.ID, strings.Replace(live.Secret, "secret-live-", "secret-test-", 1))},
			"not Basic":                                       {"Authorization": "Bearer " + p.Secret},
			"Basic, not base64":                               {"Authorization": "Basic %%%"},
			"Basic, no colon":                                 {"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(p.ID+p.Secret))},
			"id and secret swapped":                           {"Authorization": basic(p.Secret, p.ID)},
			"project id in another case":                      {"Authorization": basic(strings.ToUpper(p.ID), p.Secret)},
		}
		for name, h := range cases {
			for _, route := range []struct{ method, path, body string }{
				{"POST", "/v1/users", `{"email":"x@example.com"}`},
				{"POST", "/v1/users/search", `{}`},
				{"GET", "/v1/users/anyone", ``},
				{"PUT", "/v1/users/anyone", `{}`},
				{"DELETE", "/v1/users/anyone", `{}`},
				{"DELETE", "/v1/users/emails/email-test-x", ``},
				{"DELETE", "/v1/users/phone_numbers/phone-number-test-x", ``},
			} {
				r := fndRaw(t, route.method, l.URL+route.path, strings.NewReader(route.body), h)
				if r.Status != 401 || r.ErrorType() != "unauthorized_credentials" {
					t.Fatalf("%s on %s %s: %d %s", name, route.method, route.path, r.Status, r.Raw)
				}
				if !strings.HasPrefix(name, "live id") {
					fndCheckError(t, r, 401, "unauthorized_credentials")
				}
			}
		}
		// Nothing was created by the refused requests.
		if fndTotal(t, fndSearch(t, p, nil)) != 0 {
			t.Fatal("a refused request created a user")
		}
		// The live project works with its own secret, and its ids say live.
		lp := latchtest.Project{ID: live.Project.ID, Secret: live.Secret, URL: l.URL}
		r := fndCreateUser(t, lp, map[string]any{"email": "live@example.com"})
		if !strings.HasPrefix(r.Str("user_id"), "user-live-") || !regexp.MustCompile(`^request-id-live-[0-9a-f-]{36}$`).MatchString(r.Str("request_id")) {
			t.Fatalf("live ids: %s", r.Raw)
		}
	})
}

func TestEveryReplyCarriesAFreshRequestIDAndItsStatusCode(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "envelope")
		seen := map[string]bool{}
		check := func(r latchtest.Response) {
			t.Helper()
			id := r.Str("request_id")
			if !fndRequestIDPattern.MatchString(id) {
				t.Fatalf("request_id %q: %s", id, r.Raw)
			}
			if seen[id] {
				t.Fatalf("request_id %s used twice", id)
			}
			seen[id] = true
			if r.Get("status_code") != float64(r.Status) {
				t.Fatalf("status_code %v != HTTP %d", r.Get("status_code"), r.Status)
			}
		}
		c := fndCreateUser(t, p, map[string]any{"email": fndEmail("env")})
		check(c)
		check(p.OK(t, http.MethodGet, "/v1/users/"+c.Str("user_id"), nil))
		check(fndSearch(t, p, nil))
		check(p.OK(t, http.MethodPut, "/v1/users/"+c.Str("user_id"), map[string]any{}))
		check(p.Fail(t, http.MethodGet, "/v1/users/nobody", nil, 404, "user_not_found"))
		check(p.Fail(t, http.MethodGet, "/v1/nothing-here", nil, 404, "route_not_found"))
		check(fndRaw(t, "GET", l.URL+"/healthz", nil, nil))
		check(p.OK(t, http.MethodDelete, "/v1/users/"+c.Str("user_id"), nil))
	})
}

func TestHealthzAnswersWithoutCredentials(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		r := fndRaw(t, "GET", l.URL+"/healthz", nil, nil)
		if r.Status != 200 || r.Str("status") != "ok" || r.Get("status_code") != 200.0 {
			t.Fatalf("healthz: %d %s", r.Status, r.Raw)
		}
		// Even with wrong credentials: health is not a /v1 route.
		r = fndRaw(t, "GET", l.URL+"/healthz", nil, map[string]string{"Authorization": basic("project-test-x", "nope")})
		if r.Status != 200 {
			t.Fatalf("healthz with bad credentials: %d %s", r.Status, r.Raw)
		}
		// Once the database is gone, it says so.
		l.App.Store.Close()
		r = fndRaw(t, "GET", l.URL+"/healthz", nil, nil)
		if r.Status != 503 || r.ErrorType() != "service_unavailable" {
			t.Fatalf("healthz without a database: %d %s", r.Status, r.Raw)
		}
	})
}

func TestUnknownRouteIs404AndWrongMethodIs405(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "routes")
		for _, path := range []string{"/v1/nothing", "/v1/users/a/b/c", "/", "/v2/users", "/v1/users/emails/"} {
			for _, m := range []string{"GET", "POST", "DELETE"} {
				fndCheckError(t, p.Do(t, m, path, "{}"), 404, "route_not_found")
			}
		}
		// Without credentials too: the route does not exist either way.
		fndCheckError(t, fndRaw(t, "GET", l.URL+"/v1/nothing", nil, nil), 404, "route_not_found")

		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/users"},
			{"PATCH", "/v1/users/someone"},
			{"POST", "/v1/users/someone"},
			{"GET", "/v1/users/emails/email-test-x"},
			{"POST", "/v1/users/phone_numbers/phone-number-test-x"},
			{"DELETE", "/healthz"},
		} {
			r := p.Do(t, c.method, c.path, "{}")
			fndCheckError(t, r, 405, "method_not_allowed")
		}
	})
}

// TestAPathWithDotSegmentsIsNotRedirected: the router would answer a path
// such as /v1/users/./x with a 301 to the cleaned path, and a client that
// follows it turns its POST into a GET. Latch answers 404 instead, in the
// envelope (found by FuzzRequestDecoding).
func TestAPathWithDotSegmentsIsNotRedirected(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "dots")
		for _, path := range []string{"/v1/users/phone_numbers/.", "/v1/users/./search", "/v1//users", "/v1/users/x/..", "/v1/sessions/jwks/../authenticate"} {
			for _, m := range []string{"GET", "POST", "DELETE"} {
				fndCheckError(t, p.Do(t, m, path, "{}"), 404, "route_not_found")
			}
		}
	})
}

func TestMalformedJSONIsABadRequest(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "malformed")
		c := fndCreateUser(t, p, map[string]any{"email": fndEmail("m")})
		for _, route := range []struct{ method, path string }{
			{"POST", "/v1/users"}, {"POST", "/v1/users/search"}, {"PUT", "/v1/users/" + c.Str("user_id")},
		} {
			for _, body := range []string{`{"email":`, `{email: "x"}`, `not json`, `{"a":1}}`, `[`, `"just a string"`, `[{"email":"x@example.com"}]`, `42`} {
				r := p.Do(t, route.method, route.path, body)
				fndCheckError(t, r, 400, "bad_request")
			}
		}
		if fndTotal(t, fndSearch(t, p, nil)) != 1 {
			t.Fatal("a malformed request created a user")
		}
		// A bad escape inside a password: the message says where, and
		// quotes none of it.
		r := p.Do(t, "POST", "/v1/passwords/authenticate", `{"email":"a@example.com","password":"MySecretPass\ud800word-that-is-private"}`)
		fndCheckError(t, r, 400, "bad_request")
		if strings.Contains(r.Str("error_message"), "word") {
			t.Fatalf("the message quotes the password: %s", r.Str("error_message"))
		}
	})
}

func TestAFieldOfTheWrongTypeIsA400NamingTheField(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "types")
		c := fndCreateUser(t, p, map[string]any{"email": fndEmail("t")})
		id := c.Str("user_id")
		cases := []struct {
			method, path, body, field string
		}{
			{"POST", "/v1/users", `{"email": 5}`, "email"},
			{"POST", "/v1/users", `{"email": "a@example.com", "phone_number": 14155552671}`, "phone_number"},
			{"POST", "/v1/users", `{"email": "a@example.com", "create_user_as_pending": "yes"}`, "create_user_as_pending"},
			{"POST", "/v1/users", `{"email": "a@example.com", "name": "Ada"}`, "name"},
			{"POST", "/v1/users", `{"email": "a@example.com", "name": {"first_name": 7}}`, "name.first_name"},
			{"POST", "/v1/users", `{"email": "a@example.com", "roles": "admin"}`, "roles"},
			{"POST", "/v1/users", `{"email": "a@example.com", "external_id": 12}`, "external_id"},
			{"PUT", "/v1/users/" + id, `{"external_id": false}`, "external_id"},
			{"PUT", "/v1/users/" + id, `{"roles": [1]}`, "roles"},
			{"PUT", "/v1/users/" + id, `{"name": {"last_name": []}}`, "name.last_name"},
			{"POST", "/v1/users/search", `{"cursor": 3}`, "cursor"},
			{"POST", "/v1/users/search", `{"limit": 1.5}`, "limit"},
			{"POST", "/v1/users/search", `{"query": []}`, "query"},
			{"POST", "/v1/passwords", `{"email": "a@example.com", "password": 918273645546372819}`, "password"},
			{"POST", "/v1/passwords/authenticate", `{"email": "a@example.com", "password": true}`, "password"},
			{"POST", "/v1/otps/authenticate", `{"method_id": "x", "code": 482913}`, "code"},
		}
		for _, c := range cases {
			r := p.Do(t, c.method, c.path, c.body)
			fndCheckError(t, r, 400, "bad_request")
			fndMessageNames(t, r, c.field)
			// The kind, never the value: it may be a password or a code.
			for _, v := range []string{"918273645546372819", "482913", "true", "14155552671"} {
				if strings.Contains(r.Str("error_message"), v) {
					t.Fatalf("the message repeats the value %s: %s", v, r.Raw)
				}
			}
		}
		g := p.OK(t, http.MethodGet, "/v1/users/"+id, nil)
		if g.Get("external_id") != nil || len(g.Get("roles").([]any)) != 0 {
			t.Fatalf("a refused update changed the user: %s", g.Raw)
		}
	})
}

func TestUnknownJSONFieldsAreIgnored(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "unknown-fields")
		c := p.OK(t, http.MethodPost, "/v1/users", `{"email":"new@example.com","telemetry_id":"abc","future":{"nested":[1,2]},"name":{"first_name":"N","nickname":"x"}}`)
		if c.Str("user.name.first_name") != "N" {
			t.Fatalf("known fields still apply: %s", c.Raw)
		}
		p.OK(t, http.MethodPut, "/v1/users/"+c.Str("user_id"), `{"telemetry_id":"abc","user_id":"ignored"}`)
		r := p.OK(t, http.MethodPost, "/v1/users/search", `{"telemetry_id":"abc","limit":10,"query":{"operator":"AND","operands":[],"extra":1}}`)
		if fndTotal(t, r) != 1 {
			t.Fatalf("search: %s", r.Raw)
		}
		p.OK(t, http.MethodDelete, "/v1/users/"+c.Str("user_id"), `{"telemetry_id":"abc"}`)
	})
}

// fndRawHTTP writes a request on a raw TCP connection and reads the reply,
// failing if it takes longer than wait.
func fndRawHTTP(t *testing.T, base string, request string, wait time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(wait))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no reply within %s: %v", wait, err)
	}
	body, _ := io.ReadAll(res.Body)
	return res, body, time.Since(start)
}

func TestABodyOverOneMiBIsRefusedWithoutReadingIt(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "big")
		host := strings.TrimPrefix(l.URL, "http://")

		// A declared Content-Length of 2 MiB, and only a few bytes sent: the
		// server answers at once instead of waiting for the rest.
		req := "POST /v1/users HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: " + basic(p.ID, p.Secret) +
			"\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{\"email\":\"big@"
		res, body, took := fndRawHTTP(t, l.URL, req, 5*time.Second)
		var r latchtest.Response
		r.Status, r.Raw = res.StatusCode, body
		if err := json.Unmarshal(body, &r.Body); err != nil {
			t.Fatalf("413 reply is not JSON: %s", body)
		}
		fndCheckError(t, r, 413, "request_too_large")
		if took > 3*time.Second {
			t.Fatalf("the 413 took %s: the server waited for the body", took)
		}

		// A chunked body (no Content-Length) is cut at 1 MiB. The client
		// keeps writing in the background; the reply comes first.
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			w := bufio.NewWriter(conn)
			fmt.Fprintf(w, "POST /v1/users HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", host, basic(p.ID, p.Secret))
			chunk := `{"email":"` + strings.Repeat("a", 64<<10)
			for i := 0; i < 40; i++ { // 2.5 MiB
				fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk)
				chunk = strings.Repeat("a", 64<<10)
			}
			w.WriteString("0\r\n\r\n")
			w.Flush()
		}()
		res2, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("chunked: no reply: %v", err)
		}
		body2, _ := io.ReadAll(res2.Body)
		var r2 latchtest.Response
		r2.Status, r2.Raw = res2.StatusCode, body2
		if err := json.Unmarshal(body2, &r2.Body); err != nil {
			t.Fatalf("chunked 413 reply is not JSON: %s", body2)
		}
		fndCheckError(t, r2, 413, "request_too_large")

		// Just under 1 MiB is read (and refused for what it says, not its size).
		pad := strings.Repeat(" ", (1<<20)-100)
		ok := p.Do(t, http.MethodPost, "/v1/users", `{"email":"fits@example.com"}`+pad)
		if ok.Status != 200 {
			t.Fatalf("a body under 1 MiB: %d %s", ok.Status, ok.Raw)
		}
	})
}

func TestTheLogLineOfARequestTiesItToItsRequestID(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{})
	p := l.NewProject(t, "logs")
	c := fndCreateUser(t, p, map[string]any{"email": fndEmail("log")})
	miss := p.Fail(t, http.MethodGet, "/v1/users/nobody", nil, 404, "user_not_found")
	none := p.Fail(t, http.MethodGet, "/v1/nowhere", nil, 404, "route_not_found")
	logs := l.Logs.String()
	for _, want := range []struct {
		id, route, status string
	}{
		{c.Str("request_id"), `route="POST /v1/users"`, "status=200"},
		{miss.Str("request_id"), `route="GET /v1/users/{user_id}"`, "status=404"},
		{none.Str("request_id"), `route=unmatched`, "status=404"},
	} {
		var line string
		for _, ln := range strings.Split(logs, "\n") {
			if strings.Contains(ln, "request_id="+want.id) {
				line = ln
			}
		}
		if line == "" {
			t.Fatalf("no log line has request_id=%s:\n%s", want.id, logs)
		}
		for _, part := range []string{want.route, want.status, "duration_ms="} {
			if !strings.Contains(line, part) {
				t.Fatalf("log line lacks %s: %s", part, line)
			}
		}
		if want.status == "status=200" && !strings.Contains(line, "project_id="+p.ID) {
			t.Fatalf("log line lacks the project: %s", line)
		}
	}
	// A secret never reaches the log.
	if strings.Contains(logs, p.Secret) {
		t.Fatal("the project secret is in the log")
	}
}

func TestEveryV1RouteNeedsCredentials(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{})
	p := l.NewProject(t, "every-route")
	fill := regexp.MustCompile(`\{[a-z_]+\}`)
	wrong := p.Secret[:len(p.Secret)-1] + "A"
	if wrong == p.Secret {
		wrong = p.Secret[:len(p.Secret)-1] + "B"
	}
	n := 0
	for _, pattern := range l.App.Handler.Routes {
		method, path, _ := strings.Cut(pattern, " ")
		if !strings.HasPrefix(path, "/v1/") && path != "/sessions/authenticate" {
			continue
		}
		if strings.HasPrefix(path, "/v1/sessions/jwks/") {
			continue // answers without credentials for jose (CONTRACT-NOTES.md, "JWKS")
		}
		n++
		url := l.URL + fill.ReplaceAllString(path, "x")
		for name, h := range map[string]map[string]string{
			"none":         nil,
			"wrong secret": {"Authorization": basic(p.ID, wrong)},
		} {
			r := fndRaw(t, method, url, strings.NewReader(`{}`), h)
			if r.Status != 401 || r.ErrorType() != "unauthorized_credentials" {
				t.Errorf("%s with %s credentials: %d %s", pattern, name, r.Status, r.Raw)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d /v1 routes found: %v", n, l.App.Handler.Routes)
	}
	// The JWKS is public.
	r := fndRaw(t, "GET", l.URL+"/v1/sessions/jwks/"+p.ID, nil, nil)
	if r.Status != 200 {
		t.Fatalf("jwks: %d %s", r.Status, r.Raw)
	}
}
