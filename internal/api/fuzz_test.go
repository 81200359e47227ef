package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/app"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/secret"
)

// FuzzRequestDecoding sends arbitrary bodies (and path or query values) to
// every route of a real Latch handler over a real SQLite database, with the
// project's credentials, and requires a JSON envelope whose status_code is
// the HTTP status, under 500, for every input. In bodies and path values,
// $U, $E, $P, $T, $J and $PID stand for a real user id, email id, phone id,
// session token, session JWT and the project id, so inputs reach past the
// lookups. Seed corpus: testdata/fuzz/FuzzRequestDecoding.
func FuzzRequestDecoding(f *testing.F) {
	ctx := context.Background()
	a, err := app.Open(ctx, app.Config{
		Database:  "sqlite:" + filepath.Join(f.TempDir(), "fuzz.db") + "?_pragma=synchronous(OFF)",
		MasterKey: base64.StdEncoding.EncodeToString(secret.Bytes(32)),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close() })
	cp, err := a.Service.CreateProject(ctx, auth.NewProject{Name: "fuzz", RedirectURLs: []string{"https://app.example/authenticate"}, SDKOrigins: []string{"https://app.example"}})
	if err != nil {
		f.Fatal(err)
	}
	pid, sec := cp.Project.ID, cp.Secret
	// The frontend SDK's routes get its credentials: the public token and,
	// once a session exists, its token (sdkSession), from an allowed page.
	sdkSession := cp.PublicToken
	serve := func(method, target string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://latch.test/", bytes.NewReader(body))
		r.URL, _ = url.Parse("http://latch.test" + target)
		if r.URL == nil {
			r.URL = &url.URL{Path: "/"}
		}
		r.RequestURI = ""
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth(pid, sec)
		if strings.HasPrefix(r.URL.Path, "/sdk/v1/") {
			r.SetBasicAuth(cp.PublicToken, sdkSession)
			r.Header.Set("Origin", "https://app.example")
		}
		w := httptest.NewRecorder()
		a.Handler.ServeHTTP(w, r)
		return w
	}
	must := func(method, target, body string) map[string]any {
		w := serve(method, target, []byte(body))
		var m map[string]any
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &m) != nil {
			f.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
		return m
	}
	u := must(http.MethodPost, "/v1/users", `{"email":"fuzz@example.com","phone_number":"+14155552671"}`)
	tok := must(http.MethodPost, "/v1/magic_links", `{"user_id":"`+u["user_id"].(string)+`"}`)["token"].(string)
	s := must(http.MethodPost, "/v1/magic_links/authenticate", `{"token":"`+tok+`","session_duration_minutes":60}`)
	sdkSession = s["session_token"].(string)
	fill := strings.NewReplacer("$PID", pid, "$U", u["user_id"].(string), "$E", u["email_id"].(string),
		"$P", u["phone_id"].(string), "$T", s["session_token"].(string), "$J", s["session_jwt"].(string))

	routes := a.Handler.Routes
	f.Fuzz(func(t *testing.T, route uint8, param string, body []byte) {
		pattern := routes[int(route)%len(routes)]
		method, path, _ := strings.Cut(pattern, " ")
		value := url.PathEscape(fill.Replace(param))
		for {
			i := strings.IndexByte(path, '{')
			if i < 0 {
				break
			}
			j := strings.IndexByte(path[i:], '}')
			path = path[:i] + value + path[i+j+1:]
		}
		if path == "/v1/sessions" {
			path += "?user_id=" + url.QueryEscape(fill.Replace(param))
		}
		w := serve(method, path, []byte(fill.Replace(string(body))))
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if strings.HasSuffix(pattern, ".html") {
			return // a page the SDK loads (sdkPages), not an API answer
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %s %q: Content-Type %q", method, path, body, ct)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m == nil {
			t.Fatalf("%s %s %q: reply is not a JSON object: %s", method, path, body, w.Body)
		}
		if sc, _ := m["status_code"].(float64); int(sc) != w.Code {
			t.Fatalf("%s %s %q: status_code %v, HTTP %d", method, path, body, m["status_code"], w.Code)
		}
		if id, _ := m["request_id"].(string); id == "" {
			t.Fatalf("%s %s %q: no request_id: %s", method, path, body, w.Body)
		}
		if w.Code >= 400 {
			for _, k := range []string{"error_type", "error_message", "error_url"} {
				if v, _ := m[k].(string); v == "" {
					t.Fatalf("%s %s %q: error envelope without %s: %s", method, path, body, k, w.Body)
				}
			}
		}
	})
}
