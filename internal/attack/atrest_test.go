package attack

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// secretForms are the ways a secret could rest in plain: as written, its
// decoded bytes, and those bytes in hex and base64 (PostgreSQL dumps bytea
// as hex).
func secretForms(s string) [][]byte {
	forms := [][]byte{[]byte(s)}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding} {
		if raw, err := enc.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "secret-test-"), "secret-live-")); err == nil && len(raw) >= 16 {
			forms = append(forms, raw, []byte(hex.EncodeToString(raw)), []byte(base64.StdEncoding.EncodeToString(raw)))
		}
	}
	return forms
}

func bytesForms(raw []byte) [][]byte {
	return [][]byte{raw, []byte(hex.EncodeToString(raw)), []byte(base64.StdEncoding.EncodeToString(raw)), []byte(base64.RawURLEncoding.EncodeToString(raw))}
}

// dump returns everything the database holds: for SQLite the bytes of its
// files (free pages and WAL included), for PostgreSQL every row of every
// table of the schema as JSON (bytea as hex).
func dump(t *testing.T, backend string, l *latchtest.Latch) []byte {
	t.Helper()
	if backend == "sqlite" {
		path := strings.TrimPrefix(l.Database, "sqlite:")
		var all []byte
		files, _ := filepath.Glob(path + "*")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if len(all) == 0 {
			t.Fatalf("no database files at %s", path)
		}
		return all
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, l.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.SQL()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("only %d tables in the schema: %v", len(tables), tables)
	}
	var out bytes.Buffer
	for _, tb := range tables {
		rs, err := db.QueryContext(ctx, `SELECT row_to_json(t)::text FROM "`+tb+`" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var s string
			rs.Scan(&s)
			out.WriteString(tb + " " + s + "\n")
		}
		rs.Close()
	}
	return out.Bytes()
}

// Test08AtRest (issue 8, point 8): after a full run (logins by link and
// code, sessions, a key rotation, a second secret, invitations) a scan of
// the whole database (SQLite: its files byte by byte, WAL included;
// PostgreSQL: every row) finds no session token, magic-link token, code,
// project secret, private key or master key in plain text, nor a code's
// unkeyed SHA-256; nor does the server's log.
func Test08AtRest(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		ctx := context.Background()
		p := l.NewProject(t, "at rest")
		_, sec2, err := l.App.Service.AddSecret(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		secrets := map[string]string{"project secret": p.Secret, "second secret": sec2, "master key": l.MasterKey}
		var codes []string
		add := func(kind, v string) { secrets[fmt.Sprintf("%s %d", kind, len(secrets))] = v }

		for i := range 3 {
			addr, num := email("rest"), phone(t)
			user(t, p, map[string]any{"email": addr, "phone_number": num})
			// A magic link redeemed, one left waiting.
			ok(t, p, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
			link := latchtest.LinkToken(t, l.Mail.WaitFor(t, addr, 1))
			add("magic-link token", link)
			r := ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link, "session_duration_minutes": 60})
			add("session token", r.Str("session_token"))
			l.Clock.Advance(time.Second)
			ok(t, p, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": addr})
			add("unused magic-link token", latchtest.LinkToken(t, l.Mail.WaitFor(t, addr, 2)))
			// A code redeemed, one left waiting.
			pid, code := smsCode(t, l, p, num)
			codes = append(codes, code)
			r = ok(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": pid, "code": code, "session_duration_minutes": 60, "session_token": r.Str("session_token")})
			ok(t, p, http.MethodPost, "/v1/otps/email/send", map[string]any{"email": addr})
			codes = append(codes, latchtest.Code(t, l.Mail.WaitFor(t, addr, 3).Text))
			// An embeddable link, a session extended, one revoked.
			uid := r.Str("user_id")
			emb := ok(t, p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": uid}).Str("token")
			add("embeddable token", emb)
			s := ok(t, p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": emb, "session_duration_minutes": 120})
			add("session token", s.Str("session_token"))
			ok(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": s.Str("session_token"), "session_duration_minutes": 600})
			if i == 0 {
				ok(t, p, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_token": s.Str("session_token")})
			}
			inv := email("invitee")
			ok(t, p, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": inv})
			add("invite token", latchtest.LinkToken(t, l.Mail.WaitFor(t, inv, 1)))
			// A password set, used, reset by email link.
			pwAddr, pw, pw2 := email("pw-rest"), fmt.Sprintf("At-rest-password-%d-horse!", i), fmt.Sprintf("Second-rest-password-%d-zebra?", i)
			add("password", pw)
			add("password", pw2)
			ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": pwAddr, "password": pw, "session_duration_minutes": 60})
			ok(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": pwAddr, "password": pw})
			ok(t, p, http.MethodPost, "/v1/passwords/email/reset/start", map[string]any{"email": pwAddr})
			reset := latchtest.LinkToken(t, l.Mail.WaitFor(t, pwAddr, 1))
			add("password reset token", reset)
			ok(t, p, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": reset, "password": pw2})
		}
		if _, err := l.App.Keys.Rotate(ctx, p.ID, false, 0); err != nil {
			t.Fatal(err)
		}
		newLogin(t, p) // a JWT of the new key
		// The private keys, unsealed the way only the server can.
		var keyForms [][]byte
		sks, err := l.App.Store.ListSigningKeys(ctx, p.ID, l.Clock.Now())
		if err != nil || len(sks) < 2 {
			t.Fatalf("signing keys: %d, %v", len(sks), err)
		}
		for _, sk := range sks {
			der, err := l.App.Ring.Open(sk.PrivateKeyEnc, []byte(sk.KID))
			if err != nil {
				t.Fatal(err)
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatal(err)
			}
			rk := k.(*rsa.PrivateKey)
			keyForms = append(keyForms, bytesForms(der)...)
			keyForms = append(keyForms, bytesForms(x509.MarshalPKCS1PrivateKey(rk))...)
			for _, part := range [][]byte{rk.D.Bytes(), rk.Primes[0].Bytes(), rk.Primes[1].Bytes()} {
				keyForms = append(keyForms, bytesForms(part)...)
			}
		}
		// A canary the scan must find, so a silent scan means something.
		canary := "canary-" + strings.Repeat("c", 20) + fmt.Sprint(time.Now().UnixNano())
		user(t, p, map[string]any{"email": email("canary"), "untrusted_metadata": map[string]any{"note": canary}})

		l.Stop() // close the database (SQLite: checkpoint the WAL into the file)
		data := dump(t, backend, l)
		if !bytes.Contains(data, []byte(canary)) {
			t.Fatalf("the scan does not see the canary: it cannot be trusted")
		}
		scan := func(where string, data []byte) {
			for name, s := range secrets {
				for _, f := range secretForms(s) {
					attacksTried.Add(1)
					if bytes.Contains(data, f) {
						t.Errorf("%s holds the %s in plain (%d bytes form)", where, name, len(f))
					}
				}
			}
			for _, f := range keyForms {
				attacksTried.Add(1)
				if bytes.Contains(data, f) {
					t.Errorf("%s holds a private key (a %d-byte form)", where, len(f))
				}
			}
			for _, c := range codes {
				attacksTried.Add(1)
				if regexp.MustCompile(`(^|[^0-9A-Za-z])` + c + `([^0-9A-Za-z]|$)`).Match(data) {
					t.Errorf("%s holds the code %s in plain", where, c)
				}
				sum := sha256.Sum256([]byte(c))
				for _, f := range bytesForms(sum[:]) {
					if bytes.Contains(data, f) {
						t.Errorf("%s holds the code %s's unkeyed SHA-256", where, c)
					}
				}
			}
		}
		scan("the database", data)
		scan("the server log", []byte(l.Logs.String()))
		t.Logf("%s: scanned %d bytes for %d secrets, %d codes and %d private-key forms", backend, len(data), len(secrets), len(codes), len(keyForms))
	})
}
