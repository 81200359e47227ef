package deliver

import (
	"html"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

func TestMagicLinkEmail(t *testing.T) {
	for kind, subject := range map[string]string{
		"login":   "Your login link for Acme",
		"signup":  "Your sign-up link for Acme",
		"invite":  "You have been invited to Acme",
		"unknown": "Your login link for Acme",
	} {
		m := MagicLinkEmail("Acme", "ada@example.com", testLink, kind)
		if m.Channel != store.ChannelEmail || m.To != "ada@example.com" || m.Subject != subject {
			t.Errorf("%s: channel %q to %q subject %q, want subject %q", kind, m.Channel, m.To, m.Subject, subject)
		}
		if !strings.Contains(m.Text, testLink) {
			t.Errorf("%s: text lacks the link:\n%s", kind, m.Text)
		}
		// & is escaped in the attribute; unescaped it is the link again.
		if strings.Contains(m.HTML, "&token=") || !strings.Contains(m.HTML, `href="`+html.EscapeString(testLink)+`"`) {
			t.Errorf("%s: HTML does not carry the escaped link:\n%s", kind, m.HTML)
		}
	}
}

func TestMagicLinkEmailEscapesHTML(t *testing.T) {
	m := MagicLinkEmail(`<script>alert("x")</script> & Co`, "ada@example.com", testLink, "login")
	if strings.Contains(m.HTML, "<script>") {
		t.Fatalf("project name not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.HTML, "&amp; Co") {
		t.Fatalf("project name missing or badly escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.Subject, `<script>alert("x")</script> & Co`) {
		t.Fatalf("subject = %q", m.Subject)
	}
}

func TestMagicLinkEmailLinkSchemes(t *testing.T) {
	app := "myapp://authenticate?stytch_token_type=magic_links&token=abc"
	if m := MagicLinkEmail("Acme", "ada@example.com", app, "login"); !strings.Contains(m.HTML, `href="myapp://authenticate?stytch_token_type=magic_links&amp;token=abc"`) {
		t.Errorf("an app link did not survive:\n%s", m.HTML)
	}
	bad := "javascript:alert(1)"
	if m := MagicLinkEmail("Acme", "ada@example.com", bad, "login"); strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("a javascript: link got into an href:\n%s", m.HTML)
	}
}

func TestSubjectStaysOnOneLine(t *testing.T) {
	m := MagicLinkEmail("Acme\r\nBcc: eve@example.com", "ada@example.com", testLink, "login")
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Fatalf("subject %q spans lines", m.Subject)
	}
}

func TestOTPEmail(t *testing.T) {
	m := OTPEmail("Acme", "ada@example.com", "402911", 5*time.Minute)
	if m.Channel != store.ChannelEmail || m.To != "ada@example.com" || !strings.Contains(m.Subject, "Acme") {
		t.Fatalf("message = %+v", m)
	}
	if !strings.Contains(m.Text, "Your Acme verification code is 402911. It expires in 5 minutes.") {
		t.Errorf("text = %q", m.Text)
	}
	if !strings.Contains(m.HTML, "402911") || !strings.Contains(m.HTML, "It expires in 5 minutes.") {
		t.Errorf("HTML lacks the code or expiry:\n%s", m.HTML)
	}
}

func TestOTPText(t *testing.T) {
	for _, ch := range []string{store.ChannelSMS, store.ChannelWhatsApp} {
		m := OTPText(ch, "Acme", "+15555550100", "123456", 2*time.Minute)
		want := Message{Channel: ch, To: "+15555550100", Text: "Your Acme verification code is 123456. It expires in 2 minutes."}
		if m != want {
			t.Errorf("OTPText(%s) = %+v, want %+v", ch, m, want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                "1 minute",
		30 * time.Second: "1 minute",
		time.Minute:      "1 minute",
		90 * time.Second: "2 minutes",
		10 * time.Minute: "10 minutes",
		60 * time.Minute: "1 hour",
		90 * time.Minute: "90 minutes",
		24 * time.Hour:   "24 hours",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// An attach's messages say that they add the address to an existing
// account and are not a login, give the time left, and escape the name.
func TestAttachMessagesSayTheyAddToAnExistingAccount(t *testing.T) {
	link := AttachLinkEmail("Acme <b>", "ada@example.com", testLink, 5*time.Minute)
	code := AttachOTPEmail("Acme <b>", "ada@example.com", "123456", 5*time.Minute)
	for name, m := range map[string]Message{"link": link, "email code": code} {
		if m.Channel != store.ChannelEmail || m.To != "ada@example.com" || !strings.Contains(m.Subject, "add") {
			t.Errorf("%s: channel %q to %q subject %q", name, m.Channel, m.To, m.Subject)
		}
		for part, body := range map[string]string{"text": m.Text, "html": html.UnescapeString(m.HTML)} {
			low := strings.ToLower(body)
			if !strings.Contains(low, "existing account on acme <b>") || !strings.Contains(low, "expires in 5 minutes") ||
				!strings.Contains(low, "does not log you in") {
				t.Errorf("%s %s does not say what it is:\n%s", name, part, body)
			}
		}
		if strings.Contains(m.HTML, "<b>") || strings.Contains(strings.ToLower(m.Subject), "log") {
			t.Errorf("%s: unescaped name or a login subject: %q\n%s", name, m.Subject, m.HTML)
		}
	}
	if !strings.Contains(link.Text, testLink) || !strings.Contains(link.HTML, `href="`+html.EscapeString(testLink)+`"`) {
		t.Errorf("the attach email lacks its link:\n%s", link.HTML)
	}
	if !strings.Contains(code.Text, "123456") {
		t.Errorf("the attach code email lacks its code:\n%s", code.Text)
	}
	sms := AttachOTPText(store.ChannelWhatsApp, "Acme", "+14155550100", "654321", 4*time.Minute+time.Second)
	want := "Your Acme code to add this number to an existing account is 654321. It expires in 5 minutes. Not a login code: if you did not ask for this, do not share it."
	if sms.Channel != store.ChannelWhatsApp || sms.To != "+14155550100" || sms.Text != want {
		t.Errorf("attach text: %+v, want %q", sms, want)
	}
}
