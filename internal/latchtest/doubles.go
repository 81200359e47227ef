package latchtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP server accepted.
type Mail struct {
	From, To, Subject string
	Text, HTML        string
}

// MailServer is a real SMTP server (emersion/go-smtp) on loopback.
type MailServer struct {
	Addr string
	srv  *smtp.Server

	mu     sync.Mutex
	msgs   []Mail
	arrive chan struct{}
	refuse error // when set, MAIL FROM is refused with it
}

// NewMailServer starts an SMTP server until the test ends.
func NewMailServer(t testing.TB) *MailServer {
	t.Helper()
	m := &MailServer{arrive: make(chan struct{}, 1)}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.AllowInsecureAuth = true
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Addr = ln.Addr().String()
	go func() { _ = m.srv.Serve(ln) }()
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// Refuse makes the server answer 451 (try again later) to every message
// while on.
func (m *MailServer) Refuse(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refuse = nil
	if on {
		m.refuse = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
}

// NewSession implements smtp.Backend.
func (m *MailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct {
	m        *MailServer
	from, to string
}

func (s *mailSession) AuthPlain(string, string) error { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.refuse != nil {
		return s.m.refuse
	}
	s.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *mailSession) Reset()                                    {}
func (s *mailSession) Logout() error                             { return nil }
func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := parseMail(raw)
	if err != nil {
		return err
	}
	msg.From, msg.To = s.from, s.to
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, msg)
	s.m.mu.Unlock()
	select {
	case s.m.arrive <- struct{}{}:
	default:
	}
	return nil
}

func parseMail(raw []byte) (Mail, error) {
	pm, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(pm.Header.Get("Subject"))
	out := Mail{Subject: subj}
	mt, params, err := mime.ParseMediaType(pm.Header.Get("Content-Type"))
	if err != nil {
		return Mail{}, err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(pm.Body)
		out.Text = string(b)
		return out, nil
	}
	mr := multipart.NewReader(pm.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Mail{}, err
		}
		body, _ := io.ReadAll(decodePart(p))
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct == "text/html" {
			out.HTML = string(body)
		} else {
			out.Text = string(body)
		}
	}
	return out, nil
}

func decodePart(p *multipart.Part) io.Reader {
	switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		return p // multipart.Part decodes quoted-printable itself
	case "base64":
		return base64Reader(p)
	}
	return p
}

// Messages returns a copy of what arrived so far.
func (m *MailServer) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.msgs...)
}

// To returns the messages to the address (any case) so far.
func (m *MailServer) To(addr string) []Mail {
	var out []Mail
	for _, msg := range m.Messages() {
		if strings.EqualFold(msg.To, addr) {
			out = append(out, msg)
		}
	}
	return out
}

// Count is how many messages to the address have arrived so far.
func (m *MailServer) Count(to string) int { return len(m.To(to)) }

// Next runs send and returns the first message to the address that arrived
// after send began. It counts before sending, so a message that arrives
// before send returns is not missed (waiting for count+1 after the send
// would wait for a message that never comes).
func (m *MailServer) Next(t testing.TB, to string, send func()) Mail {
	t.Helper()
	n := m.Count(to)
	send()
	return m.WaitFor(t, to, n+1)
}

// WaitFor waits (up to 10 s of real time, for the background sender) for
// the n-th message (1-based) to the address and returns it. n counts from
// the first message; for "the next one", use Next.
func (m *MailServer) WaitFor(t testing.TB, to string, n int) Mail {
	t.Helper()
	return waitFor(t, m.arrive, to, n, m.To)
}

// waitFor waits (up to 10 s of real time) until list(to) holds n messages,
// waking when a double signals an arrival, and returns the n-th.
func waitFor[T any](t testing.TB, arrive <-chan struct{}, to string, n int, list func(string) []T) T {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		got := list(to)
		if len(got) >= n {
			return got[n-1]
		}
		select {
		case <-arrive:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no message #%d to %s arrived (have %d)", n, to, len(got))
		}
	}
}

var tokenPattern = regexp.MustCompile(`[?&]token=([^&\s"<>]+)`)

