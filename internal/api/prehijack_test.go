package api_test

// An address attached to an existing user by a send is not an identity
// until verified (issue 12 §1, account pre-hijacking; CONTRACT-NOTES "An
// unverified method is not an identity"). Test13PreHijack in
// internal/attack runs the attack itself on every channel; these tests hold
// the rules around it.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// phSearch returns the user_ids that a search with one operand finds.
func phSearch(t *testing.T, p latchtest.Project, filter string, value any) []string {
	t.Helper()
	r := fndSearch(t, p, map[string]any{"query": map[string]any{"operator": "AND",
		"operands": []any{map[string]any{"filter_name": filter, "filter_value": value}}}})
	return fndIDs(t, r)
}

// phVerified reads the verified flag of a phone number of a user reply.
func phVerified(t *testing.T, r latchtest.Response, number string) bool {
	t.Helper()
	return otpPhoneVerified(t, r, "phone_numbers", number)
}

// A user that the app's backend creates with users/create may have an
// address or number that is pending on another user: the pending attach
// claims nothing. The created user keeps both as its own, unverified as
// they are: login_or_create, send and users/create resolve them to it, and
// the pending attach can never be verified.
func TestUsersCreateIgnoresAPendingAttachAndKeepsItsAddresses(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Backend")
		attacker := sessLogin(t, l, p, "mallory@example.com", 60)
		const addr, number = "victim@example.com", "+14155552799"
		att, _, attTok := mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": addr, "session_token": attacker.Str("session_token")})
		attPhone, attCode := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": number, "session_token": attacker.Str("session_token")})

		// Search by address or number, exact or fuzzy, finds nobody; by the
		// pending method's own id, its user.
		for _, q := range []struct {
			filter string
			value  any
		}{
			{"email_address", []string{addr}}, {"email_address_fuzzy", "victim@"},
			{"phone_number", []string{number}}, {"phone_number_fuzzy", "5552799"},
		} {
			if got := phSearch(t, p, q.filter, q.value); len(got) != 0 {
				t.Errorf("search %s %v found %v", q.filter, q.value, got)
			}
		}
		fndSameSet(t, "search by the pending email_id", phSearch(t, p, "email_id", []string{att.Str("email_id")}), []string{attacker.Str("user_id")})
		fndSameSet(t, "search by the pending phone_id", phSearch(t, p, "phone_id", []string{attPhone.Str("phone_id")}), []string{attacker.Str("user_id")})

		created := fndCreateUser(t, p, map[string]any{"email": addr, "phone_number": number})
		owner := created.Str("user_id")
		if owner == attacker.Str("user_id") {
			t.Fatal("users/create returned the attacker")
		}
		u := mlUser(t, p, owner)
		if mlEmailVerified(t, u, "emails", addr) || phVerified(t, u, number) {
			t.Fatalf("users/create verified its methods: %s", u.Raw)
		}
		// The backend's user owns both, unverified as they are.
		p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": "VICTIM@example.com"}, http.StatusBadRequest, "duplicate_email")
		p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"phone_number": number}, http.StatusBadRequest, "duplicate_phone_number")
		r, _, _ := mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
		if r.Str("user_id") != owner || r.Get("user_created") != false {
			t.Fatalf("login_or_create: %s", r.Raw)
		}
		r, _ = otpSend(t, l, p, "sms", "login_or_create", map[string]any{"phone_number": number})
		if r.Str("user_id") != owner || r.Get("user_created") != false {
			t.Fatalf("sms login_or_create: %s", r.Raw)
		}
		r, _ = otpSend(t, l, p, "email", "send", map[string]any{"email": addr})
		if r.Str("user_id") != owner {
			t.Fatalf("email send: %s", r.Raw)
		}
		fndSameSet(t, "search email_address", phSearch(t, p, "email_address", []string{addr}), []string{owner})
		fndSameSet(t, "search phone_number_fuzzy", phSearch(t, p, "phone_number_fuzzy", "5552799"), []string{owner})

		// The attacker can neither attach them again nor use the attaches.
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": addr, "session_token": attacker.Str("session_token")}, http.StatusBadRequest, "duplicate_email")
		p.Fail(t, http.MethodPost, "/v1/otps/whatsapp/send", map[string]any{"phone_number": number, "session_jwt": attacker.Str("session_jwt")}, http.StatusBadRequest, "duplicate_phone_number")
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": attTok}, http.StatusBadRequest, "duplicate_email")
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": attPhone.Str("phone_id"), "code": attCode}, http.StatusBadRequest, "duplicate_phone_number")
		a := mlUser(t, p, attacker.Str("user_id"))
		if mlEmailVerified(t, a, "emails", addr) || phVerified(t, a, number) {
			t.Fatalf("the attacker's attaches were verified: %s", a.Raw)
		}
		u = mlUser(t, p, owner)
		if mlEmailVerified(t, u, "emails", addr) || phVerified(t, u, number) {
			t.Fatalf("the refused attaches changed the owner: %s", u.Raw)
		}
	})
}

