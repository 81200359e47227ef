package deliver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// SMTP delivers email through an SMTP server (go-mail is the client). Each
// Deliver opens one connection, sends one message and quits.
type SMTP struct {
	// TLSConfig, when non-nil, replaces the default TLS configuration
	// (system roots, ServerName = the URL's host), for example to trust a
	// self-signed server. Set it before the first Deliver.
	TLSConfig *tls.Config
	// Timeout bounds the connection and each SMTP command; 0 means
	// go-mail's default (15 s).
	Timeout time.Duration

	host        string
	port        int
	implicitTLS bool
	user, pass  string
	hasAuth     bool
	from        string
	fromAddr    string // the bare address of from
	fromDomain  string
}

// NewSMTP parses url and returns an SMTP transport that sends as from (the
// envelope sender and the From header, e.g. "Acme <no-reply@acme.example>").
//
// url is smtp://[user:pass@]host[:port] (port 25 by default; STARTTLS when
// the server offers it, plain otherwise) or smtps://[user:pass@]host[:port]
// (implicit TLS, port 465 by default). With a user, AUTH uses PLAIN or LOGIN
// (or a stronger mechanism when those are not offered); go-mail refuses to
// send a password over an unencrypted connection except to localhost.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("deliver: smtp url: %w", err)
	}
	s := &SMTP{host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.port = mail.DefaultPort
	case "smtps":
		s.port = mail.DefaultPortSSL
		s.implicitTLS = true
	default:
		return nil, fmt.Errorf("deliver: smtp url: scheme must be smtp or smtps, got %q", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("deliver: smtp url: no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("deliver: smtp url: bad port %q", p)
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("deliver: smtp url: unexpected path %q", u.Path)
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		s.hasAuth = s.user != ""
	}
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("deliver: smtp from address %q: %w", from, err)
	}
	s.from, s.fromAddr = from, addr.Address
	if i := strings.LastIndexByte(addr.Address, '@'); i >= 0 {
		s.fromDomain = addr.Address[i+1:]
	}
	return s, nil
}

// Deliver sends m as a multipart/alternative email (text, and HTML when
// set). A recipient the server refuses permanently gives a *PermanentError;
// every other failure is worth retrying.
func (s *SMTP) Deliver(ctx context.Context, m Message) error {
	if m.Channel != store.ChannelEmail {
		return &PermanentError{Err: fmt.Errorf("smtp cannot deliver %q messages", m.Channel)}
	}
	msg := mail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("smtp: from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return &PermanentError{Err: fmt.Errorf("smtp: recipient address: %w", err)}
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDate()
	switch {
	case m.Key != "" && s.fromDomain != "":
		// Stable across attempts and nodes: a repeat after a crash carries
		// the same Message-ID, which receivers use to drop duplicates.
		// Hashed: the id says nothing of the project or of message volumes.
		sum := sha256.Sum256([]byte(m.Key))
		msg.SetMessageIDWithValue("latch." + base64.RawURLEncoding.EncodeToString(sum[:18]) + "@" + s.fromDomain)
	case s.fromDomain != "":
		msg.SetMessageIDWithValue(base64.RawURLEncoding.EncodeToString(secret.Bytes(18)) + "@" + s.fromDomain)
	default:
		msg.SetMessageID()
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}

	client, err := s.client()
	if err != nil {
		return err
	}
	err = s.send(ctx, client, msg, !ascii(m.To) || !ascii(s.fromAddr))
	if errors.Is(err, ErrNoSMTPUTF8) {
		return err
	}
	if msg.IsDelivered() {
		// The server accepted the data; a failure after that (RSET, QUIT)
		// must not make us send the message a second time.
		return nil
	}
	if err == nil {
		return errors.New("smtp: message not accepted")
	}
	if recipientRefused(err) {
		return &PermanentError{Err: err}
	}
	return fmt.Errorf("smtp: %w", err)
}

// ErrNoSMTPUTF8 is a message to a non-ASCII address (an internationalised
// local part, RFC 6531) for a server that does not offer SMTPUTF8. Such an
// address is never sent as raw 8-bit to a server that did not offer it; the
// error is retryable, so the message stays in the outbox until the server
// (or the configured relay) offers SMTPUTF8.
var ErrNoSMTPUTF8 = errors.New("smtp: the recipient address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531); the message is kept for retry")

// send dials, checks that the server offers SMTPUTF8 when the message needs
// it (go-mail then adds the SMTPUTF8 parameter to MAIL FROM), sends and quits.
func (s *SMTP) send(ctx context.Context, c *mail.Client, msg *mail.Msg, needUTF8 bool) (err error) {
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("dial failed: %w", err)
	}
	defer func() {
		if cerr := c.CloseWithSMTPClient(sc); cerr != nil {
			err = errors.Join(err, fmt.Errorf("failed to close connection: %w", cerr))
		}
	}()
	if ok, _ := sc.Extension("SMTPUTF8"); needUTF8 && !ok {
		return ErrNoSMTPUTF8
	}
	if err := c.SendWithSMTPClient(sc, msg); err != nil {
		return fmt.Errorf("send failed: %w", err)
	}
	return nil
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (s *SMTP) client() (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(s.port)}
	if s.implicitTLS {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if s.TLSConfig != nil {
		tc := s.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.host
		}
		opts = append(opts, mail.WithTLSConfig(tc))
	}
	if s.Timeout > 0 {
		opts = append(opts, mail.WithTimeout(s.Timeout))
	}
	if s.hasAuth {
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(s.user),
			mail.WithPassword(s.pass))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: client: %w", err)
	}
	return c, nil
}

// recipientRefused reports whether err is a permanent (5xx) refusal of the
// recipient at RCPT TO, or a recipient address that cannot be parsed.
// Refusals for policy reasons (enhanced status 5.7.x: relaying denied,
// authentication required) are about our configuration, not the recipient,
// and stay retryable so fixing the configuration loses nothing.
func recipientRefused(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrGetRcpts:
		return true
	case mail.ErrSMTPRcptTo:
	default:
		return false
	}
	if se.IsTemp() {
		return false
	}
	if esc := se.EnhancedStatusCode(); esc != "" {
		return strings.HasPrefix(esc, "5.") && !strings.HasPrefix(esc, "5.7.")
	}
	switch se.ErrorCode() {
	case 501, 550, 551, 553:
		return true
	}
	return false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
