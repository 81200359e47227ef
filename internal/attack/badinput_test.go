package attack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// leafPaths lists the JSON paths of a request type's fields, down to the
// leaves: "attributes.ip_address", "query.operands[].filter_name". Raw JSON
// fields are leaves.
func leafPaths(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	raw := reflect.TypeFor[json.RawMessage]()
	if t == raw || t.Kind() != reflect.Struct {
		if t.Kind() == reflect.Slice && t != raw && t.Elem().Kind() == reflect.Struct {
			return leafPaths(t.Elem(), prefix+"[]")
		}
		return []string{prefix}
	}
	var out []string
	for f := range t.Fields() {
		if f.Anonymous {
			out = append(out, leafPaths(f.Type, prefix)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		out = append(out, leafPaths(f.Type, p)...)
	}
	return out
}

// setPath puts v at path in body (creating objects and one-element arrays).
func setPath(body map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	cur := body
	for i, part := range parts {
		arr := strings.HasSuffix(part, "[]")
		part = strings.TrimSuffix(part, "[]")
		last := i == len(parts)-1
		switch {
		case last && !arr:
			cur[part] = v
		case last && arr:
			cur[part] = []any{v}
		case arr:
			next := map[string]any{}
			cur[part] = []any{next}
			cur = next
		default:
			next, ok := cur[part].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[part] = next
			}
			cur = next
		}
	}
}

// route is one endpoint with a body that passes validation (so a bad
// value in one field reaches as deep as it can) and its request type.
type route struct {
	method, path string
	base         func() map[string]any
	typ          reflect.Type
}

// Test07BadInput (issue 8, point 7): every field of every endpoint given a
// value of each wrong type, NUL bytes, invalid UTF-8, huge strings and deep
// nesting; malformed bodies, paths, queries and credentials: each answer
// is a JSON envelope under 500, in bounded time. A client that sends its
// headers or body slowly is cut off at the server's timeouts.
func Test07BadInput(t *testing.T) {
	t.Run("slow clients", testSlowClients)
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend, NoDelivery: true})
		p := l.NewProject(t, "bad input")
		me := newLogin(t, p)
		u := user(t, p, map[string]any{"email": email("bad"), "phone_number": phone(t)})
		uid, eid, pid := u.Str("user_id"), u.Str("email_id"), u.Str("phone_id")
		pwUser := email("bad-pw")
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": pwUser, "password": sprayRight})
		invitee := email("invitee")
		ok(t, p, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": invitee})

		fresh := func(k string) func() map[string]any {
			return func() map[string]any { return map[string]any{k: email("bad")} }
		}
		freshPhone := func() map[string]any { return map[string]any{"phone_number": phone(t)} }
		routes := []route{
			{http.MethodPost, "/v1/users", fresh("email"), reflect.TypeFor[auth.CreateUserRequest]()},
			{http.MethodPost, "/v1/users/search", func() map[string]any { return map[string]any{"query": map[string]any{"operator": "AND"}} }, reflect.TypeFor[auth.SearchRequest]()},
			{http.MethodPut, "/v1/users/" + uid, func() map[string]any { return map[string]any{} }, reflect.TypeFor[auth.UpdateUserRequest]()},
			{http.MethodPost, "/v1/magic_links/email/login_or_create", fresh("email"), reflect.TypeFor[auth.EmailLinkRequest]()},
			{http.MethodPost, "/v1/magic_links/email/send", fresh("email"), reflect.TypeFor[auth.EmailLinkRequest]()},
			{http.MethodPost, "/v1/magic_links/email/invite", fresh("email"), reflect.TypeFor[auth.InviteRequest]()},
			{http.MethodPost, "/v1/magic_links/email/revoke_invite", func() map[string]any { return map[string]any{"email": invitee} }, reflect.TypeFor[struct {
				Email string `json:"email"`
			}]()},
			{http.MethodPost, "/v1/magic_links", func() map[string]any { return map[string]any{"user_id": uid} }, reflect.TypeFor[auth.EmbeddableRequest]()},
			{http.MethodPost, "/v1/magic_links/authenticate", func() map[string]any { return map[string]any{"token": "DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94="} }, reflect.TypeFor[auth.AuthenticateMagicLinkRequest]()},
			{http.MethodPost, "/v1/otps/sms/send", freshPhone, reflect.TypeFor[auth.OTPSendRequest]()},
			{http.MethodPost, "/v1/otps/whatsapp/login_or_create", freshPhone, reflect.TypeFor[auth.OTPSendRequest]()},
			{http.MethodPost, "/v1/otps/email/login_or_create", fresh("email"), reflect.TypeFor[auth.OTPSendRequest]()},
			{http.MethodPost, "/v1/otps/authenticate", func() map[string]any { return map[string]any{"method_id": pid, "code": "000001"} }, reflect.TypeFor[auth.AuthenticateOTPRequest]()},
			{http.MethodPost, "/v1/sessions/authenticate", func() map[string]any { return map[string]any{"session_token": me.Token} }, reflect.TypeFor[auth.AuthenticateSessionRequest]()},
			{http.MethodPost, "/v1/sessions/revoke", func() map[string]any {
				return map[string]any{"session_id": "session-test-00000000-0000-0000-0000-000000000000"}
			}, reflect.TypeFor[auth.RevokeRequest]()},
			{http.MethodDelete, "/v1/users/emails/" + eid, func() map[string]any { return map[string]any{} }, nil},
			{http.MethodPost, "/v1/passwords/strength_check", func() map[string]any { return map[string]any{"password": sprayRight} }, reflect.TypeFor[auth.StrengthCheckRequest]()},
			{http.MethodPost, "/v1/passwords/migrate", func() map[string]any {
				return map[string]any{"email": email("bad"), "hash_type": "md_5", "hash": "0123456789abcdef0123456789abcdef"}
			}, reflect.TypeFor[auth.PasswordMigrateRequest]()},
			{http.MethodPost, "/v1/passwords/authenticate", func() map[string]any { return map[string]any{"email": pwUser, "password": sprayRight} }, reflect.TypeFor[auth.PasswordAuthenticateRequest]()},
			{http.MethodDelete, "/v1/users/passwords/password-test-00000000-0000-0000-0000-000000000000", func() map[string]any { return map[string]any{} }, nil},
		}
		deep := func(n int, open, close string) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
		wrongTypes := []string{`1`, `-1`, `1.5`, `1e400`, `18446744073709551616`, `true`, `[]`, `{}`, `"x"`, `null`,
			`[1,"a",{}]`, `{"a":{"b":null}}`, `"\u0000"`, `"a\u0000b"`, `{"\u0000":"\u0000"}`, `"\ud800"`, `"\udfff\ud800"`,
			`"` + strings.Repeat("A", 64<<10) + `"`, deep(500, "[", "]"), strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500),
			`"` + strings.Repeat(`\u00e9`, 2000) + `"`, `"<script>alert(1)</script>"`, `"' OR '1'='1"`, `"%00%ff"`}

		var mu sync.Mutex
		sent := 0
		check := func(what string, r resp, err error, want4xx bool) {
			t.Helper()
			mu.Lock()
			sent++
			mu.Unlock()
			attacksTried.Add(1)
			switch {
			case err != nil:
				t.Errorf("%s: %v", what, err)
			case r.Status >= 500:
				t.Errorf("%s: %d: %.300s", what, r.Status, r.Raw)
			case r.Status >= 400:
				if e := envelopeErr(r); e != "" {
					t.Errorf("%s: %s: %.300s", what, e, r.Raw)
				}
			case want4xx:
				t.Errorf("%s: want a 4xx, got %d: %.300s", what, r.Status, r.Raw)
			}
		}

		// Every leaf of every route, with every bad value, next to a body
		// that is otherwise valid. Four at a time.
		type job struct {
			what string
			rt   route
			body []byte
		}
		jobs := make(chan job)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for j := range jobs {
					r, err := exchange(p, j.rt.method, j.rt.path, j.body)
					check(j.what, r, err, false)
				}
			})
		}
		for _, rt := range routes {
			if rt.typ == nil {
				continue
			}
			for _, path := range leafPaths(rt.typ, "") {
				for _, v := range wrongTypes {
					b := rt.base()
					setPath(b, path, json.RawMessage(v))
					js, err := json.Marshal(b)
					if err != nil {
						t.Fatalf("%s %s = %.40s: %v", rt.path, path, v, err)
					}
					jobs <- job{fmt.Sprintf("%s %s %s=%.60s", rt.method, rt.path, path, v), rt, js}
				}
				// Invalid UTF-8 and raw control bytes inside a string
				// (json.Marshal would have cleaned them).
				for _, raw := range []string{"\xff\xfe", "a\xc0\xafb", "\xed\xa0\x80", "\x01\x1f"} {
					b := rt.base()
					setPath(b, path, json.RawMessage(`"PLACEHOLDER"`))
					js, _ := json.Marshal(b)
					js = []byte(strings.Replace(string(js), "PLACEHOLDER", raw, 1))
					jobs <- job{fmt.Sprintf("%s %s %s=%q", rt.method, rt.path, path, raw), rt, js}
				}
			}
		}
		close(jobs)
		wg.Wait()

		// Whole bodies that are not a JSON object, or too much of one.
		bodies := map[string]string{
			"syntax error": `{"email":`, "trailing data": `{"email":"a@b.co"}{}`, "array": `[]`, "string": `"x"`,
			"number": `1`, "null": `null`, "raw NUL": "{\"email\":\"a\x00@b.co\"}", "NUL before": "\x00{}", "BOM": "\ufeff{}",
			"UTF-16": "\xff\xfe{\x00}\x00", "invalid UTF-8 key": "{\"\xff\":1}", "deep 100000": deep(100000, "[", "]"),
			"deep objects": deep(60000, `{"a":`, "}"), "huge string": `{"email":"` + strings.Repeat("a", maxBodyJust) + `@b.co"}`,
			"over 1 MiB": `{"email":"` + strings.Repeat("a", 1<<20) + `"}`, "many keys": "{" + strings.Repeat(`"a":1,`, 150000) + `"b":1}`,
			"duplicate keys": `{"email":"a@b.co","email":1}`, "comments": `{/* */}`, "single quotes": `{'email':'a@b.co'}`,
			"control chars": "{\"email\":\"a\tb\n@b.co\"}", "huge number": `{"session_duration_minutes":` + strings.Repeat("9", 100000) + `}`,
		}
		// These are valid JSON objects whose fields a route may ignore.
		objects := []string{"duplicate keys", "null", "huge string", "huge number", "invalid UTF-8 key", "many keys"}
		for _, rt := range routes {
			for name, body := range bodies {
				r, err := exchange(p, rt.method, rt.path, body)
				check(rt.method+" "+rt.path+": "+name, r, err, rt.method != http.MethodDelete && !slices.Contains(objects, name))
			}
		}

		// Paths, queries, methods and credentials.
		for _, path := range []string{
			"/v1/users/%00", "/v1/users/%FF", "/v1/users/%C0%AF", "/v1/users/a%00b", "/v1/users/" + strings.Repeat("x", 16<<10),
			"/v1/users/..%2f..%2fetc%2fpasswd", "/v1/users/%2e%2e", "/v1/users/user-test-%E2%80%AE", "/v1/users/emails/%00",
			"/v1/users/phone_numbers/%FF", "/v1/sessions?user_id=%00", "/v1/sessions?user_id=%FF", "/v1/sessions?user_id=",
			"/v1/sessions?user_id=a&user_id=b", "/v1/sessions/jwks/%00", "/v1/sessions/jwks/%FF", "/v1/sessions/jwks/" + strings.Repeat("p", 16<<10),
			"/v1/users/" + uid + "%00",
		} {
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodPatch} {
				r, err := exchange(p, m, path, "{}")
				check(m+" "+path, r, err, false)
			}
		}
		for _, c := range []latchtest.Project{
			{ID: "project-test-\x00", Secret: "secret-test-x"}, {ID: "project-test-\xff\xfe", Secret: "secret-test-\xff"},
			{ID: p.ID + "\x00", Secret: p.Secret}, {ID: p.ID, Secret: p.Secret + "\x00"}, {ID: p.ID, Secret: "secret-test-\xc0\xaf"},
			{ID: "project-test-" + strings.Repeat("a", 30<<10), Secret: "secret-test-" + strings.Repeat("b", 30<<10)},
			{ID: strings.ToUpper(p.ID), Secret: p.Secret}, {ID: p.ID, Secret: ""}, {ID: "", Secret: p.Secret},
		} {
			c.URL = l.URL
			r, err := exchange(c, http.MethodGet, "/v1/users/"+uid, nil)
			if r.Status == http.StatusRequestHeaderFieldsTooLarge {
				// net/http answers headers over MaxHeaderBytes itself, in
				// plain text, before any handler runs.
				attacksTried.Add(1)
				continue
			}
			check(fmt.Sprintf("credentials %.60q", c.ID), r, err, true)
		}
		for _, h := range []string{"Basic", "Basic !!!", "Basic " + strings.Repeat("A", 40<<10), "Bearer x", "Basic Og==", "basic " + "eDp5"} {
			r, err := exchange(latchtest.Project{URL: l.URL}, http.MethodGet, "/v1/users/"+uid, nil, func(r *http.Request) { r.Header.Set("Authorization", h) })
			check(fmt.Sprintf("Authorization %.30q", h), r, err, true)
		}
		t.Logf("%s: %d bad requests, none answered 500 or hung", backend, sent)
	})
}

