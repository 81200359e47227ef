package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// CORS follows the Fetch standard's exact-origin rule: the page's Origin
// must equal an authorized origin byte for byte, and only then does the
// answer carry Access-Control-Allow-Origin (that origin, never *) with
// credentials allowed.

func sdkPreflight(t *testing.T, l *latchtest.Latch, origin, method string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, l.URL+"/sdk/v1/magic_links/email/login_or_create", nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-sdk-client,x-sdk-parent-host")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestSDKPreflightAllowsOnlyAnAuthorizedOrigin(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		l.NewSDKProject(t, "CORS", sdkOrigin, "https://app.example")
		res := sdkPreflight(t, l, sdkOrigin, "POST")
		h := res.Header
		if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != sdkOrigin || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("preflight: %d %v", res.StatusCode, h)
		}
		if h.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, DELETE" || h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, X-SDK-Client, X-SDK-Parent-Host" {
			t.Fatalf("preflight: %v", h)
		}
		for _, o := range []string{
			"null", "http://localhost:3001", "http://LOCALHOST:3000", "http://localhost:3000/",
			"https://localhost:3000", "http://localhost", "https://app.example:443", "https://evil.example", "",
		} {
			res := sdkPreflight(t, l, o, "POST")
			if res.StatusCode == 204 || res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("origin %q: preflight %d %v", o, res.StatusCode, res.Header)
			}
		}
		if res := sdkPreflight(t, l, "https://app.example", "PUT"); res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("second origin: %d %v", res.StatusCode, res.Header)
		}
	})
}

// A request from a page whose origin the project has not authorized is
// refused before anything is done: no email leaves, and the page's
// browser may read nothing of the answer.
func TestSDKRequestFromAnotherOriginSendsNothing(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		_, c := l.NewSDKProject(t, "Origins", sdkOrigin)
		// Another project authorizes evil.example: its token does not.
		l.NewSDKProject(t, "Other", "https://evil.example")
		addr := sdkEmail("cors")
		_, challenge := mlPKCE()
		for _, o := range []string{"https://evil.example", "null", "http://localhost:3001", "http://LOCALHOST:3000", "http://localhost:3000/"} {
			bad := c
			bad.Origin = o
			r := bad.Fail(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{"email": addr, "code_challenge": challenge}, 403, "invalid_request_origin")
			if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("origin %q may read the refusal: %v", o, r.Header)
			}
		}
		// Neither Origin nor X-SDK-Parent-Host: refused too.
		bare := c
		bare.Origin = ""
		bare.Fail(t, http.MethodGet, "/projects/bootstrap/"+c.PublicToken, nil, 403, "invalid_request_origin")
		// A same-origin GET carries no Origin; the SDK's X-SDK-Parent-Host names the page.
		req := bare.Request(t, http.MethodGet, "/sdk/v1/projects/bootstrap/"+c.PublicToken, nil)
		req.Header.Set("X-SDK-Parent-Host", sdkOrigin)
		if r := c.Send(t, req); r.Status != 200 {
			t.Fatalf("same-origin bootstrap: %d %s", r.Status, r.Raw)
		}
		// The refused requests queued nothing; the authorized page's send goes out.
		if ms, err := l.App.Store.ListMessages(context.Background(), addr, 10); err != nil || len(ms) != 0 {
			t.Fatalf("refused requests queued %d messages (%v)", len(ms), err)
		}
		c.OK(t, http.MethodPost, "/magic_links/email/login_or_create", map[string]any{"email": addr, "code_challenge": challenge})
		l.Mail.WaitFor(t, addr, 1)
	})
}

// A wrong or missing public token is the SDK's 401, which the page may
// read when its origin is one Latch knows.
func TestSDKWrongPublicTokenIsUnauthorized(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, c := l.NewSDKProject(t, "Tokens", sdkOrigin)
		for _, tok := range []string{"public-token-test-00000000-0000-4000-8000-000000000000", p.ID, p.Secret, ""} {
			bad := c
			bad.PublicToken = tok
			r := bad.Fail(t, http.MethodGet, "/users/me", nil, 401, "unauthorized_credentials")
			if r.Header.Get("Access-Control-Allow-Origin") != sdkOrigin {
				t.Fatalf("the page cannot read the 401: %v", r.Header)
			}
		}
		// The backend's credentials are not the SDK's, nor the reverse.
		sdkAsBackend := latchtest.Project{ID: c.PublicToken, Secret: c.PublicToken, URL: l.URL}
		sdkAsBackend.Fail(t, http.MethodGet, "/v1/users/x", nil, 401, "unauthorized_credentials")
	})
}
