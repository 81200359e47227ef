package attack

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// attachChannel is one way of sending a victim's address to an attacker's
// account: a magic link, or a passcode by email, SMS or WhatsApp.
type attachChannel struct {
	name          string
	send, signup  string // the send and login_or_create routes
	field, idName string // "email"/"phone_number", "email_id"/"phone_id"
	filter        string // the users/search filter on the address
	notFound, dup string // error types
	addr          func(t *testing.T) string
	// receive returns the n-th message to addr: its secret (link token or
	// code) and its text.
	receive func(t *testing.T, l *latchtest.Latch, addr string, n int) (secret, text string)
	count   func(l *latchtest.Latch, addr string) int
	// authenticate redeems a secret (methodID: the id send returned).
	authenticate func(t *testing.T, p latchtest.Project, secret, methodID string) resp
	// by names the attacker's account on the attach: how each channel does
	// it differs, so that every way is tried.
	by func(a login) map[string]any
}

func mailSecret(link bool) func(t *testing.T, l *latchtest.Latch, addr string, n int) (string, string) {
	return func(t *testing.T, l *latchtest.Latch, addr string, n int) (string, string) {
		m := l.Mail.WaitFor(t, addr, n)
		if link {
			return latchtest.LinkToken(t, m), m.Subject + "\n" + m.Text
		}
		return latchtest.Code(t, m.Text), m.Subject + "\n" + m.Text
	}
}

func textSecret(prefix string) func(t *testing.T, l *latchtest.Latch, addr string, n int) (string, string) {
	return func(t *testing.T, l *latchtest.Latch, addr string, n int) (string, string) {
		m := l.SMS.WaitFor(t, prefix+addr, n)
		return latchtest.Code(t, m.Body), m.Body
	}
}