// maxBodyJust fills a body to just under the 1 MiB limit.
const maxBodyJust = 1<<20 - 100

// testSlowClients: a client that dribbles its headers is cut off at the
// server's ReadHeaderTimeout (5 s), one that dribbles its body at
// ReadTimeout (15 s); neither holds a connection longer.
func testSlowClients(t *testing.T) {
	t.Parallel()
	l := latchtest.Start(t, latchtest.Options{NoDelivery: true})
	p := l.NewProject(t, "slow")
	srv := l.App.HTTPServer()
	cases := []struct {
		name  string
		head  string
		drip  string
		limit time.Duration
	}{
		{"headers", "POST /v1/users HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", srv.ReadHeaderTimeout},
		{"body", "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nAuthorization: Basic " +
			basic(p.ID, p.Secret) + "\r\n\r\n", strings.Repeat(" ", 1000), srv.ReadTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			faultsInjected.Add(1)
			attacksTried.Add(1)
			conn, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, c.head); err != nil {
				t.Fatal(err)
			}
			closed := make(chan time.Duration, 1)
			go func() {
				// The server answers (408/400) or just closes; either way
				// the read ends when it drops the connection.
				_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
				closed <- time.Since(start)
			}()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(c.limit + 10*time.Second)
			for i := 0; ; i++ {
				select {
				case d := <-closed:
					if d < c.limit-time.Second {
						t.Errorf("cut off after %v, before the %v timeout: the drip was refused for another reason", d, c.limit)
					}
					t.Logf("slow %s cut off after %v (timeout %v)", c.name, d.Round(time.Millisecond), c.limit)
					return
				case <-deadline:
					t.Fatalf("a client dripping its %s held the connection for %v (timeout %v)", c.name, time.Since(start), c.limit)
				case <-tick.C:
					_, _ = conn.Write([]byte{c.drip[i%len(c.drip)]})
				}
			}
		})
	}
}

func basic(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(id, secret)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