// Two users may attach the same address at once; whoever verifies it first
// owns it. The other's link then fails with 400 duplicate_email and changes
// nothing, however often it is tried (the link is not spent).
func TestTheFirstToVerifyAnAttachedAddressOwnsIt(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "First")
		ann := sessLogin(t, l, p, "ann@example.com", 60)
		bob := sessLogin(t, l, p, "bob@example.com", 60)
		const shared = "shared@example.com"
		_, _, annTok := mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": shared, "user_id": ann.Str("user_id")})
		_, _, bobTok := mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": shared, "session_token": bob.Str("session_token")})

		r := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": bobTok, "session_token": bob.Str("session_token")})
		if r.Str("user_id") != bob.Str("user_id") {
			t.Fatalf("bob's attach logged in %s", r.Str("user_id"))
		}
		for range 2 {
			p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": annTok}, http.StatusBadRequest, "duplicate_email")
		}
		if mlEmailVerified(t, mlUser(t, p, ann.Str("user_id")), "emails", shared) {
			t.Fatal("ann's refused attach was verified")
		}
		if got := sessIDs(t, p, ann.Str("user_id")); len(got) != 1 {
			t.Fatalf("the refused attach made a session for ann: %v", got)
		}
		r, _, _ = mlSend(t, l, p, "/v1/magic_links/email/login_or_create", map[string]any{"email": shared})
		if r.Str("user_id") != bob.Str("user_id") {
			t.Fatalf("login_or_create after bob verified: %s", r.Raw)
		}
		fndSameSet(t, "search", phSearch(t, p, "email_address", []string{shared}), []string{bob.Str("user_id")})
	})
}

// An attach waits 5 minutes for its first authentication (Stytch: "If the
// user successfully authenticates within 5 minutes…"), whatever the expiry
// asked for: its link or code dies with it. Sending again within the window
// keeps the method id and starts the window again.
func TestAnAttachWaitsFiveMinutes(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Window")
		u := sessLogin(t, l, p, "wen@example.com", 600)
		tok := u.Str("session_token")

		_, m, link := mlSend(t, l, p, "/v1/magic_links/email/send", map[string]any{"email": "wen.work@example.com", "session_token": tok, "login_expiration_minutes": 10080})
		if !strings.Contains(m.Text, "5 minutes") {
			t.Errorf("the attach email does not give its 5 minutes: %q", m.Text)
		}
		sms, code := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": "+14155550123", "session_token": tok, "expiration_minutes": 10})
		if body := l.SMS.WaitFor(t, "+14155550123", 1).Body; !strings.Contains(body, "5 minutes") {
			t.Errorf("the attach SMS does not give its 5 minutes: %q", body)
		}
		l.Clock.Advance(5*time.Minute + time.Second)
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link}, http.StatusUnauthorized, "unable_to_auth_magic_link")
		p.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": sms.Str("phone_id"), "code": code}, http.StatusUnauthorized, "unable_to_auth_otp_code")

		// Within the window, a new send keeps the id and restarts it.
		first, _ := otpSend(t, l, p, "whatsapp", "send", map[string]any{"phone_number": "+14155550124", "session_token": tok, "expiration_minutes": 10})
		l.Clock.Advance(4 * time.Minute)
		again, code := otpSend(t, l, p, "whatsapp", "send", map[string]any{"phone_number": "+14155550124", "session_token": tok, "expiration_minutes": 10})
		if again.Str("phone_id") != first.Str("phone_id") {
			t.Fatalf("a second send made a new method: %s then %s", first.Str("phone_id"), again.Str("phone_id"))
		}
		l.Clock.Advance(4 * time.Minute)
		r := p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": again.Str("phone_id"), "code": code})
		if !phVerified(t, mlUser(t, p, u.Str("user_id")), "+14155550124") || r.Str("user_id") != u.Str("user_id") {
			t.Fatalf("the renewed attach was not verified: %s", r.Raw)
		}
	})
}
