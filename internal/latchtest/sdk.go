package latchtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

// SDK calls /sdk/v1 as @stytch/vanilla-js does from a page at Origin:
// Basic public_token:session_token (public_token:public_token before
// login), the Origin and X-SDK-Parent-Host headers, JSON bodies.
type SDK struct {
	URL         string
	PublicToken string
	Origin      string // "" = no Origin header
	Session     string // the session token; "" before login
	ProjectID   string
}

// SDKResponse is a reply with its headers.
type SDKResponse struct {
	Response
	Header http.Header
}

// Data reads a field under the SDK's "data" by dotted path.
func (r SDKResponse) Data(path string) any { return r.Get("data." + path) }

// DataStr reads a string under "data".
func (r SDKResponse) DataStr(path string) string { v, _ := r.Data(path).(string); return v }

// NewSDKProject creates a test project whose pages at origins may use its
// public token, and an SDK client for the first origin.
func (l *Latch) NewSDKProject(t testing.TB, name string, origins ...string) (Project, SDK) {
	t.Helper()
	cp, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: name, RedirectURLs: []string{DefaultRedirect}, SDKOrigins: origins})
	if err != nil {
		t.Fatal(err)
	}
	c := SDK{URL: l.URL, PublicToken: cp.PublicToken, ProjectID: cp.Project.ID}
	if len(origins) > 0 {
		c.Origin = origins[0]
	}
	return Project{ID: cp.Project.ID, Secret: cp.Secret, URL: l.URL}, c
}

// Request builds the SDK's request.
func (c SDK) Request(t testing.TB, method, path string, body any) *http.Request {
	t.Helper()
	p := Project{URL: c.URL}
	req, err := p.NewRequest(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	pass := c.Session
	if pass == "" {
		pass = c.PublicToken
	}
	req.SetBasicAuth(c.PublicToken, pass)
	if c.Origin != "" {
		req.Header.Set("Origin", c.Origin)
		req.Header.Set("X-SDK-Parent-Host", c.Origin)
	}
	req.Header.Set("X-SDK-Client", "eyJzZGsiOnt9fQ==")
	return req
}

// Send sends a request built by Request (or changed after).
func (c SDK) Send(t testing.TB, req *http.Request) SDKResponse {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := SDKResponse{Response: Response{Status: res.StatusCode, Raw: raw}, Header: res.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: reply is not JSON (%d): %s", req.Method, req.URL.Path, res.StatusCode, raw)
		}
	}
	return out
}

// Do sends one SDK call.
func (c SDK) Do(t testing.TB, method, path string, body any) SDKResponse {
	t.Helper()
	return c.Send(t, c.Request(t, method, "/sdk/v1"+path, body))
}

// OK sends one SDK call and fails unless it answers 200 with data the
// page may read (its origin allowed, with credentials).
func (c SDK) OK(t testing.TB, method, path string, body any) SDKResponse {
	t.Helper()
	r := c.Do(t, method, path, body)
	if r.Status != http.StatusOK || r.Get("data") == nil {
		t.Fatalf("%s %s: want 200 with data, got %d: %s", method, path, r.Status, r.Raw)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != c.Origin || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("%s %s: CORS headers %v for origin %q", method, path, r.Header, c.Origin)
	}
	return r
}

// Fail sends one SDK call and fails unless it answers status errorType.
func (c SDK) Fail(t testing.TB, method, path string, body any, status int, errorType string) SDKResponse {
	t.Helper()
	r := c.Do(t, method, path, body)
	if r.Status != status || r.ErrorType() != errorType {
		t.Fatalf("%s %s: want %d %s, got %d: %s", method, path, status, errorType, r.Status, r.Raw)
	}
	return r
}
