package api_test

// Passwords end to end: the real HTTP API on both backends, a real SMTP
// server for reset links, the injected clock.

import (
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

const (
	pwStrong  = "Correct-horse-battery-staple-42"
	pwStrong2 = "Purple-elephant-juggles-quietly-7"
	pwWeak    = "password1"
)

// pwCreate creates a user with a password and a session.
func pwCreate(t *testing.T, p latchtest.Project, email, password string) latchtest.Response {
	t.Helper()
	return p.OK(t, http.MethodPost, "/v1/passwords", map[string]any{"email": email, "password": password, "session_duration_minutes": 60})
}

func pwLockAt(t *testing.T, l *latchtest.Latch, p latchtest.Project, n int) {
	t.Helper()
	if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{LockThreshold: &n}); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordCreateThenAuthenticateStartsASession(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw")
		email := fndEmail("pw")
		c := pwCreate(t, p, strings.ToUpper(email[:1])+email[1:], pwStrong)
		if c.Str("user_id") == "" || c.Str("email_id") == "" || c.Str("session_token") == "" || c.Str("session_jwt") == "" {
			t.Fatalf("create: %s", c.Raw)
		}
		pwID := c.Str("user.password.password_id")
		if !strings.HasPrefix(pwID, "password-test-") {
			t.Fatalf("user.password: %s", c.Raw)
		}
		if c.Str("session.authentication_factors.0.type") != "password" || c.Str("session.authentication_factors.0.delivery_method") != "knowledge" ||
			c.Str("session.authentication_factors.0.email_factor.email_address") != email {
			t.Fatalf("factor: %s", c.Raw)
		}
		a := p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": strings.ToUpper(email), "password": pwStrong, "session_duration_minutes": 30})
		if a.Str("user_id") != c.Str("user_id") || a.Str("session_token") == "" || a.Str("user.password.password_id") != pwID ||
			a.Str("session.authentication_factors.0.email_factor.email_id") != c.Str("email_id") {
			t.Fatalf("authenticate: %s", a.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/passwords", map[string]any{"email": email, "password": pwStrong2}, http.StatusBadRequest, "duplicate_email")
		if strings.Contains(l.Logs.String(), pwStrong) {
			t.Fatal("the log holds a password")
		}
	})
}

func TestWrongPasswordIsRefusedCountedAndLocksTheUser(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-lock")
		pwLockAt(t, l, p, 3)
		email := fndEmail("lock")
		c := pwCreate(t, p, email, pwStrong)
		for i := range 2 {
			r := p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2}, http.StatusUnauthorized, "unauthorized_credentials")
			if strings.Contains(string(r.Raw), pwStrong2) {
				t.Fatalf("try %d: the answer holds the password", i)
			}
		}
		// A right password clears the count: two more wrong do not lock.
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})
		for range 3 {
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2}, http.StatusUnauthorized, "unauthorized_credentials")
		}
		p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong}, http.StatusTooManyRequests, "user_lock_limit_reached")
		u := mlUser(t, p, c.Str("user_id"))
		if u.Get("is_locked") != true {
			t.Fatalf("user not locked: %s", u.Raw)
		}
		l.Clock.Advance(auth.DefaultLockTTL + 1)
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})
		// An unknown address and a user without a password: the same 401.
		p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": fndEmail("nobody"), "password": pwStrong}, http.StatusUnauthorized, "unauthorized_credentials")
		other := fndEmail("nopw")
		fndCreateUser(t, p, map[string]any{"email": other})
		p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": other, "password": pwStrong}, http.StatusUnauthorized, "unauthorized_credentials")
	})
}

