package api_test

import (
	"net/http"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// send/primary (not signed in: a link or code to an existing user) and
// send/secondary (signed in: a new email or phone for the signed-in user),
// for magic links and every passcode channel.
func TestSDKSendPrimaryLogsInAndSendSecondaryAttaches(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, anon := l.NewSDKProject(t, "Sends", sdkOrigin)
		addr := sdkEmail("primary")
		alice, first := sdkLogin(t, l, anon, addr)
		aliceID := first.DataStr("user_id")

		// Signed in: a second email by magic link, a phone by WhatsApp and a
		// third email by passcode, each joining Alice's session.
		second := sdkEmail("secondary")
		verifier, challenge := mlPKCE()
		m := l.Mail.Next(t, second, func() {
			r := alice.OK(t, http.MethodPost, "/magic_links/email/send/secondary", map[string]any{"email": second, "code_challenge": challenge})
			if r.Data("user_id") != nil || r.Data("email_id") != nil {
				t.Fatalf("magic-link send says more than ResponseCommon: %s", r.Raw)
			}
		})
		r := alice.OK(t, http.MethodPost, "/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, m), "code_verifier": verifier, "session_duration_minutes": 60})
		if r.DataStr("user_id") != aliceID || r.DataStr("session_token") != alice.Session {
			t.Fatalf("send/secondary link: %s", r.Raw)
		}
		phone := sdkPhone()
		var sent latchtest.SDKResponse
		sms := l.SMS.Next(t, "whatsapp:"+phone, func() {
			sent = alice.OK(t, http.MethodPost, "/otps/whatsapp/send/secondary", map[string]any{"phone_number": phone})
		})
		alice.OK(t, http.MethodPost, "/otps/authenticate", map[string]any{"token": latchtest.Code(t, sms.Body), "method_id": sent.DataStr("method_id"), "session_duration_minutes": 60})
		third := sdkEmail("secondary-otp")
		mail := l.Mail.Next(t, third, func() {
			sent = alice.OK(t, http.MethodPost, "/otps/email/send/secondary", map[string]any{"email": third})
		})
		alice.OK(t, http.MethodPost, "/otps/authenticate", map[string]any{"token": latchtest.Code(t, mail.Text), "method_id": sent.DataStr("method_id"), "session_duration_minutes": 60})
		u := p.OK(t, http.MethodGet, "/v1/users/"+aliceID, nil)
		if emails, _ := u.Get("emails").([]any); len(emails) != 3 {
			t.Fatalf("Alice's emails: %s", u.Raw)
		}
		if phones, _ := u.Get("phone_numbers").([]any); len(phones) != 1 {
			t.Fatalf("Alice's phones: %s", u.Raw)
		}

		// Not signed in: send/primary to each of her methods logs her in.
		verifier, challenge = mlPKCE()
		m = l.Mail.Next(t, addr, func() {
			anon.OK(t, http.MethodPost, "/magic_links/email/send/primary", map[string]any{"email": addr, "code_challenge": challenge})
		})
		r = anon.OK(t, http.MethodPost, "/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, m), "code_verifier": verifier, "session_duration_minutes": 60})
		if r.DataStr("user_id") != aliceID || r.DataStr("session_token") == alice.Session {
			t.Fatalf("send/primary link: a new session of Alice's wanted: %s", r.Raw)
		}
		for _, ch := range []string{"sms", "whatsapp", "email"} {
			var code string
			if ch == "email" {
				mail := l.Mail.Next(t, addr, func() {
					sent = anon.OK(t, http.MethodPost, "/otps/email/send/primary", map[string]any{"email": addr})
				})
				code = latchtest.Code(t, mail.Text)
			} else {
				to := phone
				if ch == "whatsapp" {
					to = "whatsapp:" + phone
				}
				sms := l.SMS.Next(t, to, func() {
					sent = anon.OK(t, http.MethodPost, "/otps/"+ch+"/send/primary", map[string]any{"phone_number": phone})
				})
				code = latchtest.Code(t, sms.Body)
			}
			r := anon.OK(t, http.MethodPost, "/otps/authenticate", map[string]any{"token": code, "method_id": sent.DataStr("method_id"), "session_duration_minutes": 60})
			if r.DataStr("user_id") != aliceID {
				t.Fatalf("%s send/primary: %s", ch, r.Raw)
			}
		}
	})
}
