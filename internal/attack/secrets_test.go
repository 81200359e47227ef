package attack

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/store"
)

// Test13LiveProjectsWithoutATransportFailClosed (issue 13, point 3): on a
// node without SMTP or Twilio, a live project's every send is refused with
// 503 <channel>_delivery_not_configured, and nothing is queued, sent or
// logged for it; a test project on the same node still uses the dev outbox.
// A live project's message already queued waits for a transport instead of
// going to the dev outbox.
func Test13LiveProjectsWithoutATransportFailClosed(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend, NoDelivery: true})
		cp, err := l.App.Service.CreateProject(context.Background(), auth.NewProject{Name: "Live", Live: true, RedirectURLs: []string{latchtest.DefaultRedirect}})
		if err != nil {
			t.Fatal(err)
		}
		live := latchtest.Project{ID: cp.Project.ID, Secret: cp.Secret, URL: l.URL}
		addr, number := email("live-no-smtp"), phone(t)
		for _, c := range []struct {
			path, field, to, errorType string
		}{
			{"/v1/magic_links/email/login_or_create", "email", addr, "email_delivery_not_configured"},
			{"/v1/magic_links/email/invite", "email", addr, "email_delivery_not_configured"},
			{"/v1/otps/email/login_or_create", "email", addr, "email_delivery_not_configured"},
			{"/v1/otps/sms/login_or_create", "phone_number", number, "sms_delivery_not_configured"},
			{"/v1/otps/whatsapp/login_or_create", "phone_number", number, "whatsapp_delivery_not_configured"},
		} {
			r := do(t, live, http.MethodPost, c.path, map[string]any{c.field: c.to})
			refused(t, c.path, r, http.StatusServiceUnavailable, c.errorType)
		}
		for _, to := range []string{addr, number} {
			if n := outboxTo(t, l, to); n != 0 {
				t.Errorf("%d messages queued to %s", n, to)
			}
			if strings.Contains(l.Logs.String(), to) {
				t.Errorf("the log names %s", to)
			}
		}
		if r := ok(t, live, http.MethodPost, "/v1/users/search", map[string]any{}); r.Get("results_metadata.total") != 0.0 {
			t.Errorf("a refused send created a user: %s", r.Raw)
		}

		// A test project on the same node: the dev outbox.
		test := l.NewProject(t, "test")
		testAddr := email("dev-outbox")
		ok(t, test, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": testAddr})
		if outboxTo(t, l, testAddr) != 1 {
			t.Error("a test project's link is not in the dev outbox")
		}

		// A live message queued before (say, under another configuration)
		// is not handed to the dev outbox: it waits, retried.
		queued := email("queued-live")
		ctx := context.Background()
		if err := deliver.Enqueue(ctx, l.App.Store, l.App.Ring, live.ID, deliver.Message{Channel: store.ChannelEmail, To: queued, Subject: "s", Text: "secret text"}, l.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		l.App.Sender.Notify()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ms, err := l.App.Store.ListMessages(ctx, queued, 1)
			if err != nil || len(ms) != 1 {
				t.Fatalf("queued message: %v %v", ms, err)
			}
			if ms[0].SentAt != nil {
				t.Fatal("a live project's message was marked sent with no transport")
			}
			if ms[0].LastError != "" {
				if !strings.Contains(ms[0].LastError, "no transport") {
					t.Fatalf("last_error %q", ms[0].LastError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the sender never tried the live message")
			}
			time.Sleep(10 * time.Millisecond) // waiting for the sender, not for time
		}
		if strings.Contains(l.Logs.String(), "secret text") {
			t.Error("the live message's text is in the log")
		}
	})
}

var linkInText = regexp.MustCompile(`https?://\S*[?&]token=([^&\s"<>]+)\S*`)