// pwMigrations are a hash of each type Stytch's migrate takes, of pw.
func pwMigrations(t *testing.T, pw string) map[string]map[string]any {
	salt := []byte("pepper-and-salt!")
	b64 := base64.StdEncoding.EncodeToString
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
	if err != nil {
		t.Fatal(err)
	}
	md := md5.Sum([]byte("pre" + pw + "post"))
	s1 := sha1.Sum([]byte(pw + "post"))
	s512 := sha512.Sum512([]byte("pre" + pw))
	sc, err := scrypt.Key([]byte(pw), salt, 1024, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pbkdf2.Key(sha256.New, pw, salt, 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	phc := func(variant string, key []byte) string {
		return "$" + variant + "$v=19$m=1024,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	}
	return map[string]map[string]any{
		"bcrypt":    {"hash": string(bc)},
		"md_5":      {"hash": hex.EncodeToString(md[:]), "md_5_config": map[string]any{"prepend_salt": "pre", "append_salt": "post"}},
		"sha_1":     {"hash": hex.EncodeToString(s1[:]), "sha_1_config": map[string]any{"append_salt": "post"}},
		"sha_512":   {"hash": hex.EncodeToString(s512[:]), "sha_512_config": map[string]any{"prepend_salt": "pre"}},
		"scrypt":    {"hash": b64(sc), "scrypt_config": map[string]any{"salt": b64(salt), "n_parameter": 1024, "r_parameter": 8, "p_parameter": 1, "key_length": 32}},
		"pbkdf_2":   {"hash": b64(pb), "pbkdf_2_config": map[string]any{"salt": b64(salt), "iteration_amount": 1000, "key_length": 32, "algorithm": "sha256"}},
		"argon_2i":  {"hash": phc("argon2i", argon2.Key([]byte(pw), salt, 1, 1024, 1, 32))},
		"argon_2id": {"hash": phc("argon2id", argon2.IDKey([]byte(pw), salt, 1, 1024, 1, 32))},
	}
}

func TestMigratedPasswordOfEveryHashTypeAuthenticatesAndIsRehashed(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-migrate")
		for typ, body := range pwMigrations(t, pwStrong) {
			email := fndEmail("mig-" + typ)
			body["email"], body["hash_type"], body["set_email_verified"] = email, typ, true
			m := p.OK(t, http.MethodPost, "/v1/passwords/migrate", body)
			if m.Get("user_created") != true || m.Str("user.password.password_id") == "" || m.Get("user.emails.0.verified") != true {
				t.Fatalf("%s: migrate: %s", typ, m.Raw)
			}
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2}, http.StatusUnauthorized, "unauthorized_credentials")
			before, err := l.App.Store.GetPassword(context.Background(), p.ID, m.Str("user_id"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(before.Hash, "$argon2id$v=19$m=19456") {
				t.Fatalf("%s: stored as Argon2id before any login", typ)
			}
			p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})
			after, err := l.App.Store.GetPassword(context.Background(), p.ID, m.Str("user_id"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(after.Hash, "$argon2id$v=19$m=19456,t=2,p=1$") || after.ID != before.ID {
				t.Fatalf("%s: not rehashed with Argon2id (OWASP parameters) on login: %.40s", typ, after.Hash)
			}
			p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})
		}
		// A hash type Stytch names that Latch does not take, and a bad hash.
		p.Fail(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": fndEmail("mig"), "hash_type": "phpass", "hash": "$P$abc"}, http.StatusBadRequest, "bad_request")
		p.Fail(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": fndEmail("mig"), "hash_type": "md_5", "hash": "zz"}, http.StatusBadRequest, "bad_request")
	})
}

func TestPasswordResetByEmailLinkWithPKCE(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-reset")
		email := fndEmail("reset")
		c := pwCreate(t, p, email, pwStrong)
		verifier := "a-verifier-of-at-least-forty-three-characters-long"
		sum := sha256.Sum256([]byte(verifier))
		challenge := base64.RawURLEncoding.EncodeToString(sum[:])
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset/start", map[string]any{"email": email, "reset_password_redirect_url": "https://evil.example/x"}, http.StatusBadRequest, "no_match_for_provided_magic_link_url")
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset/start", map[string]any{"email": fndEmail("unknown")}, http.StatusNotFound, "email_not_found")
		var s latchtest.Response
		m := l.Mail.Next(t, email, func() {
			s = p.OK(t, http.MethodPost, "/v1/passwords/email/reset/start", map[string]any{"email": email, "code_challenge": challenge, "reset_password_redirect_url": latchtest.DefaultRedirect})
		})
		if s.Str("user_id") != c.Str("user_id") || s.Str("email_id") != c.Str("email_id") {
			t.Fatalf("reset/start: %s", s.Raw)
		}
		_, u := mlLinkIn(t, html.UnescapeString(m.Text))
		if u.Query().Get("stytch_token_type") != "reset_password" || !strings.HasPrefix(u.String(), latchtest.DefaultRedirect) {
			t.Fatalf("reset link: %s", u)
		}
		token := u.Query().Get("token")
		// A reset link logs nobody in as a magic link, and is not spent by trying.
		p.Fail(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": token}, http.StatusNotFound, "magic_link_not_found")
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": token, "password": pwStrong2}, http.StatusBadRequest, "pkce_expected_code_verifier")
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": token, "password": pwWeak, "code_verifier": verifier}, http.StatusBadRequest, "weak_password")
		r := p.OK(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": token, "password": pwStrong2, "code_verifier": verifier, "session_duration_minutes": 60})
		if r.Str("user_id") != c.Str("user_id") || r.Str("session_token") == "" || r.Get("user.emails.0.verified") != true {
			t.Fatalf("reset: %s", r.Raw)
		}
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": token, "password": pwStrong2, "code_verifier": verifier}, http.StatusUnauthorized, "unable_to_auth_magic_link")
		p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong}, http.StatusUnauthorized, "unauthorized_credentials")
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2})
		// A magic link is not a reset link.
		link := p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": c.Str("user_id")})
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": link.Str("token"), "password": pwStrong}, http.StatusNotFound, "magic_link_not_found")
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link.Str("token")})
	})
}

