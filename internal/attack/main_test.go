package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// The counts the issue asks for, printed when the package ends.
var (
	attacksTried   atomic.Int64 // requests an attacker sent that had to be refused (or had to change nothing)
	faultsInjected atomic.Int64 // crashes, cut connections, refused deliveries
	lost           atomic.Int64 // acknowledged writes or queued messages missing afterwards
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath)) // the latch binary Test09Crash built
	}
	fmt.Printf("attack: %d attacks tried, %d faults injected, %d lost\n",
		attacksTried.Load(), faultsInjected.Load(), lost.Load())
	os.Exit(code)
}

// onBackends runs f as a parallel subtest per backend.
func onBackends(t *testing.T, f func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// twoNodes starts two nodes on one database, with one master key, clock,
// SMTP server and Twilio double.
func twoNodes(t *testing.T, backend string) (*latchtest.Latch, *latchtest.Latch) {
	t.Helper()
	a := latchtest.Start(t, latchtest.Options{Backend: backend})
	b := latchtest.Start(t, latchtest.Options{Backend: backend, Database: a.Database, MasterKey: a.MasterKey,
		Clock: a.Clock, Mail: a.Mail, SMS: a.SMS})
	return a, b
}

var seq atomic.Int64

// email returns an address no other test uses.
func email(prefix string) string {
	return fmt.Sprintf("%s-%d-%d@example.com", prefix, os.Getpid(), seq.Add(1))
}

// phone returns a valid E.164 number no other test of this process uses.
func phone(t testing.TB) string {
	t.Helper()
	for {
		n := seq.Add(1)
		p := fmt.Sprintf("+1415555%04d", n%10000)
		if _, err := auth.NormalizePhone(p); err == nil {
			return p
		}
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

// resp is a reply: latchtest.Response plus the headers and the latency.
type resp struct {
	latchtest.Response
	Header  http.Header
	Latency time.Duration
}

// exchange sends one request with p's credentials. body may be nil, a
// string or []byte (sent as is) or anything JSON-encodable; mods edit the
// request before it goes. A reply that is not JSON is an error.
func exchange(p latchtest.Project, method, path string, body any, mods ...func(*http.Request)) (resp, error) {
	req, err := p.NewRequest(method, path, body)
	if err != nil {
		return resp{}, err
	}
	for _, m := range mods {
		m(req)
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	lat := time.Since(start)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: read reply: %w", method, path, err)
	}
	out := resp{Response: latchtest.Response{Status: res.StatusCode, Raw: raw}, Header: res.Header, Latency: lat}
	if err := json.Unmarshal(raw, &out.Body); err != nil || out.Body == nil {
		return out, fmt.Errorf("%s %s: reply is not a JSON object (%d): %.300q", method, path, res.StatusCode, raw)
	}
	return out, nil
}

// do is exchange that fails the test on a transport error or a non-JSON reply.
func do(t testing.TB, p latchtest.Project, method, path string, body any, mods ...func(*http.Request)) resp {
	t.Helper()
	r, err := exchange(p, method, path, body, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ok sends a request that must answer 200.
func ok(t testing.TB, p latchtest.Project, method, path string, body any, mods ...func(*http.Request)) resp {
	t.Helper()
	r := do(t, p, method, path, body, mods...)
	if r.Status != http.StatusOK {
		t.Fatalf("%s %s: want 200, got %d: %s", method, path, r.Status, r.Raw)
	}
	return r
}

// envelopeErr reports what is wrong with an error reply, "" if it is a
// complete Stytch error envelope of its HTTP status.
func envelopeErr(r resp) string {
	for _, f := range []string{"status_code", "request_id", "error_type", "error_message", "error_url"} {
		if r.Get(f) == nil {
			return "error envelope lacks " + f
		}
	}
	if sc, _ := r.Get("status_code").(float64); int(sc) != r.Status {
		return fmt.Sprintf("status_code %v != HTTP %d", r.Get("status_code"), r.Status)
	}
	return ""
}

// leaksCredential reports a session token, JWT or link token in a reply.
func leaksCredential(r resp) string {
	for _, f := range []string{"session_token", "session_jwt", "token"} {
		if v, _ := r.Get(f).(string); v != "" {
			return f
		}
	}
	return ""
}

// refused counts one attack and fails unless r is the refusal wanted: the
// status, the error type (if given) in a complete envelope, and no session
// token, JWT or link token in the body.
func refused(t testing.TB, what string, r resp, status int, errorType string) {
	t.Helper()
	attacksTried.Add(1)
	if r.Status != status || (errorType != "" && r.ErrorType() != errorType) {
		t.Errorf("%s: want %d %s, got %d: %.400s", what, status, errorType, r.Status, r.Raw)
		return
	}
	if e := envelopeErr(r); e != "" {
		t.Errorf("%s: %s: %.400s", what, e, r.Raw)
	}
	if f := leaksCredential(r); f != "" {
		t.Errorf("%s: refused reply carries a %s: %.400s", what, f, r.Raw)
	}
}

// user creates a user and returns its id.
func user(t testing.TB, p latchtest.Project, body map[string]any) resp {
	t.Helper()
	return ok(t, p, http.MethodPost, "/v1/users", body)
}

// login is a session made by an embeddable magic link.
type login struct {
	UserID, SessionID, Token, JWT, ExpiresAt string
}

// sessionFor logs userID in (embeddable magic link, so no message is sent)
// for minutes.
func sessionFor(t testing.TB, p latchtest.Project, userID string, minutes int) login {
	t.Helper()
	tok := ok(t, p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": userID}).Str("token")
	r := ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": minutes})
	return login{UserID: userID, SessionID: r.Str("session.session_id"), Token: r.Str("session_token"), JWT: r.Str("session_jwt"), ExpiresAt: r.Str("session.expires_at")}
}

// newLogin creates a user with a fresh email and logs it in for an hour.
func newLogin(t testing.TB, p latchtest.Project) login {
	t.Helper()
	id := user(t, p, map[string]any{"email": email("login")}).Str("user_id")
	return sessionFor(t, p, id, 60)
}

// smsCode sends a passcode by SMS through node p (login_or_create) and
// returns the phone_id and the code that arrived.
func smsCode(t testing.TB, l *latchtest.Latch, p latchtest.Project, number string) (phoneID, code string) {
	t.Helper()
	var r resp
	msg := l.SMS.Next(t, number, func() {
		r = ok(t, p, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": number})
	})
	return r.Str("phone_id"), latchtest.Code(t, msg.Body)
}

// wrongCode returns a six-digit code other than code.
func wrongCode(code string, i int) string {
	var n int
	fmt.Sscanf(code, "%d", &n)
	return fmt.Sprintf("%06d", (n+1+i)%1000000)
}

// outboxTo counts the messages queued to recipient in the node's database.
func outboxTo(t testing.TB, l *latchtest.Latch, recipient string) int {
	t.Helper()
	ms, err := l.App.Store.ListMessages(context.Background(), recipient, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// parallel runs f(i) for i in [0, n) at once, after all are ready, and
// returns their errors joined.
func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}