// Test13NoSecretReachesTheLog (issue 13, point 3): every flow that makes
// or takes a secret runs on a node with SMTP and Twilio and on one with the
// dev outbox, and the whole log (at DEBUG) holds none of the secrets: link
// tokens (raw and URL-encoded), links, passcodes, session tokens, JWTs,
// the project secret.
func Test13NoSecretReachesTheLog(t *testing.T) {
	for _, mode := range []string{"transports", "dev-outbox"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			l := latchtest.Start(t, latchtest.Options{NoDelivery: mode == "dev-outbox"})
			p := l.NewProject(t, "secrets")
			var secrets []string
			keep := func(s ...string) {
				for _, v := range s {
					if v == "" {
						t.Fatal("an empty secret")
					}
				}
				secrets = append(secrets, s...)
			}
			// latest is the text of the newest message to `to`.
			latest := func(to string, n int) string {
				switch {
				case mode == "dev-outbox":
					ms, err := l.App.Store.ListMessages(context.Background(), to, 1)
					if err != nil || len(ms) == 0 {
						t.Fatalf("outbox to %s: %v", to, err)
					}
					m, err := deliver.Open(l.App.Ring, ms[0])
					if err != nil {
						t.Fatal(err)
					}
					return m.Text
				case strings.Contains(to, "@"):
					return l.Mail.WaitFor(t, to, n).Text
				case n == 2: // the WhatsApp passcode
					return l.SMS.WaitFor(t, "whatsapp:"+to, 1).Body
				default:
					return l.SMS.WaitFor(t, to, n).Body
				}
			}
			link := func(text string) string {
				m := linkInText.FindStringSubmatch(text)
				if m == nil {
					t.Fatalf("no link in %q", text)
				}
				tok, err := url.QueryUnescape(m[1])
				if err != nil {
					t.Fatal(err)
				}
				keep(m[0], m[1], tok)
				return tok
			}
			code := func(text string) string {
				c := latchtest.Code(t, text)
				keep(c)
				return c
			}
			session := func(r resp) string {
				keep(r.Str("session_token"), r.Str("session_jwt"))
				return r.Str("session_token")
			}
			keep(p.Secret)

			// Magic links: login_or_create, send (a second factor), invite, embeddable.
			addr := email("secrets")
			ok(t, p, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
			tok := session(ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link(latest(addr, 1)), "session_duration_minutes": 60}))
			ok(t, p, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": addr})
			session(ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link(latest(addr, 2)), "session_token": tok}))
			invitee := email("secrets-invitee")
			ok(t, p, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": invitee})
			link(latest(invitee, 1))
			uid := ok(t, p, http.MethodPost, "/v1/users", map[string]any{"email": email("embed")}).Str("user_id")
			embed := ok(t, p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": uid}).Str("token")
			keep(embed)
			session(ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": embed, "session_duration_minutes": 60}))

			// Passcodes on every channel, a wrong one first.
			number := phone(t)
			for _, c := range []struct{ channel, field, to string }{
				{"sms", "phone_number", number}, {"whatsapp", "phone_number", number}, {"email", "email", addr},
			} {
				n := map[string]int{"sms": 1, "whatsapp": 2, "email": 3}[c.channel] // the message's number to c.to
				r := ok(t, p, http.MethodPost, "/v1/otps/"+c.channel+"/login_or_create", map[string]any{c.field: c.to})
				mid := r.Str("phone_id") + r.Str("email_id")
				cd := code(latest(c.to, n))
				do(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": mid, "code": wrongCode(cd, 0)})
				session(ok(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": mid, "code": cd, "session_duration_minutes": 60}))
			}

			// Sessions: by token, by JWT, extended, refused, revoked.
			s := ok(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok, "session_duration_minutes": 30})
			session(s)
			ok(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": s.Str("session_jwt")})
			do(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok + "x"})
			bad := p
			bad.Secret = p.Secret + "x"
			do(t, bad, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})
			ok(t, p, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_token": tok})
			do(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})

			if mode == "dev-outbox" { // the sender has had its turn at every message
				if _, err := l.App.Sender.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			log := l.Logs.String()
			if !strings.Contains(log, "level=DEBUG") && !strings.Contains(log, "level=INFO") {
				t.Fatalf("the log is empty:\n%s", log)
			}
			for _, sec := range secrets {
				// A 6-digit code is looked for as a word (it could be part of
				// a longer number); a token or link anywhere, even right after
				// an escaped newline's "n".
				re := regexp.MustCompile(regexp.QuoteMeta(sec))
				if len(sec) < 16 {
					re = regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(sec) + `([^0-9A-Za-z]|$)`)
				}
				if loc := re.FindStringIndex(log); loc != nil {
					t.Errorf("a secret (%.12s…) is in the log: %q", sec, log[max(0, loc[0]-200):min(len(log), loc[1]+50)])
				}
			}
			t.Logf("%s: %d secrets, none in %d bytes of log", mode, len(secrets), len(log))
		})
	}
}