// LinkToken reads the magic-link token out of a message's text part.
func LinkToken(t testing.TB, m Mail) string {
	t.Helper()
	sub := tokenPattern.FindStringSubmatch(m.Text)
	if sub == nil {
		t.Fatalf("no token in message %q", m.Text)
	}
	tok, err := url.QueryUnescape(sub[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var codePattern = regexp.MustCompile(`\b([0-9]{6})\b`)

// Code reads a six-digit passcode out of a text.
func Code(t testing.TB, text string) string {
	t.Helper()
	sub := codePattern.FindStringSubmatch(text)
	if sub == nil {
		t.Fatalf("no code in %q", text)
	}
	return sub[1]
}

// Twilio credentials the double accepts.
const (
	TwilioSID          = "ACtest0000000000000000000000000000"
	TwilioToken        = "twilio-test-token"
	TwilioFrom         = "+15005550006"
	TwilioWhatsAppFrom = "+14155238886"
)

// SMS is one message the Twilio double accepted.
type SMS struct{ To, From, Body string }

// TwilioDouble is an httptest server that speaks Twilio's Messages API:
// it checks the path, the Basic auth and the form, and records messages.
type TwilioDouble struct {
	URL string

	mu      sync.Mutex
	msgs    []SMS
	refuse  int // HTTP status to answer with while non-zero
	arrive  chan struct{}
	Rejects int // requests refused for a bad path, auth or form
}

// NewTwilioDouble starts the double until the test ends.
func NewTwilioDouble(t testing.TB) *TwilioDouble {
	t.Helper()
	d := &TwilioDouble{arrive: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

// Refuse makes the double answer status (e.g. 503) until called with 0.
func (d *TwilioDouble) Refuse(status int) {
	d.mu.Lock()
	d.refuse = status
	d.mu.Unlock()
}

func (d *TwilioDouble) serve(w http.ResponseWriter, r *http.Request) {
	bad := func(status int, code int, msg string) {
		d.mu.Lock()
		d.Rejects++
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":%d,"message":%q,"status":%d}`, code, msg, status)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+TwilioSID+"/Messages.json" {
		bad(404, 20404, "not found")
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != TwilioSID || p != TwilioToken {
		bad(401, 20003, "authenticate")
		return
	}
	if err := r.ParseForm(); err != nil {
		bad(400, 21601, "bad form")
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	if to == "" || from == "" || body == "" {
		bad(400, 21604, "To, From and Body are required")
		return
	}
	wa := strings.HasPrefix(to, "whatsapp:")
	if wa != strings.HasPrefix(from, "whatsapp:") || (wa && from != "whatsapp:"+TwilioWhatsAppFrom) || (!wa && from != TwilioFrom) {
		bad(400, 21606, "From is not a valid sender for To")
		return
	}
	d.mu.Lock()
	refuse := d.refuse
	d.mu.Unlock()
	if refuse != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refuse)
		fmt.Fprintf(w, `{"code":20500,"message":"unavailable","status":%d}`, refuse)
		return
	}
	d.mu.Lock()
	d.msgs = append(d.msgs, SMS{To: to, From: from, Body: body})
	d.mu.Unlock()
	select {
	case d.arrive <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","to":%q}`, len(d.msgs), to)
}

// Messages returns a copy of what arrived so far.
func (d *TwilioDouble) Messages() []SMS {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]SMS(nil), d.msgs...)
}

// Count is how many messages to `to` (give "whatsapp:+1…" for WhatsApp)
// the double accepted so far.
func (d *TwilioDouble) Count(to string) int { return len(d.To(to)) }

// To returns the messages to `to` so far.
func (d *TwilioDouble) To(to string) []SMS {
	var out []SMS
	for _, m := range d.Messages() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Next runs send and returns the first message to `to` that arrived after
// send began; it counts before sending (see MailServer.Next).
func (d *TwilioDouble) Next(t testing.TB, to string, send func()) SMS {
	t.Helper()
	n := d.Count(to)
	send()
	return d.WaitFor(t, to, n+1)
}

// WaitFor waits (up to 10 s) for the n-th message (1-based) to `to` (give
// "whatsapp:+1…" for WhatsApp) and returns it. n counts from the first
// message; for "the next one", use Next.
func (d *TwilioDouble) WaitFor(t testing.TB, to string, n int) SMS {
	t.Helper()
	return waitFor(t, d.arrive, to, n, d.To)
}
