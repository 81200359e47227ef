package deliver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message accepted by the test SMTP server.
type received struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool   // the session was encrypted (STARTTLS or implicit)
	AuthAs string // the authenticated user, "" when none
}

type tlsMode int

const (
	tlsNone     tlsMode = iota // plain; no STARTTLS offered
	tlsStart                   // STARTTLS offered
	tlsImplicit                // smtps: TLS from the first byte
)

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records what it accepts. Hooks let a test refuse commands.
type smtpServer struct {
	t        *testing.T
	mode     tlsMode
	user     string // AUTH PLAIN user; "" = no AUTH
	pass     string
	cert     tls.Certificate
	RootCAs  *x509.CertPool // trusts cert
	addr     string
	srv      *smtp.Server
	l        net.Listener
	serveErr chan error

	arrived chan struct{} // gets a value (non-blocking) on each message

	mu       sync.Mutex
	msgs     []received
	utf8     bool                  // offer SMTPUTF8
	mailUTF8 []bool                // the SMTPUTF8 parameter of each MAIL FROM
	mailErr  error                 // returned by MAIL FROM when set
	rcptErr  func(to string) error // returned by RCPT TO when it gives non-nil
	sessions int
}

func newSMTPServer(t *testing.T, mode tlsMode, user, pass string) *smtpServer {
	t.Helper()
	s := &smtpServer{t: t, mode: mode, user: user, pass: pass, arrived: make(chan struct{}, 1)}
	s.cert, s.RootCAs = selfSignedCert(t)
	s.start("127.0.0.1:0")
	t.Cleanup(s.Close)
	return s
}

func (s *smtpServer) start(addr string) {
	s.t.Helper()
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = s.mode == tlsNone
	srv.EnableSMTPUTF8 = s.utf8
	srv.ErrorLog = serverLog{s.t}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	if s.mode != tlsNone {
		srv.TLSConfig = tlsConf
	}
	var l net.Listener
	var err error
	if s.mode == tlsImplicit {
		l, err = tls.Listen("tcp", addr, tlsConf)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		s.t.Fatalf("listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.srv = srv
	s.l = l
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- srv.Serve(l) }()
}

// Close stops the server; connections are refused until Restart.
func (s *smtpServer) Close() {
	if s.srv == nil {
		return
	}
	s.srv.Close()
	s.l.Close() // in case Serve had not registered it yet
	<-s.serveErr
	s.srv = nil
}

// Restart listens again on the same address.
func (s *smtpServer) Restart() { s.start(s.addr) }

func (s *smtpServer) URL() string {
	scheme := "smtp"
	if s.mode == tlsImplicit {
		scheme = "smtps"
	}
	cred := ""
	if s.user != "" {
		cred = s.user + ":" + s.pass + "@"
	}
	return scheme + "://" + cred + s.addr
}

// transport returns an SMTP transport for the server that trusts its cert.
func (s *smtpServer) transport(t *testing.T) *SMTP {
	t.Helper()
	tr, err := NewSMTP(s.URL(), "Latch Test <no-reply@latch.example>")
	if err != nil {
		t.Fatal(err)
	}
	tr.TLSConfig = &tls.Config{RootCAs: s.RootCAs}
	tr.Timeout = 5 * time.Second
	return tr
}

func (s *smtpServer) Messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) SetMailErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailErr = err
}

func (s *smtpServer) SetRcptErr(f func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErr = f
}

// NewSession implements smtp.Backend.
func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{srv: s, cur: received{TLS: isTLS}}, nil
}

type smtpSession struct {
	srv *smtpServer
	cur received
}

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.srv.user || password != ss.srv.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.cur.AuthAs = username
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.srv.mu.Lock()
	ss.srv.mailUTF8 = append(ss.srv.mailUTF8, opts != nil && opts.UTF8)
	ss.srv.mu.Unlock()
	if ss.srv.user != "" && ss.cur.AuthAs == "" {
		return smtp.ErrAuthRequired
	}
	ss.srv.mu.Lock()
	err := ss.srv.mailErr
	ss.srv.mu.Unlock()
	if err != nil {
		return err
	}
	ss.cur.From = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.srv.mu.Lock()
	f := ss.srv.rcptErr
	ss.srv.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = b
	ss.srv.mu.Lock()
	ss.srv.msgs = append(ss.srv.msgs, ss.cur)
	ss.srv.mu.Unlock()
	select {
	case ss.srv.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (ss *smtpSession) Reset() {
	ss.cur = received{TLS: ss.cur.TLS, AuthAs: ss.cur.AuthAs}
}

func (ss *smtpSession) Logout() error { return nil }

type serverLog struct{ t *testing.T }

func (l serverLog) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l serverLog) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

// selfSignedCert makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "latch test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// parsedEmail is a received message taken apart.
type parsedEmail struct {
	Header  netmail.Header
	Subject string // decoded
	Text    string
	HTML    string
}

// parseEmail reads an RFC 5322 message whose body is text/plain, or
// multipart/alternative with text/plain and text/html parts.
func parseEmail(t *testing.T, data []byte) parsedEmail {
	t.Helper()
	m, err := netmail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, data)
	}
	var p parsedEmail
	p.Header = m.Header
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if mt != "multipart/alternative" {
		t.Fatalf("content type = %q, want multipart/alternative\n%s", mt, data)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		var r io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			r = base64.NewDecoder(base64.StdEncoding, part)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		default:
			t.Fatalf("unexpected part %q", pt)
		}
	}
	return p
}