func TestStrengthCheckJudgesWeakAndStrongPasswordsAndBreaches(t *testing.T) {
	dir := t.TempDir()
	breached := "Tr0ub4dor&3-but-leaked-2024"
	sum := sha1.Sum([]byte(breached))
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(dir, h[:5]+".txt"), []byte("0000000000000000000000000000000000A:0\r\n"+h[5:]+":42\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			l := latchtest.Start(t, latchtest.Options{Backend: b, BreachedPasswordsDir: dir})
			p := l.NewProject(t, "pw-strength")
			weak := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": pwWeak})
			if weak.Get("valid_password") != false || weak.Str("strength_policy") != "zxcvbn" || weak.Str("feedback.warning") == "" ||
				weak.Get("breach_detection_on_create") != true {
				t.Fatalf("weak: %s", weak.Raw)
			}
			strong := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": pwStrong, "email": "kai@example.com"})
			if strong.Get("valid_password") != true || strong.Get("score") != float64(4) || strong.Get("breached_password") != false {
				t.Fatalf("strong: %s", strong.Raw)
			}
			// Bounded: at most 256 bytes; zxcvbn scores the first 64 characters.
			long := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": strings.Repeat("a", 64) + pwStrong + pwStrong2})
			if long.Get("valid_password") != false {
				t.Fatalf("a password whose first 64 characters are weak: %s", long.Raw)
			}
			p.Fail(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": strings.Repeat("Ab1!", 65)}, http.StatusBadRequest, "bad_request")
			br := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": breached})
			if br.Get("valid_password") != false || br.Get("breached_password") != true {
				t.Fatalf("breached: %s", br.Raw)
			}
			p.Fail(t, http.MethodPost, "/v1/passwords", map[string]any{"email": fndEmail("br"), "password": breached}, http.StatusBadRequest, "breached_password")
			p.Fail(t, http.MethodPost, "/v1/passwords", map[string]any{"email": fndEmail("weak"), "password": pwWeak}, http.StatusBadRequest, "weak_password")
			// A migrated password found breached must be reset.
			bc, _ := bcrypt.GenerateFromPassword([]byte(breached), 4)
			email := fndEmail("mig-br")
			p.OK(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": email, "hash_type": "bcrypt", "hash": string(bc)})
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": breached}, http.StatusUnauthorized, "reset_password")

			// LUDS, as a project setting.
			luds, length, cx := "luds", 10, 4
			if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{PasswordPolicy: &luds, LUDSMinLength: &length, LUDSComplexity: &cx}); err != nil {
				t.Fatal(err)
			}
			lw := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": "abcDEF1"})
			if lw.Get("valid_password") != false || lw.Str("strength_policy") != "luds" || lw.Get("feedback.luds_requirements.missing_complexity") != float64(1) ||
				lw.Get("feedback.luds_requirements.missing_characters") != float64(3) || lw.Get("feedback.luds_requirements.has_symbol") != false {
				t.Fatalf("luds weak: %s", lw.Raw)
			}
			ls := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": "abcDEF12!?"})
			if ls.Get("valid_password") != true {
				t.Fatalf("luds strong: %s", ls.Raw)
			}
			// The verdict is LUDS's, not zxcvbn's: a common pattern that meets
			// length and complexity passes, a long passphrase of one kind does not.
			if r := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": "Password1!"}); r.Get("valid_password") != true {
				t.Fatalf("LUDS 10/4 refused Password1!: %s", r.Raw)
			}
			if r := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": "correct horse battery staple"}); r.Get("valid_password") != false {
				t.Fatalf("LUDS 10/4 took a lower-case passphrase: %s", r.Raw)
			}
		})
	}
	t.Run("without a breach corpus", func(t *testing.T) {
		l := latchtest.Start(t, latchtest.Options{})
		p := l.NewProject(t, "pw-nobreach")
		r := p.OK(t, http.MethodPost, "/v1/passwords/strength_check", map[string]any{"password": breached})
		if r.Get("breach_detection_on_create") != false || r.Get("breached_password") != false {
			t.Fatalf("no corpus: %s", r.Raw)
		}
	})
}

