// Package latchtest starts a real Latch for end-to-end tests: a real HTTP
// server on loopback over a real SQLite file or a fresh PostgreSQL schema,
// with a real SMTP server and a Twilio double receiving what it sends, and
// an injected clock.
package latchtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/app"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// Clock is an injected clock that moves only when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at the real time (so JOSE libraries checking iat/exp
// against the wall clock agree), truncated to the second.
func NewClock() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Second)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Backends lists the databases every end-to-end test runs on.
var Backends = []string{"sqlite", "postgres"}

// DatabaseURL makes a fresh database of the backend for one test.
func DatabaseURL(t testing.TB, backend string) string {
	t.Helper()
	if backend == "postgres" {
		return storetest.PostgresURL(t)
	}
	return storetest.SQLiteURL(t)
}

// Options tune Start.
type Options struct {
	Backend  string // "sqlite" (default) or "postgres"
	Database string // share a database between nodes; "" = a fresh one
	// MasterKey (base64) shared by nodes of one database; "" = a fresh one.
	MasterKey string
	Clock     *Clock        // shared clock; nil = a new one
	Mail      *MailServer   // shared SMTP server; nil = a new one
	SMS       *TwilioDouble // shared Twilio double; nil = a new one
	// NoDelivery leaves SMTP and Twilio unconfigured (the dev outbox).
	NoDelivery bool
	// SearchTimeout bounds one users/search (app.Config.SearchTimeout).
	SearchTimeout time.Duration
	// MaxConnections caps the API listener's connections (0 = no cap).
	MaxConnections int
	// BreachedPasswordsDir is app.Config.BreachedPasswordsDir.
	BreachedPasswordsDir string
	// Console serves the operators' console at /console/ of the node.
	Console bool
	// TrustedProxies (app.Config.TrustedProxies).
	TrustedProxies []netip.Prefix
}

// Latch is one running node.
type Latch struct {
	URL string
	// MetricsURL is the base URL of the node's metrics listener.
	MetricsURL string
	App        *app.App
	Clock      *Clock
	Mail       *MailServer
	SMS        *TwilioDouble
	Database   string
	MasterKey  string
	Logs       *LockedBuffer
	stop       func()
}

// Start runs a Latch node until the test ends.
func Start(t testing.TB, o Options) *Latch {
	t.Helper()
	if o.Backend == "" {
		o.Backend = "sqlite"
	}
	if o.Database == "" {
		o.Database = DatabaseURL(t, o.Backend)
	}
	if o.MasterKey == "" {
		o.MasterKey = base64.StdEncoding.EncodeToString(secret.Bytes(32))
	}
	if o.Clock == nil {
		o.Clock = NewClock()
	}
	l := &Latch{Clock: o.Clock, Database: o.Database, MasterKey: o.MasterKey, Logs: &LockedBuffer{}}
	cfg := app.Config{
		Database: o.Database, MasterKey: o.MasterKey, Now: o.Clock.Now, SearchTimeout: o.SearchTimeout, MaxConnections: o.MaxConnections, TrustedProxies: o.TrustedProxies,
		BreachedPasswordsDir: o.BreachedPasswordsDir,
		Logger:               slog.New(slog.NewTextHandler(l.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if !o.NoDelivery {
		if o.Mail == nil {
			o.Mail = NewMailServer(t)
		}
		if o.SMS == nil {
			o.SMS = NewTwilioDouble(t)
		}
		l.Mail, l.SMS = o.Mail, o.SMS
		cfg.SMTPURL, cfg.EmailFrom = "smtp://"+o.Mail.Addr, "Latch <login@latch.test>"
		cfg.TwilioURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken = o.SMS.URL, TwilioSID, TwilioToken
		cfg.TwilioFrom, cfg.TwilioWhatsAppFrom = TwilioFrom, TwilioWhatsAppFrom
	}
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start latch: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Console {
		if err := a.EnableConsole("http://"+ln.Addr().String()+"/console/", false); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.ServeWithMetrics(ctx, ln, mln); close(done) }()
	l.App, l.URL, l.MetricsURL = a, "http://"+ln.Addr().String(), "http://"+mln.Addr().String()
	l.stop = func() { cancel(); <-done; a.Close() }
	t.Cleanup(func() {
		l.Stop()
		if t.Failed() && os.Getenv("LATCH_TEST_LOGS") != "" {
			t.Logf("server log:\n%s", l.Logs.String())
		}
	})
	return l
}

// Stop stops the node (idempotent).
func (l *Latch) Stop() {
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
}

// Project is a project's credentials on a node.
type Project struct {
	ID     string
	Secret string
	URL    string
}

// DefaultRedirect is the redirect URL NewProject allows.
const DefaultRedirect = "https://app.example/authenticate"

// NewProject creates a test project with DefaultRedirect on its allow-list.
func (l *Latch) NewProject(t testing.TB, name string, redirects ...string) Project {
	t.Helper()
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirect}
	}
	cp, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: name, RedirectURLs: redirects})
	if err != nil {
		t.Fatal(err)
	}
	return Project{ID: cp.Project.ID, Secret: cp.Secret, URL: l.URL}
}

