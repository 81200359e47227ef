// Package console is the operators' console: server-rendered HTML pages
// (html/template, no JavaScript) at /console/ over the same auth services
// as the API. Operators sign in with Latch's own magic links; the console
// session is a cookie (HttpOnly, SameSite=Strict, Secure under https)
// whose value is stored only as SHA-256; every form that changes anything
// carries a CSRF token derived from the cookie; every sign-in and action
// is written to the audit log.
package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/clientaddr"
	"github.com/latch-auth/latch/internal/store"
)

//go:embed templates/*.html console.css
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// Cookie names. The session cookie holds the console session; the
// pre-sign-in cookie only anchors the CSRF token of the sign-in forms.
const (
	SessionCookie = "latch_console"
	PreCookie     = "latch_console_pre"
)

// maxForm bounds a form's body.
const maxForm = 64 << 10

// Config wires a Console.
type Config struct {
	Service *auth.Service
	// URL is the console's public URL (ending in /console/), the base of
	// the sign-in links mailed to operators: configured, never taken from
	// a request's Host header (a forged Host would mail a link to another
	// site). An https URL makes the cookies Secure.
	URL    string
	Logger *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client in the audit log (serve --trusted-proxies).
	TrustedProxies []netip.Prefix
}

// Console is the console's HTTP handler.
type Console struct {
	svc    *auth.Service
	data   store.Console
	base   string // URL, ending in "/"
	secure bool
	log    *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*template.Template
	css    []byte
	// linkSlots bounds the sign-in links being sent after their answers;
	// linkSends counts them, for Wait.
	linkSlots chan struct{}
	linkSends sync.WaitGroup
	proxies   []netip.Prefix
}

// New builds the console.
func New(c Config) (*Console, error) {
	data, err := c.Service.ConsoleData()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("console URL %q must be an absolute http(s) URL", c.URL)
	}
	base := c.URL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	con := &Console{svc: c.Service, data: data, base: base, secure: u.Scheme == "https", log: c.Logger, mux: http.NewServeMux(), linkSlots: make(chan struct{}, 16), proxies: c.TrustedProxies}
	if err := con.parse(); err != nil {
		return nil, err
	}
	con.routes()
	return con, nil
}

var funcs = template.FuncMap{
	"t": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return fmt.Sprint(t)
	},
	"mask": MaskRecipient,
	"join": strings.Join,
}

func (c *Console) parse() error {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, n)
		if err != nil {
			return err
		}
		c.pages[name] = t
	}
	c.css, err = files.ReadFile("console.css")
	return err
}

// ServeHTTP serves the console with its security headers; a panic is a
// 500 page and an ERROR line.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The confirm page's URL holds a sign-in token: never sent on.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if (c.secure || r.TLS != nil) && !devHost(r.Host) {
		// Served over HTTPS: browsers keep to HTTPS for this host for a
		// year (RFC 6797), so a later plain-HTTP link cannot strip it.
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			c.log.Error("console: panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			http.Error(w, "Internal error", http.StatusInternalServerError)
		}
	}()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	c.mux.ServeHTTP(rec, r)
	// The path only: a confirm page's query holds a sign-in token.
	c.log.Info("console request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"duration_ms", time.Since(start).Milliseconds(), "ip", c.clientIP(r))
}

// statusRecorder keeps the status of an answer for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// visit is a signed-in request.
type visit struct {
	Session store.ConsoleSession
	CSRF    string
}

