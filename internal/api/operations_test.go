package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/latchtest"
)

// scrape reads the node's metrics from its metrics listener.
func scrape(t *testing.T, l *latchtest.Latch) string {
	t.Helper()
	res, err := http.Get(l.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %s", res.StatusCode, b)
	}
	return string(b)
}

var liveSessions = regexp.MustCompile(`(?m)^latch_live_sessions (\S+)$`)

// TestMetricsAreServedApartFromTheAPIAndAScrapeCountsNothing: GET /metrics
// on the API's port is a 404 envelope; the metrics listener serves them; the
// live-session gauge is a count made in the background, so sessions made
// since do not show in the next scrapes (no count per scrape).
func TestMetricsAreServedApartFromTheAPIAndAScrapeCountsNothing(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{})
	p := l.NewProject(t, "metrics")

	r := p.Do(t, http.MethodGet, "/metrics", nil)
	if r.Status != http.StatusNotFound || r.ErrorType() != "route_not_found" {
		t.Fatalf("GET /metrics on the API port: want 404 route_not_found, got %d: %.200s", r.Status, r.Raw)
	}
	// The metrics listener serves GET /metrics and nothing else.
	for _, c := range []struct{ method, path string }{{http.MethodGet, "/healthz"}, {http.MethodPost, "/metrics"}, {http.MethodGet, "/anything"}} {
		req, _ := http.NewRequest(c.method, l.MetricsURL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatalf("%s %s on the metrics listener answered 200", c.method, c.path)
		}
	}

	// The first background count runs as the node starts.
	var first string
	for deadline := time.Now().Add(10 * time.Second); ; {
		m := liveSessions.FindStringSubmatch(scrape(t, l))
		if m != nil && m[1] != "-1" {
			first = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("latch_live_sessions never counted")
		}
		time.Sleep(10 * time.Millisecond) // waiting for the goroutine, not for time
	}
	for range 2 {
		u := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("metrics")}).Str("user_id")
		tok := p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": u}).Str("token")
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
	}
	for range 5 {
		body := scrape(t, l)
		if m := liveSessions.FindStringSubmatch(body); m == nil || m[1] != first {
			t.Fatalf("latch_live_sessions moved between background counts (%s → %v): a scrape counted", first, m)
		}
		if !strings.Contains(body, `latch_http_requests_total{route="POST /v1/users",status="200"} 2`) {
			t.Fatalf("the request counter is missing:\n%s", body)
		}
	}
}

// TestAClientThatHangsUpIsLoggedAs499NotAsAServerError: a request whose
// client went away before the answer is logged at INFO with status 499 and
// counted under 499, never as a 500.
func TestAClientThatHangsUpIsLoggedAs499NotAsAServerError(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "hang-up")
		u := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("hang-up")}).Str("user_id")

		// The client hangs up: net/http cancels the request's context.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/users/"+u, nil)
		req.SetBasicAuth(p.ID, p.Secret)
		l.App.Handler.ServeHTTP(httptest.NewRecorder(), req)

		var line string
		for _, s := range strings.Split(l.Logs.String(), "\n") {
			if strings.Contains(s, `route="GET /v1/users/{user_id}"`) {
				line = s
			}
		}
		if !strings.Contains(line, "status=499") || !strings.Contains(line, "level=INFO") {
			t.Fatalf("want an INFO line with status=499, got %q", line)
		}
		body := scrape(t, l)
		if !strings.Contains(body, `latch_http_requests_total{route="GET /v1/users/{user_id}",status="499"} 1`) {
			t.Fatalf("not counted under 499:\n%s", body)
		}
		if strings.Contains(body, `status="500"`) {
			t.Fatalf("counted as a 500:\n%s", body)
		}
	})
}

// TestConnectionsPastTheCapWaitForAFreeOne: with --max-connections 2, two
// idle connections without a request hold both slots; a third client gets
// no answer until one of them closes, then gets its answer.
func TestConnectionsPastTheCapWaitForAFreeOne(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{MaxConnections: 2})
	addr := strings.TrimPrefix(l.URL, "http://")
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// Both are accepted before the third connects (the server reads from
	// each); a request through one of them proves it.
	if _, err := idle[0].Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := io.ReadFull(idle[0], buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("first connection: %q %v", buf, err)
	}

	done := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
		res, err := c.Get(l.URL + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a third connection was served beside two (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	idle[1].Close()
	if err := <-done; err != nil {
		t.Fatalf("the third client, once a slot was free: %v", err)
	}
}

// TestHealthzNamesTheJWTSigner: GET /healthz says which RSA implementation
// signs this node's JWTs, as the README promises an operator.
func TestHealthzNamesTheJWTSigner(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{})
	res, err := http.Get(l.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Status    string `json:"status"`
		JWTSigner string `json:"jwt_signer"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK || body.Status != "ok" {
		t.Fatalf("/healthz: %d %+v %v", res.StatusCode, body, err)
	}
	if body.JWTSigner != keys.SignerName() || (!strings.HasPrefix(body.JWTSigner, "OpenSSL ") && body.JWTSigner != "go crypto/rsa") {
		t.Fatalf("/healthz jwt_signer %q, want this process's signer %q", body.JWTSigner, keys.SignerName())
	}
}
