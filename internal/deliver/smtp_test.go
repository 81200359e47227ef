package deliver

import (
	"context"
	"crypto/tls"
	"errors"
	"html"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

const testLink = "https://app.acme.example/authenticate?stytch_token_type=magic_links&token=DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94="

func TestSMTPDeliversTextAndHTML(t *testing.T) {
	cases := []struct {
		name      string
		mode      tlsMode
		user      string
		pass      string
		wantTLS   bool
		wantAuthd bool
	}{
		{name: "plain", mode: tlsNone},
		{name: "plain with AUTH PLAIN", mode: tlsNone, user: "mailer", pass: "p@ss:word", wantAuthd: true},
		{name: "STARTTLS", mode: tlsStart, wantTLS: true},
		{name: "STARTTLS with AUTH PLAIN", mode: tlsStart, user: "mailer", pass: "hunter2", wantTLS: true, wantAuthd: true},
		{name: "implicit TLS", mode: tlsImplicit, wantTLS: true},
		{name: "implicit TLS with AUTH PLAIN", mode: tlsImplicit, user: "mailer", pass: "hunter2", wantTLS: true, wantAuthd: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMTPServer(t, tc.mode, tc.user, tc.pass)
			url := srv.URL()
			if tc.user != "" {
				// The password must be escaped in a URL.
				url = strings.Replace(url, tc.pass, strings.ReplaceAll(tc.pass, "@", "%40"), 1)
			}
			tr, err := NewSMTP(url, "Acme <no-reply@acme.example>")
			if err != nil {
				t.Fatal(err)
			}
			tr.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}

			msg := MagicLinkEmail("Acme", "ada@example.com", testLink, "login")
			if err := tr.Deliver(context.Background(), msg); err != nil {
				t.Fatalf("Deliver: %v", err)
			}

			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			r := got[0]
			if r.From != "no-reply@acme.example" {
				t.Errorf("MAIL FROM = %q", r.From)
			}
			if len(r.To) != 1 || r.To[0] != "ada@example.com" {
				t.Errorf("RCPT TO = %q", r.To)
			}
			if r.TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", r.TLS, tc.wantTLS)
			}
			if (r.AuthAs != "") != tc.wantAuthd || (tc.wantAuthd && r.AuthAs != tc.user) {
				t.Errorf("authenticated as %q, want user %q (auth %v)", r.AuthAs, tc.user, tc.wantAuthd)
			}

			p := parseEmail(t, r.Data)
			if !strings.Contains(p.Subject, "Acme") {
				t.Errorf("subject %q does not name the project", p.Subject)
			}
			if p.Header.Get("To") != "<ada@example.com>" && p.Header.Get("To") != "ada@example.com" {
				t.Errorf("To header = %q", p.Header.Get("To"))
			}
			if !strings.Contains(p.Header.Get("From"), "no-reply@acme.example") {
				t.Errorf("From header = %q", p.Header.Get("From"))
			}
			if !strings.HasSuffix(p.Header.Get("Message-Id"), "@acme.example>") {
				t.Errorf("Message-ID = %q, want one in the sender's domain", p.Header.Get("Message-Id"))
			}
			if !strings.Contains(p.Text, testLink) {
				t.Errorf("text part lacks the link:\n%s", p.Text)
			}
			if !strings.Contains(html.UnescapeString(p.HTML), `href="`+testLink+`"`) {
				t.Errorf("HTML part lacks the link:\n%s", p.HTML)
			}
		})
	}
}

func TestSMTPRefusesUntrustedCertificate(t *testing.T) {
	// With STARTTLS offered but the certificate not trusted, the transport
	// must fail (and retry later), not fall back to plain text.
	srv := newSMTPServer(t, tlsStart, "mailer", "hunter2")
	tr, err := NewSMTP(srv.URL(), "no-reply@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	tr.Timeout = 5 * time.Second
	err = tr.Deliver(context.Background(), MagicLinkEmail("Acme", "ada@example.com", testLink, "login"))
	if err == nil {
		t.Fatal("Deliver succeeded over an untrusted certificate")
	}
	if IsPermanent(err) {
		t.Fatalf("certificate error is permanent: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("server received %d messages", n)
	}
}

func TestSMTPErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(*smtpServer)
		permanent bool
	}{
		{
			name: "unknown mailbox is permanent",
			setup: func(s *smtpServer) {
				s.SetRcptErr(func(string) error {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
				})
			},
			permanent: true,
		},
		{
			name: "mailbox full is retried",
			setup: func(s *smtpServer) {
				s.SetRcptErr(func(string) error {
					return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
				})
			},
		},
		{
			name: "relaying denied is our configuration, retried",
			setup: func(s *smtpServer) {
				s.SetRcptErr(func(string) error {
					return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay access denied"}
				})
			},
		},
		{
			name: "server busy is retried",
			setup: func(s *smtpServer) {
				s.SetMailErr(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
			},
		},
		{
			name:  "server down is retried",
			setup: func(s *smtpServer) { s.Close() },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMTPServer(t, tlsNone, "", "")
			tc.setup(srv)
			err := srv.transport(t).Deliver(context.Background(), MagicLinkEmail("Acme", "ada@example.com", testLink, "login"))
			if err == nil {
				t.Fatal("Deliver succeeded")
			}
			if IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %v, want %v (err: %v)", IsPermanent(err), tc.permanent, err)
			}
		})
	}
}