// view is what every page's template gets.
type view struct {
	Title    string
	Operator string // "" when signed out
	CSRF     string
	Nav      string
	Flash    string
	Error    string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	t, ok := c.pages[page]
	if !ok {
		panic("console: no page " + page)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// page renders a signed-in page.
func (c *Console) page(w http.ResponseWriter, v *visit, page, nav, title string, data any, flash string) {
	c.render(w, http.StatusOK, page, view{Title: title, Operator: v.Session.Email, CSRF: v.CSRF, Nav: nav, Data: data, Flash: flash})
}

// fail renders an error page for a signed-in visitor.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong; the server's log has the details."
	var ae *auth.Error
	switch {
	case errors.As(err, &ae):
		status, msg = ae.Status, ae.Message
	case errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, errBadInput):
		status, msg = http.StatusBadRequest, err.Error()
	default:
		c.log.Error("console: request failed", "path", r.URL.Path, "err", err)
	}
	vw := view{Title: "Error", Error: msg}
	if v != nil {
		vw.Operator, vw.CSRF = v.Session.Email, v.CSRF
	}
	c.render(w, status, "error", vw)
}

// errBadInput marks an operator's mistake in a form.
var errBadInput = errors.New("")

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w%s", errBadInput, fmt.Sprintf(format, args...))
}

// cookie sets one of the console's cookies (maxAge < 0 deletes it):
// Secure when the console's URL is https or the request came over TLS.
func (c *Console) cookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

// signedIn wraps the pages behind the sign-in: no session (none, ended,
// idle, or its operator removed) is a redirect to the sign-in page and
// nothing else; a POST must carry the session's CSRF token.
func (c *Console) signedIn(h func(http.ResponseWriter, *http.Request, *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, _ := r.Cookie(SessionCookie)
		if ck == nil {
			http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
			return
		}
		sess, err := c.svc.ConsoleSession(r.Context(), ck.Value)
		if err != nil {
			if !errors.Is(err, auth.ErrConsoleNoSession) {
				c.fail(w, r, nil, err)
				return
			}
			c.cookie(w, r, SessionCookie, "", -1)
			http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
			return
		}
		v := &visit{Session: sess, CSRF: auth.CSRFToken(ck.Value)}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, v, badInput("The form could not be read."))
				return
			}
			if !auth.CheckCSRF(ck.Value, r.PostForm.Get("csrf")) {
				c.render(w, http.StatusForbidden, "error", view{Title: "Refused", Operator: sess.Email, CSRF: v.CSRF,
					Error: "This form was refused: its security token is missing or wrong. Go back, reload the page and try again."})
				return
			}
		}
		h(w, r, v)
	}
}

// clientIP is the address the request came from (clientaddr.IP, behind
// the trusted proxies, as the API's SDK routes read it).
func (c *Console) clientIP(r *http.Request) string { return clientaddr.IP(r, c.proxies) }

// audit writes who did what to what, when and from where.
func (c *Console) audit(r *http.Request, email, action, target string) {
	err := c.svc.Audit(r.Context(), store.AuditEntry{Email: email, Action: action, Target: target, IPAddress: c.clientIP(r), UserAgent: clientaddr.UserAgent(r)})
	if err != nil {
		c.log.Error("console: audit log write failed", "action", action, "target", target, "err", err)
	}
}

// MaskRecipient hides most of an address or number: "a•••@example.com",
// "+1•••••••67".
// maskIn masks every copy of recipient in text (a transport's error
// message often quotes the address or number it refused), ignoring case,
// and a phone number's digits without its +.
func maskIn(text, recipient string) string {
	if recipient == "" {
		return text
	}
	forms := []string{recipient}
	if digits, ok := strings.CutPrefix(recipient, "+"); ok && len(digits) > 4 {
		forms = append(forms, digits)
	}
	for _, f := range forms {
		re := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(f))
		text = re.ReplaceAllLiteralString(text, MaskRecipient(recipient))
	}
	return text
}

func MaskRecipient(s string) string {
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		return s[:1] + "•••" + s[at:]
	}
	if len(s) > 4 {
		return s[:2] + strings.Repeat("•", len(s)-4) + s[len(s)-2:]
	}
	return "•••"
}

// devHost tells a development host (localhost, *.localhost or an IP
// address), on which Strict-Transport-Security would outlive the
// developer's console and force https on their other local apps.
func devHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(strings.Trim(host, "[]")) != nil
}
