package attack

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Test05Redirects (issue 8, point 5): a login, signup or invite URL outside
// the project's allow-list, or a look-alike of an allowed one, is refused
// with no_match_for_provided_magic_link_url, and nothing is sent, queued or
// created; the Host, X-Forwarded-Host and Forwarded headers never reach a
// link.
func Test05Redirects(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		const good = "https://good.example/callback"
		p := l.NewProject(t, "redirects", good, "http://localhost:3000/cb")

		lookalikes := []string{
			"https://evil.example/callback",
			"https://good.example@evil.example/callback",
			"https://good.example:x@evil.example/callback",
			"https://good.example%40evil.example/callback",
			"https://good.example\\@evil.example/callback",
			"https://evil.example\\@good.example/callback",
			"https://evil.example#@good.example/callback",
			"https://evil.example?@good.example/callback",
			"https://good.example.evil.example/callback",
			"https://evil.example/good.example/callback",
			"https://good.example.:443@evil.example/callback",
			"http://good.example/callback",
			"ftp://good.example/callback",
			"file://good.example/callback",
			"//good.example/callback",
			"//evil.example/callback",
			"https:good.example/callback",
			"https:/good.example/callback",
			"https:///good.example/callback",
			"https://good.example:8443/callback",
			"https://good.example:443/callback",
			"https://good.example:/callback",
			"https://GOOD.example/callback",
			"https://good.EXAMPLE/callback",
			"https://good.example./callback",
			"https://gооd.example/callback", // Cyrillic о
			"https://xn--gd-zmca.example/callback",
			"https://good.example/Callback",
			"https://good.example/CALLBACK",
			"https://good.example/callback/",
			"https://good.example/callback/../admin",
			"https://good.example/callback/..%2fadmin",
			"https://good.example/callback%2f..%2fadmin",
			"https://good.example/%63allback",
			"https://good.example//callback",
			"https://good.example/./callback",
			"https://good.example/x/../callback",
			"https://good.example/callbackx",
			"https://good.example/callback;evil",
			"https://good.example/callback#frag",
			"https://good.example/callback#@evil.example",
			"https://good.example/callback\t",
			"https://good.example/callback\r\nLocation: https://evil.example",
			"https://good.example/callback\x00.evil.example",
			" https://good.example/callback",
			"https://good.example/callback ",
			"https://good.example /callback",
			"https://[::1]/callback",
			"https://127.0.0.1/callback",
			"javascript:alert(document.domain)//https://good.example/callback",
			"javascript://good.example/callback%0aalert(1)",
			"JavaScript:alert(1)",
			"data:text/html,<script>alert(1)</script>",
			"vbscript:msgbox(1)",
			"good.example/callback",
			"/callback",
			"callback",
			"http://localhost:3000/cb/../../admin",
			"http://localhost:3001/cb",
			"http://localhost/cb",
			"https://localhost:3000/cb",
			"http://127.0.0.1:3000/cb",
			"http://localhost:3000@evil.example/cb",
		}
		// Control: the allowed URL passes, with a query of the app's own.
		ok(t, p, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": email("control"), "login_magic_link_url": good + "?state=1", "signup_magic_link_url": good})

		known := email("known")
		user(t, p, map[string]any{"email": known})
		for _, bad := range lookalikes {
			fresh := email("redirect")
			// Each URL field, for an address that would use it (login for
			// a known user, signup for a new one, invite) and for one
			// that would not: a URL is checked whether or not it is used,
			// or the answer would tell whether the address has a user.
			for _, c := range []struct {
				path, field, addr string
			}{
				{"/v1/magic_links/email/login_or_create", "signup_magic_link_url", fresh},
				{"/v1/magic_links/email/login_or_create", "login_magic_link_url", fresh},
				{"/v1/magic_links/email/login_or_create", "login_magic_link_url", known},
				{"/v1/magic_links/email/login_or_create", "signup_magic_link_url", known},
				{"/v1/magic_links/email/send", "login_magic_link_url", known},
				{"/v1/magic_links/email/send", "signup_magic_link_url", known},
				{"/v1/magic_links/email/invite", "invite_magic_link_url", fresh},
			} {
				l.Clock.Advance(61 * time.Second) // stay under the recipient's send limit
				r := do(t, p, http.MethodPost, c.path, map[string]any{"email": c.addr, c.field: bad})
				want := "no_match_for_provided_magic_link_url"
				if strings.ContainsRune(bad, 0) {
					want = "bad_request" // NUL is refused before any URL is looked at
				}
				refused(t, c.path+" "+c.field+"="+bad+" for "+c.addr, r, http.StatusBadRequest, want)
			}
			if n := outboxTo(t, l, fresh); n != 0 {
				t.Errorf("%q: %d messages queued", bad, n)
			}
			if s := do(t, p, http.MethodPost, "/v1/users/search", map[string]any{"query": map[string]any{"operator": "AND",
				"operands": []any{map[string]any{"filter_name": "email_address", "filter_value": []string{fresh}}}}}); len(s.Get("results").([]any)) != 0 {
				t.Errorf("%q: a refused call created the user", bad)
			}
		}
		if n := outboxTo(t, l, known); n != 0 {
			t.Errorf("%d messages queued to the known user", n)
		}

		// Headers an attacker controls never reach a link.
		hostile := func(r *http.Request) {
			r.Host = "evil.example"
			r.Header.Set("X-Forwarded-Host", "evil.example")
			r.Header.Set("X-Forwarded-Proto", "javascript")
			r.Header.Set("X-Forwarded-Prefix", "/evil")
			r.Header.Set("X-Original-URL", "https://evil.example/")
			r.Header.Set("X-Rewrite-URL", "https://evil.example/")
			r.Header.Set("Forwarded", "host=evil.example;proto=http")
			r.Header.Set("Origin", "https://evil.example")
			r.Header.Set("Referer", "https://evil.example/")
		}
		for _, body := range []map[string]any{
			{"email": email("hosts")}, // signup, project default
			{"email": known},          // login, project default
			{"email": known, "login_magic_link_url": good},
		} {
			addr := body["email"].(string)
			path := "/v1/magic_links/email/login_or_create"
			l.Clock.Advance(61 * time.Second)
			m := l.Mail.Next(t, addr, func() { ok(t, p, http.MethodPost, path, body, hostile) })
			attacksTried.Add(1)
			for _, part := range []string{m.Text, m.HTML} {
				if strings.Contains(part, "evil") {
					t.Errorf("the Host/Forwarded headers reached the link: %s", part)
				}
				if !strings.Contains(part, good+"?") {
					t.Errorf("the link does not go to %s: %s", good, part)
				}
			}
		}
	})
}