func TestSMTPWrongPasswordIsRetried(t *testing.T) {
	srv := newSMTPServer(t, tlsStart, "mailer", "hunter2")
	tr, err := NewSMTP(strings.Replace(srv.URL(), "hunter2", "wrong", 1), "no-reply@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	tr.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}
	err = tr.Deliver(context.Background(), MagicLinkEmail("Acme", "ada@example.com", testLink, "login"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestSMTPInvalidRecipientIsPermanent(t *testing.T) {
	srv := newSMTPServer(t, tlsNone, "", "")
	err := srv.transport(t).Deliver(context.Background(), MagicLinkEmail("Acme", "not an address", testLink, "login"))
	if !IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
}

func TestNewSMTPParsesURL(t *testing.T) {
	cases := []struct {
		url      string
		host     string
		port     int
		implicit bool
		user     string
		pass     string
	}{
		{url: "smtp://mail.example", host: "mail.example", port: 25},
		{url: "smtp://mail.example:587", host: "mail.example", port: 587},
		{url: "smtps://mail.example", host: "mail.example", port: 465, implicit: true},
		{url: "smtps://u%40x:p%3Aw@mail.example:2465", host: "mail.example", port: 2465, implicit: true, user: "u@x", pass: "p:w"},
		{url: "smtp://[::1]:2525", host: "::1", port: 2525},
	}
	for _, tc := range cases {
		s, err := NewSMTP(tc.url, "no-reply@acme.example")
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", tc.url, err)
			continue
		}
		if s.host != tc.host || s.port != tc.port || s.implicitTLS != tc.implicit || s.user != tc.user || s.pass != tc.pass {
			t.Errorf("NewSMTP(%q) = host %q port %d implicit %v user %q pass %q", tc.url, s.host, s.port, s.implicitTLS, s.user, s.pass)
		}
	}
	for _, bad := range []string{"http://mail.example", "smtp://", "smtp://mail.example:0", "smtp://mail.example:x", "smtp://mail.example/path", "::"} {
		if _, err := NewSMTP(bad, "no-reply@acme.example"); err == nil {
			t.Errorf("NewSMTP(%q) accepted", bad)
		}
	}
	if _, err := NewSMTP("smtp://mail.example", "not an address"); err == nil {
		t.Error("NewSMTP accepted a bad from address")
	}
}

// unusedAddr returns an address nothing listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestSMTPConnectionRefusedIsRetried(t *testing.T) {
	tr, err := NewSMTP("smtp://"+unusedAddr(t), "no-reply@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Deliver(context.Background(), MagicLinkEmail("Acme", "ada@example.com", testLink, "login"))
	var pe *PermanentError
	if err == nil || errors.As(err, &pe) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

// TestANonASCIIAddressIsSentOnlyWhereTheServerOffersSMTPUTF8: a mailbox
// with a non-ASCII local part goes out with MAIL FROM … SMTPUTF8 to a
// server that offers it; to one that does not, nothing is sent (no MAIL,
// no raw 8-bit RCPT TO) and the error is retryable, so the outbox keeps it.
func TestANonASCIIAddressIsSentOnlyWhereTheServerOffersSMTPUTF8(t *testing.T) {
	const to = "jösé@example.com"
	for _, offer := range []bool{false, true} {
		srv := &smtpServer{t: t, mode: tlsNone, arrived: make(chan struct{}, 1), utf8: offer}
		srv.start("127.0.0.1:0")
		t.Cleanup(srv.Close)
		err := srv.transport(t).Deliver(context.Background(), MagicLinkEmail("Acme", to, testLink, "login"))
		srv.mu.Lock()
		mails := append([]bool(nil), srv.mailUTF8...)
		srv.mu.Unlock()
		got := srv.Messages()
		if !offer {
			if !errors.Is(err, ErrNoSMTPUTF8) || IsPermanent(err) {
				t.Fatalf("without SMTPUTF8: err = %v, want retryable ErrNoSMTPUTF8", err)
			}
			if len(mails) != 0 || len(got) != 0 {
				t.Fatalf("without SMTPUTF8: %d MAIL commands, %d messages; want none", len(mails), len(got))
			}
			continue
		}
		if err != nil {
			t.Fatalf("with SMTPUTF8: %v", err)
		}
		if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != to {
			t.Fatalf("with SMTPUTF8: received %+v", got)
		}
		if len(mails) != 1 || !mails[0] {
			t.Fatalf("with SMTPUTF8: MAIL FROM SMTPUTF8 parameters %v, want [true]", mails)
		}
	}
	// An ASCII address needs nothing of the server.
	srv := newSMTPServer(t, tlsNone, "", "")
	if err := srv.transport(t).Deliver(context.Background(), MagicLinkEmail("Acme", "jose@example.com", testLink, "login")); err != nil {
		t.Fatalf("ASCII address without SMTPUTF8: %v", err)
	}
}