func TestPasswordJoinsTheSessionAndResetsBySessionAndExistingPassword(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-session")
		email := fndEmail("join")
		c := pwCreate(t, p, email, pwStrong)
		link := p.OK(t, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": c.Str("user_id")})
		ml := p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link.Str("token"), "session_duration_minutes": 60})
		j := p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong, "session_jwt": ml.Str("session_jwt")})
		if j.Str("session.session_id") != ml.Str("session.session_id") || j.Str("session_token") != ml.Str("session_token") ||
			j.Str("session.authentication_factors.1.type") != "password" {
			t.Fatalf("join: %s", j.Raw)
		}
		// Another user's session is not joined.
		other := pwCreate(t, p, fndEmail("other"), pwStrong)
		p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong, "session_token": other.Str("session_token")}, http.StatusBadRequest, "user_id_mismatch")

		// session/reset with a fresh factor; refused once the factors are old.
		r := p.OK(t, http.MethodPost, "/v1/passwords/session/reset", map[string]any{"password": pwStrong2, "session_token": ml.Str("session_token")})
		if r.Str("session.session_id") != ml.Str("session.session_id") || len(r.Get("session.authentication_factors").([]any)) != 2 {
			t.Fatalf("session reset: %s", r.Raw)
		}
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2})
		l.Clock.Advance(6 * 60 * 1e9)
		p.Fail(t, http.MethodPost, "/v1/passwords/session/reset", map[string]any{"password": pwStrong, "session_token": ml.Str("session_token")}, http.StatusBadRequest, "session_too_old_to_reset_password")

		// existing_password/reset: the old one must match.
		p.Fail(t, http.MethodPost, "/v1/passwords/existing_password/reset", map[string]any{"email": email, "existing_password": pwStrong, "new_password": pwStrong}, http.StatusUnauthorized, "unauthorized_credentials")
		p.Fail(t, http.MethodPost, "/v1/passwords/existing_password/reset", map[string]any{"email": email, "existing_password": pwStrong2, "new_password": pwWeak}, http.StatusBadRequest, "weak_password")
		e := p.OK(t, http.MethodPost, "/v1/passwords/existing_password/reset", map[string]any{"email": email, "existing_password": pwStrong2, "new_password": pwStrong, "session_duration_minutes": 5})
		if e.Str("session_token") == "" {
			t.Fatalf("existing reset: %s", e.Raw)
		}
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})

		// Delete the password: it is gone from the user and logs nobody in.
		id := c.Str("user.password.password_id")
		d := p.OK(t, http.MethodDelete, "/v1/users/passwords/"+id, nil)
		if d.Get("user.password") != nil || d.Str("user_id") != c.Str("user_id") {
			t.Fatalf("delete: %s", d.Raw)
		}
		p.Fail(t, http.MethodDelete, "/v1/users/passwords/"+id, nil, http.StatusNotFound, "password_not_found")
		p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong}, http.StatusUnauthorized, "unauthorized_credentials")
		// Another project cannot delete this project's password.
		q := l.NewProject(t, "pw-other")
		id2 := other.Str("user.password.password_id")
		q.Fail(t, http.MethodDelete, "/v1/users/passwords/"+id2, nil, http.StatusNotFound, "password_not_found")
	})
}

