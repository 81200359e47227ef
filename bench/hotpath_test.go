package main

// Micro-benchmarks of the hot path, in-process. They run only with -bench:
//
//	go test ./bench -run '^$' -bench . -benchmem
//	go test ./bench -run '^$' -bench SessionsAuthenticateByToken -cpuprofile cpu.out && go tool pprof -top cpu.out
//
// The tests in this file (no -bench) check that bulk-seeded rows are what
// Latch itself reads, so the bench cannot drift from the schema unnoticed.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/app"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/secret"
)

// hotApp is an in-process Latch on a fresh SQLite file with n seeded
// sessions.
type hotApp struct {
	a         *app.App
	projectID string
	basic     string
	seed      *seeded
}

func newHotApp(tb testing.TB, n int) *hotApp {
	tb.Helper()
	ctx := context.Background()
	dbURL := "sqlite:" + filepath.Join(tb.TempDir(), "latch.db")
	master := base64.StdEncoding.EncodeToString(secret.Bytes(secret.MasterKeySize))
	a, err := app.Open(ctx, app.Config{Database: dbURL, MasterKey: master, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	cp, err := a.Service.CreateProject(ctx, auth.NewProject{Name: "Bench", RedirectURLs: []string{"https://bench.example/auth"}})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := seedStore(ctx, dbURL, cp.Project.ID, a.Ring, n, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return &hotApp{a: a, projectID: cp.Project.ID, basic: "Basic " + base64.StdEncoding.EncodeToString([]byte(cp.Project.ID+":"+cp.Secret)), seed: s}
}

// do serves one request in-process and returns the status and body.
func (h *hotApp) do(method, path, body string) (int, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", h.basic)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.a.Handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func tokenBody(tok string) string { return `{"session_token":"` + tok + `"}` }

// sessionReply mirrors the body of POST /v1/sessions/authenticate. It is
// decoded from a real reply with unknown fields refused, so it breaks when
// Latch's reply changes shape.
type sessionReply struct {
	RequestID  string `json:"request_id"`
	StatusCode int    `json:"status_code"`
	Session    *struct {
		SessionID             string `json:"session_id"`
		UserID                string `json:"user_id"`
		AuthenticationFactors []struct {
			Type                string `json:"type"`
			DeliveryMethod      string `json:"delivery_method"`
			LastAuthenticatedAt string `json:"last_authenticated_at"`
			CreatedAt           string `json:"created_at"`
			UpdatedAt           string `json:"updated_at"`
			EmailFactor         *struct {
				EmailID      string `json:"email_id"`
				EmailAddress string `json:"email_address"`
			} `json:"email_factor,omitempty"`
		} `json:"authentication_factors"`
		Roles          []string `json:"roles"`
		StartedAt      string   `json:"started_at"`
		LastAccessedAt string   `json:"last_accessed_at"`
		ExpiresAt      string   `json:"expires_at"`
		Attributes     struct {
			IPAddress string `json:"ip_address"`
			UserAgent string `json:"user_agent"`
		} `json:"attributes"`
		CustomClaims json.RawMessage `json:"custom_claims"`
	} `json:"session"`
	SessionToken string `json:"session_token"`
	SessionJWT   string `json:"session_jwt"`
	User         struct {
		UserID string `json:"user_id"`
		Emails []struct {
			EmailID  string `json:"email_id"`
			Email    string `json:"email"`
			Verified bool   `json:"verified"`
		} `json:"emails"`
		Status                 string          `json:"status"`
		PhoneNumbers           []struct{}      `json:"phone_numbers"`
		WebAuthnRegistrations  []struct{}      `json:"webauthn_registrations"`
		Providers              []struct{}      `json:"providers"`
		TOTPs                  []struct{}      `json:"totps"`
		CryptoWallets          []struct{}      `json:"crypto_wallets"`
		BiometricRegistrations []struct{}      `json:"biometric_registrations"`
		IsLocked               bool            `json:"is_locked"`
		Roles                  []string        `json:"roles"`
		Name                   json.RawMessage `json:"name"`
		CreatedAt              string          `json:"created_at"`
		Password               *struct{}       `json:"password"`
		TrustedMetadata        json.RawMessage `json:"trusted_metadata"`
		UntrustedMetadata      json.RawMessage `json:"untrusted_metadata"`
		ExternalID             *string         `json:"external_id"`
		LockCreatedAt          *string         `json:"lock_created_at"`
		LockExpiresAt          *string         `json:"lock_expires_at"`
	} `json:"user"`
}

func decodeReply(tb testing.TB, body []byte) sessionReply {
	tb.Helper()
	var r sessionReply
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		tb.Fatalf("decode the sessions/authenticate reply: %v\n%s", err, body)
	}
	return r
}

// TestSeededSessionsAuthenticate checks that rows written by the bulk
// seeder authenticate through Latch by token and by JWT, and that their
// users can be read.
func TestSeededSessionsAuthenticate(t *testing.T) {
	h := newHotApp(t, 50)
	for _, i := range []int{0, 49} {
		code, body := h.do("POST", "/v1/sessions/authenticate", tokenBody(h.seed.tokens[i]))
		if code != http.StatusOK {
			t.Fatalf("authenticate seeded session %d: %d %s", i, code, body)
		}
		r := decodeReply(t, body)
		if r.Session.SessionID != h.seed.sessionIDs[i] || r.User.UserID != h.seed.userIDs[i] || r.SessionToken != h.seed.tokens[i] {
			t.Fatalf("seeded session %d came back as %+v", i, r)
		}
		if len(r.User.Emails) != 1 || r.User.Emails[0].Email != h.seed.emails[i] || !r.User.Emails[0].Verified {
			t.Fatalf("seeded user %d has emails %+v", i, r.User.Emails)
		}
		if f := r.Session.AuthenticationFactors; len(f) != 1 || f[0].EmailFactor == nil ||
			f[0].EmailFactor.EmailID != h.seed.emailIDs[i] || f[0].EmailFactor.EmailAddress != h.seed.emails[i] {
			t.Fatalf("seeded session %d has factors %+v", i, f)
		}
		// By JWT the token comes back from the sealed copy.
		code, body = h.do("POST", "/v1/sessions/authenticate", `{"session_jwt":"`+r.SessionJWT+`"}`)
		if code != http.StatusOK {
			t.Fatalf("authenticate by JWT: %d %s", code, body)
		}
		if got := decodeReply(t, body).SessionToken; got != h.seed.tokens[i] {
			t.Fatalf("by JWT the session_token is %q, want the seeded one", got)
		}
		if code, body := h.do("GET", "/v1/users/"+h.seed.userIDs[i], ""); code != http.StatusOK {
			t.Fatalf("users/get: %d %s", code, body)
		}
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5000 * time.Microsecond}, {99, 9900 * time.Microsecond}, {99.9, 9990 * time.Microsecond}} {
		got := h.percentile(c.p)
		if d := got - c.want; d > c.want/100 || -d > c.want/100 {
			t.Errorf("p%v = %v, want %v within 1 %%", c.p, got, c.want)
		}
	}
}

// benchAuthenticate serves sessions/authenticate bodies in parallel,
// round robin over the seeded sessions, after one warm-up call each (which
// loads the project's key and caches).
func benchAuthenticate(b *testing.B, body func(h *hotApp, i int) string) {
	const n = 200
	h := newHotApp(b, n)
	for i := range n {
		if code, resp := h.do("POST", "/v1/sessions/authenticate", tokenBody(h.seed.tokens[i])); code != http.StatusOK {
			b.Fatalf("warm-up: %d %s", code, resp)
		}
	}
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = body(h, i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % n
			if code, resp := h.do("POST", "/v1/sessions/authenticate", bodies[i]); code != http.StatusOK {
				b.Errorf("%d %s", code, resp)
				return
			}
		}
	})
}

