package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// consoleBackends runs fn against a node of every backend with the
// console served by httptest (the real handler, the real database).
func consoleBackends(t *testing.T, fn func(t *testing.T, cn *consoleNode)) {
	t.Helper()
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, startConsole(t, latchtest.Options{Backend: b}))
		})
	}
}

// consoleNode is a Latch node with its console.
type consoleNode struct {
	*latchtest.Latch
	ConsoleURL string // http://127.0.0.1:port, without /console/
}

func startConsole(t *testing.T, o latchtest.Options) *consoleNode {
	t.Helper()
	o.Console = true
	l := latchtest.Start(t, o)
	return &consoleNode{Latch: l, ConsoleURL: l.URL}
}

// addOperator puts an address on the list.
func (cn *consoleNode) addOperator(t *testing.T, email string) {
	t.Helper()
	if _, err := cn.App.Service.AddOperator(context.Background(), email, ""); err != nil {
		t.Fatal(err)
	}
}

// browser is a visitor with a cookie jar that does not follow redirects.
type browser struct {
	t    *testing.T
	cn   *consoleNode
	c    *http.Client
	csrf string // the token of the last page read
	UA   string
}

func (cn *consoleNode) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, cn: cn, UA: "ConsoleTest/1.0", c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer: status, Location and body.
type page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	req.Header.Set("User-Agent", b.UA)
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	p := page{Status: res.StatusCode, Location: res.Header.Get("Location"), Body: string(body), Header: res.Header}
	if m := csrfPattern.FindStringSubmatch(p.Body); m != nil {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.cn.ConsoleURL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form with the last page's CSRF token (unless form sets one).
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.postRaw(path, form)
}

func (b *browser) postRaw(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.cn.ConsoleURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// askLink asks for a sign-in link for email and returns the page.
func (b *browser) askLink(email string) page {
	b.t.Helper()
	b.get("/console/sign-in")
	return b.post("/console/sign-in", url.Values{"email": {email}})
}

// confirm uses a sign-in link's token.
func (b *browser) confirm(token string) page {
	b.t.Helper()
	b.get("/console/sign-in/confirm?token=" + url.QueryEscape(token))
	return b.post("/console/sign-in/confirm", url.Values{"token": {token}})
}

// signIn signs email in (it must be an operator) by the emailed link.
func (b *browser) signIn(email string) {
	b.t.Helper()
	m := b.cn.Mail.Next(b.t, email, func() {
		if p := b.askLink(email); p.Status != 200 {
			b.t.Fatalf("sign-in: %d %s", p.Status, p.Body)
		}
	})
	p := b.confirm(latchtest.LinkToken(b.t, m))
	if p.Status != http.StatusSeeOther || p.Location != "/console/" {
		b.t.Fatalf("confirm: want 303 to /console/, got %d %q: %s", p.Status, p.Location, p.Body)
	}
	if h := b.get("/console/"); h.Status != 200 || !strings.Contains(h.Body, "Health") {
		b.t.Fatalf("home after sign-in: %d %s", h.Status, h.Body)
	}
}

// signedOut reports whether p is the redirect to the sign-in page.
func signedOut(p page) bool {
	return p.Status == http.StatusSeeOther && p.Location == "/console/sign-in"
}

// cookie returns the Set-Cookie of name in p.
func (p page) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