func otpAuthenticate(t *testing.T, p latchtest.Project, code, methodID string) resp {
	return do(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": methodID, "code": code, "session_duration_minutes": 60})
}

var attachChannels = []attachChannel{
	{
		name: "magic link", send: "/v1/magic_links/email/send", signup: "/v1/magic_links/email/login_or_create",
		field: "email", idName: "email_id", filter: "email_address", notFound: "email_not_found", dup: "duplicate_email",
		addr:    func(*testing.T) string { return email("victim") },
		receive: mailSecret(true), count: func(l *latchtest.Latch, addr string) int { return l.Mail.Count(addr) },
		authenticate: func(t *testing.T, p latchtest.Project, token, _ string) resp {
			return do(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": token, "session_duration_minutes": 60})
		},
		by: func(a login) map[string]any {
			return map[string]any{"session_token": a.Token, "login_expiration_minutes": 10080}
		},
	},
	{
		name: "email passcode", send: "/v1/otps/email/send", signup: "/v1/otps/email/login_or_create",
		field: "email", idName: "email_id", filter: "email_address", notFound: "email_not_found", dup: "duplicate_email",
		addr:    func(*testing.T) string { return email("victim") },
		receive: mailSecret(false), count: func(l *latchtest.Latch, addr string) int { return l.Mail.Count(addr) }, authenticate: otpAuthenticate,
		by: func(a login) map[string]any { return map[string]any{"session_jwt": a.JWT, "expiration_minutes": 10} },
	},
	{
		name: "SMS passcode", send: "/v1/otps/sms/send", signup: "/v1/otps/sms/login_or_create",
		field: "phone_number", idName: "phone_id", filter: "phone_number", notFound: "phone_number_not_found", dup: "duplicate_phone_number",
		addr:    func(t *testing.T) string { return phone(t) },
		receive: textSecret(""), count: func(l *latchtest.Latch, to string) int { return l.SMS.Count(to) }, authenticate: otpAuthenticate,
		by: func(a login) map[string]any { return map[string]any{"session_token": a.Token} },
	},
	{
		name: "WhatsApp passcode", send: "/v1/otps/whatsapp/send", signup: "/v1/otps/whatsapp/login_or_create",
		field: "phone_number", idName: "phone_id", filter: "phone_number", notFound: "phone_number_not_found", dup: "duplicate_phone_number",
		addr:         func(t *testing.T) string { return phone(t) },
		receive:      textSecret("whatsapp:"),
		count:        func(l *latchtest.Latch, addr string) int { return l.SMS.Count("whatsapp:" + addr) },
		authenticate: otpAuthenticate,
		by:           func(a login) map[string]any { return map[string]any{"user_id": a.UserID} },
	},
}

// Test13PreHijack (issue 12, point 1): the "trojan identifier" account
// pre-hijack, on every channel that can attach an address. The attacker,
// logged in to an account of their own, attaches the victim's address or
// number to it (by session_token, session_jwt or user_id, with the longest
// expiry allowed). Until it is verified, that attach claims nothing: a send
// without a session does not find it, a search by address does not find
// the attacker, login_or_create makes the victim a user of their own, and
// the victim's own code or link logs the victim in to that user. The
// attacker's code or link, which reached the victim and says that it adds
// the address to an existing account, then fails with a 4xx and changes
// nothing: the victim verified the address first.
func Test13PreHijack(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "prehijack")
		for _, c := range attachChannels {
			t.Run(c.name, func(t *testing.T) {
				attacker := newLogin(t, p)
				victim := c.addr(t)

				// The attach: accepted, as Stytch accepts it.
				body := map[string]any{c.field: victim}
				for k, v := range c.by(attacker) {
					body[k] = v
				}
				att := ok(t, p, http.MethodPost, c.send, body)
				if att.Str("user_id") != attacker.UserID {
					t.Fatalf("attach went to %s, want the attacker %s", att.Str("user_id"), attacker.UserID)
				}
				attackerSecret, text := c.receive(t, l, victim, 1)
				lower := strings.ToLower(text)
				if !strings.Contains(lower, "existing account") || strings.Contains(lower, "log in to prehijack") ||
					strings.Contains(lower, "login link") || strings.Contains(lower, "verification code is") {
					t.Errorf("the attach message does not say it adds the address to an existing account: %q", text)
				}

				// Nothing resolves the victim's address to the attacker.
				refused(t, "send without a session", do(t, p, http.MethodPost, c.send, map[string]any{c.field: victim}), http.StatusNotFound, c.notFound)
				found := ok(t, p, http.MethodPost, "/v1/users/search", map[string]any{"query": map[string]any{"operator": "AND",
					"operands": []any{map[string]any{"filter_name": c.filter, "filter_value": []string{victim}}}}})
				attacksTried.Add(1)
				if n := len(found.Get("results").([]any)); n != 0 {
					t.Errorf("search by the victim's address found %d users: %s", n, found.Raw)
				}
				su := ok(t, p, http.MethodPost, c.signup, map[string]any{c.field: victim})
				attacksTried.Add(1)
				if su.Str("user_id") == attacker.UserID || su.Get("user_created") != true {
					t.Fatalf("login_or_create for the victim resolved to the attacker: %s", su.Raw)
				}
				victimSecret, _ := c.receive(t, l, victim, 2)
				in := c.authenticate(t, p, victimSecret, su.Str(c.idName))
				if in.Status != http.StatusOK || in.Str("user_id") != su.Str("user_id") {
					t.Fatalf("the victim's own login: %d %s", in.Status, in.Raw)
				}

				// The attacker's message, used now (by the victim, misled, or
				// by anyone holding it): refused, nothing changed.
				for range 2 {
					refused(t, "the attach used after the victim verified", c.authenticate(t, p, attackerSecret, att.Str(c.idName)), http.StatusBadRequest, c.dup)
				}
				if verifiedOn(t, p, attacker.UserID, c.field, victim) {
					t.Errorf("the attacker's account holds the victim's %s verified", c.field)
				}
				if !verifiedOn(t, p, su.Str("user_id"), c.field, victim) {
					t.Errorf("the victim's account does not hold its %s verified", c.field)
				}
				sessions := ok(t, p, http.MethodGet, "/v1/sessions?user_id="+attacker.UserID, nil)
				if n := len(sessions.Get("sessions").([]any)); n != 1 {
					t.Errorf("the attacker has %d sessions, want their own 1", n)
				}
				refused(t, "the attach sent again", do(t, p, http.MethodPost, c.send, body), http.StatusBadRequest, c.dup)
				if n := c.count(l, victim); n != 2 {
					t.Errorf("%d messages reached the victim, want 2", n)
				}
			})
		}
	})
}

// verifiedOn reports whether the user holds value (an email or phone
// number, by field) verified.
func verifiedOn(t *testing.T, p latchtest.Project, userID, field, value string) bool {
	t.Helper()
	u := ok(t, p, http.MethodGet, "/v1/users/"+userID, nil)
	list := "emails"
	if field == "phone_number" {
		list = "phone_numbers"
	}
	ms, _ := u.Get(list).([]any)
	for _, m := range ms {
		m := m.(map[string]any)
		if m[field] == value && m["verified"] == true {
			return true
		}
	}
	return false
}