// BenchmarkSessionsAuthenticateByToken is the whole hot path in-process:
// middleware, project auth, session read, touch, user read, the JWT minted
// for the answer (served from the exact memo only when the same session is
// checked again within its second), response encoding.
func BenchmarkSessionsAuthenticateByToken(b *testing.B) {
	benchAuthenticate(b, func(h *hotApp, i int) string { return tokenBody(h.seed.tokens[i]) })
}

// BenchmarkSessionsAuthenticateExtend adds session_duration_minutes: an
// update of the expiry and the JWT minted for each answer.
func BenchmarkSessionsAuthenticateExtend(b *testing.B) {
	benchAuthenticate(b, func(h *hotApp, i int) string {
		return `{"session_token":"` + h.seed.tokens[i] + `","session_duration_minutes":60}`
	})
}

// BenchmarkSessionsAuthenticateByJWT verifies a JWT instead of hashing a token.
func BenchmarkSessionsAuthenticateByJWT(b *testing.B) {
	benchAuthenticate(b, func(h *hotApp, i int) string {
		_, resp := h.do("POST", "/v1/sessions/authenticate", tokenBody(h.seed.tokens[i]))
		return `{"session_jwt":"` + decodeReply(b, resp).SessionJWT + `"}`
	})
}

// BenchmarkSessionsAuthenticateWithClaims checks by token sessions that
// carry custom claims (set once each before the timer), which every
// answer and its JWT show.
func BenchmarkSessionsAuthenticateWithClaims(b *testing.B) {
	benchAuthenticate(b, func(h *hotApp, i int) string {
		body := `{"session_token":"` + h.seed.tokens[i] + `","session_custom_claims":{"plan":"gold","org":{"id":"org-123","tier":3}}}`
		if code, resp := h.do("POST", "/v1/sessions/authenticate", body); code != http.StatusOK {
			b.Fatalf("set claims: %d %s", code, resp)
		}
		return tokenBody(h.seed.tokens[i])
	})
}

func BenchmarkTokenHash(b *testing.B) {
	tok := secret.SessionToken()
	b.ReportAllocs()
	for b.Loop() {
		secret.Hash(tok)
	}
}

// BenchmarkStoreLookupByTokenHash reads sessions by token hash from a
// seeded SQLite store of 10,000 sessions, in parallel.
func BenchmarkStoreLookupByTokenHash(b *testing.B) {
	const n = 10000
	h := newHotApp(b, n)
	hashes := make([][]byte, n)
	for i, t := range h.seed.tokens {
		hashes[i] = secret.Hash(t)
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.a.Store.GetSessionByTokenHash(ctx, h.projectID, hashes[int(next.Add(1))%n]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkJWTMint signs the claims of a real session JWT (RS256).
func BenchmarkJWTMint(b *testing.B) {
	h := newHotApp(b, 1)
	_, resp := h.do("POST", "/v1/sessions/authenticate", tokenBody(h.seed.tokens[0]))
	jwt := decodeReply(b, resp).SessionJWT
	parts := strings.Split(jwt, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		b.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := h.a.Keys.Sign(ctx, h.projectID, claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponseEncoding marshals a real sessions/authenticate reply
// (decoded into a mirror of its shape).
func BenchmarkResponseEncoding(b *testing.B) {
	h := newHotApp(b, 1)
	_, resp := h.do("POST", "/v1/sessions/authenticate", tokenBody(h.seed.tokens[0]))
	r := decodeReply(b, resp)
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		if _, err := json.Marshal(&r); err != nil {
			b.Fatal(err)
		}
	}
}