// On returns the same credentials pointed at another node.
func (p Project) On(l *Latch) Project { p.URL = l.URL; return p }

// Response is a decoded JSON reply.
type Response struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

// Str reads a string field by dotted path ("session.session_id").
func (r Response) Str(path string) string {
	v, _ := r.Get(path).(string)
	return v
}

// Get reads a field by dotted path; a number indexes an array
// ("session.authentication_factors.0.type").
func (r Response) Get(path string) any {
	var cur any = r.Body
	for _, part := range strings.Split(path, ".") {
		if a, ok := cur.([]any); ok {
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(a) {
				return nil
			}
			cur = a[i]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// ErrorType is the error_type of an error reply.
func (r Response) ErrorType() string { return r.Str("error_type") }

// NewRequest builds a request to the node with the project's credentials
// (when it has any) and a JSON content type. body may be nil, a string or
// []byte (sent as is) or anything JSON-encodable.
func (p Project) NewRequest(method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, p.URL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.ID != "" || p.Secret != "" {
		req.SetBasicAuth(p.ID, p.Secret)
	}
	return req, nil
}

// Do sends a request with the project's credentials. body may be nil, a
// string (sent as is) or anything JSON-encodable.
func (p Project) Do(t testing.TB, method, path string, body any) Response {
	t.Helper()
	req, err := p.NewRequest(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := Response{Status: res.StatusCode, Raw: raw}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("%s %s: reply is not JSON (%d): %s", method, path, res.StatusCode, raw)
	}
	return out
}

// OK sends a request and fails the test unless it answers 200.
func (p Project) OK(t testing.TB, method, path string, body any) Response {
	t.Helper()
	r := p.Do(t, method, path, body)
	if r.Status != http.StatusOK {
		t.Fatalf("%s %s: want 200, got %d: %s", method, path, r.Status, r.Raw)
	}
	return r
}

// Fail sends a request and fails the test unless it answers status with
// errorType in a complete error envelope.
func (p Project) Fail(t testing.TB, method, path string, body any, status int, errorType string) Response {
	t.Helper()
	r := p.Do(t, method, path, body)
	if r.Status != status || r.ErrorType() != errorType {
		t.Fatalf("%s %s: want %d %s, got %d: %s", method, path, status, errorType, r.Status, r.Raw)
	}
	for _, f := range []string{"status_code", "request_id", "error_type", "error_message", "error_url"} {
		if r.Get(f) == nil {
			t.Fatalf("%s %s: error envelope lacks %s: %s", method, path, f, r.Raw)
		}
	}
	if int(r.Get("status_code").(float64)) != status {
		t.Fatalf("status_code %v != HTTP %d", r.Get("status_code"), status)
	}
	return r
}