func TestSearchFindsUsersByWhetherTheyHaveAPassword(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-search")
		with := pwCreate(t, p, fndEmail("with"), pwStrong).Str("user_id")
		without := fndCreateUser(t, p, map[string]any{"email": fndEmail("without")}).Str("user_id")
		fndSameSet(t, "password_exists true", fndIDs(t, fndSearch(t, p, fndQuery("AND", "password_exists", true))), []string{with})
		fndSameSet(t, "password_exists false", fndIDs(t, fndSearch(t, p, fndQuery("AND", "password_exists", false))), []string{without})
	})
}

// TestAPasswordSetBeforeTheAddressWasProvedMustBeResetAfterAPasswordlessLogin:
// account pre-hijacking. Someone signs up with another's address and a
// password; the owner of the address later logs in by magic link or
// passcode, which proves the address. From then on the password, which
// its setter never proved, logs nobody in (401 reset_password) until it
// is reset by email. An address proved when the password was set (migrate
// with set_email_verified) needs no reset.
func TestAPasswordSetBeforeTheAddressWasProvedMustBeResetAfterAPasswordlessLogin(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-prehijack")
		for _, how := range []string{"magic link", "email passcode"} {
			victim := fndEmail("victim")
			c := pwCreate(t, p, victim, pwStrong) // the attacker's password
			if how == "magic link" {
				p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": victim})
				tok := latchtest.LinkToken(t, l.Mail.WaitFor(t, victim, 1))
				p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok})
			} else {
				s := p.OK(t, http.MethodPost, "/v1/otps/email/login_or_create", map[string]any{"email": victim})
				code := latchtest.Code(t, l.Mail.WaitFor(t, victim, 1).Text)
				p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": s.Str("email_id"), "code": code})
			}
			u := mlUser(t, p, c.Str("user_id"))
			if u.Get("password.requires_reset") != true {
				t.Fatalf("%s: password.requires_reset after the address was proved: %s", how, u.Raw)
			}
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": victim, "password": pwStrong}, http.StatusUnauthorized, "reset_password")
			p.Fail(t, http.MethodPost, "/v1/passwords/existing_password/reset", map[string]any{"email": victim, "existing_password": pwStrong, "new_password": pwStrong2}, http.StatusUnauthorized, "reset_password")
			// The owner resets by email; the new password works.
			p.OK(t, http.MethodPost, "/v1/passwords/email/reset/start", map[string]any{"email": victim})
			tok := latchtest.LinkToken(t, l.Mail.WaitFor(t, victim, 2))
			r := p.OK(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": tok, "password": pwStrong2})
			if r.Get("user.password.requires_reset") != false {
				t.Fatalf("%s: after the reset: %s", how, r.Raw)
			}
			p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": victim, "password": pwStrong2})
		}
		// A proved address: a later magic link changes nothing.
		owner := fndEmail("owner")
		bc, _ := bcrypt.GenerateFromPassword([]byte(pwStrong), 4)
		p.OK(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": owner, "hash_type": "bcrypt", "hash": string(bc), "set_email_verified": true})
		p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": owner})
		p.OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": latchtest.LinkToken(t, l.Mail.WaitFor(t, owner, 1))})
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": owner, "password": pwStrong})
	})
}
