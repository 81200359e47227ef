package api_test

// The attack review of Passwords: migrated hashes whose cost is bounded
// and which can always be checked, a floor of one Argon2id per check.

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/store"
)

func TestMigrateRefusesAHashTooCostlyToCheck(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-cost")
		bc, err := bcrypt.GenerateFromPassword([]byte(pwStrong), 4)
		if err != nil {
			t.Fatal(err)
		}
		b64 := base64.StdEncoding.EncodeToString
		salt, key := b64([]byte("salt-salt-salt!!")), b64(make([]byte, 32))
		costly := map[string]map[string]any{
			"bcrypt cost 31":         {"hash_type": "bcrypt", "hash": strings.Replace(string(bc), "$04$", "$31$", 1)},
			"bcrypt cost 15":         {"hash_type": "bcrypt", "hash": strings.Replace(string(bc), "$04$", "$15$", 1)},
			"scrypt 2 GiB":           {"hash_type": "scrypt", "hash": key, "scrypt_config": map[string]any{"salt": salt, "n_parameter": 1 << 18, "r_parameter": 64, "p_parameter": 1, "key_length": 32}},
			"scrypt 512 MiB of work": {"hash_type": "scrypt", "hash": key, "scrypt_config": map[string]any{"salt": salt, "n_parameter": 1 << 15, "r_parameter": 8, "p_parameter": 16, "key_length": 32}},
			"pbkdf2 10M":             {"hash_type": "pbkdf_2", "hash": key, "pbkdf_2_config": map[string]any{"salt": salt, "iteration_amount": 10_000_000, "key_length": 32, "algorithm": "sha256"}},
		}
		for name, body := range costly {
			body["email"] = fndEmail("cost")
			r := p.Fail(t, http.MethodPost, "/v1/passwords/migrate", body, http.StatusBadRequest, "bad_request")
			if !strings.Contains(r.Str("error_message"), "at most") {
				t.Errorf("%s: the message does not say the bound: %s", name, r.Raw)
			}
		}
		// At the bounds: taken.
		p.OK(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": fndEmail("cost"), "hash_type": "bcrypt", "hash": strings.Replace(string(bc), "$04$", "$14$", 1)})
		p.OK(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": fndEmail("cost"), "hash_type": "scrypt", "hash": key,
			"scrypt_config": map[string]any{"salt": salt, "n_parameter": 1 << 18, "r_parameter": 8, "p_parameter": 1, "key_length": 32}})

		// A row stored before the bounds is not checked at its cost: the
		// login fails at once instead of holding a hashing slot for hours.
		email := fndEmail("cost-old")
		m := p.OK(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": email, "hash_type": "bcrypt", "hash": string(bc)})
		pw, err := l.App.Store.GetPassword(context.Background(), p.ID, m.Str("user_id"))
		if err != nil {
			t.Fatal(err)
		}
		pw.Hash = strings.Replace(pw.Hash, "$04$", "$31$", 1)
		if _, err := l.App.Store.SetPassword(context.Background(), store.Password{ID: pw.ID, ProjectID: p.ID, UserID: pw.UserID, Hash: pw.Hash, CreatedAt: pw.CreatedAt, UpdatedAt: pw.UpdatedAt}); err != nil {
			t.Fatal(err)
		}
		before := l.App.Service.PasswordHashes()
		start := time.Now()
		r := p.Do(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})
		if r.Status == http.StatusOK || l.App.Service.PasswordHashes() != before {
			t.Fatalf("a stored bcrypt of cost 31 was checked: %d %s (%v)", r.Status, r.Raw, time.Since(start))
		}
	})
}

func TestMigrateRefusesAnArgon2HashThatCouldNeverBeChecked(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-argon")
		b64 := base64.StdEncoding.EncodeToString
		cfg := func(salt string, keyLen int) map[string]any {
			return map[string]any{"email": fndEmail("argon"), "hash_type": "argon_2id", "hash": b64(make([]byte, keyLen)),
				"argon_2_config": map[string]any{"salt": salt, "iteration_amount": 1, "memory": 1024, "threads": 1, "key_length": keyLen}}
		}
		for name, body := range map[string]map[string]any{
			"salt of 5 bytes": cfg("short", 32),
			"key of 8 bytes":  cfg("salt-salt-salt", 8),
			"PHC with junk":   {"email": fndEmail("argon"), "hash_type": "argon_2id", "hash": "$argon2id$v=19$m=4096,t=1,p=1junk$" + base64.RawStdEncoding.EncodeToString([]byte("salt-salt-salt")) + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 32))},
		} {
			r := p.Do(t, http.MethodPost, "/v1/passwords/migrate", body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: want 400, got %d %s", name, r.Status, r.Raw)
			}
		}
		// A good one made from argon_2_config logs in.
		p.OK(t, http.MethodPost, "/v1/passwords/migrate", cfg("salt-salt-salt", 32))
	})
}

func TestACheapMigratedHashCostsAnArgon2idLikeAnUnknownAddress(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-floor")
		md := md5.Sum([]byte(pwStrong))
		bc, err := bcrypt.GenerateFromPassword([]byte(pwStrong), 4)
		if err != nil {
			t.Fatal(err)
		}
		cheap := map[string]map[string]any{
			"md_5":     {"hash_type": "md_5", "hash": hex.EncodeToString(md[:])},
			"bcrypt 4": {"hash_type": "bcrypt", "hash": string(bc)},
		}
		for typ, body := range pwMigrations(t, pwStrong) {
			body["hash_type"] = typ
			cheap["every "+typ] = body
		}
		argons := func(email string) int64 {
			before := l.App.Service.Argon2idComputations()
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2}, http.StatusUnauthorized, "unauthorized_credentials")
			return l.App.Service.Argon2idComputations() - before
		}
		if n := argons(fndEmail("nobody")); n != 1 {
			t.Fatalf("an unknown address: %d Argon2id computations, want 1", n)
		}
		for name, body := range cheap {
			email := fndEmail("floor")
			body["email"] = email
			p.OK(t, http.MethodPost, "/v1/passwords/migrate", body)
			if n := argons(email); n != 1 {
				t.Errorf("%s: a wrong password cost %d Argon2id computations, want 1 as an unknown address's", name, n)
			}
		}
	})
}

// pwResetToken starts a password reset for email and returns the link's token.
func pwResetToken(t *testing.T, l *latchtest.Latch, p latchtest.Project, email string) string {
	t.Helper()
	l.Clock.Advance(time.Minute) // past the per-recipient send limit's window
	m := l.Mail.Next(t, email, func() {
		p.OK(t, http.MethodPost, "/v1/passwords/email/reset/start", map[string]any{"email": email, "reset_password_redirect_url": latchtest.DefaultRedirect})
	})
	_, u := mlLinkIn(t, html.UnescapeString(m.Text))
	return u.Query().Get("token")
}

func TestAnUnusedResetLinkStopsWorkingOnceThePasswordChanges(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-links")
		email := fndEmail("links")
		c := pwCreate(t, p, email, pwStrong)
		stale := func(what, token string) {
			t.Helper()
			p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": token, "password": "Another-unused-link-sets-this-9"}, http.StatusUnauthorized, "unable_to_auth_magic_link")
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": "Another-unused-link-sets-this-9"}, http.StatusUnauthorized, "unauthorized_credentials")
		}

		// Two links; one redeemed: the other is dead.
		first, second := pwResetToken(t, l, p, email), pwResetToken(t, l, p, email)
		p.OK(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": first, "password": pwStrong2})
		stale("after a reset by email", second)

		// A reset by the existing password.
		link := pwResetToken(t, l, p, email)
		p.OK(t, http.MethodPost, "/v1/passwords/existing_password/reset", map[string]any{"email": email, "existing_password": pwStrong2, "new_password": pwStrong})
		stale("after existing_password/reset", link)

		// A reset by session.
		link = pwResetToken(t, l, p, email)
		s := p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong, "session_duration_minutes": 60})
		p.OK(t, http.MethodPost, "/v1/passwords/session/reset", map[string]any{"password": pwStrong2, "session_token": s.Str("session_token")})
		stale("after session/reset", link)

		// A migrate.
		link = pwResetToken(t, l, p, email)
		md := md5.Sum([]byte(pwStrong))
		p.OK(t, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": email, "hash_type": "md_5", "hash": hex.EncodeToString(md[:])})
		stale("after a migrate", link)

		// A delete.
		link = pwResetToken(t, l, p, email)
		u := mlUser(t, p, c.Str("user_id"))
		p.OK(t, http.MethodDelete, "/v1/users/passwords/"+u.Str("password.password_id"), nil)
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": link, "password": "Another-unused-link-sets-this-9"}, http.StatusUnauthorized, "unable_to_auth_magic_link")

		// A link started after the change works.
		p.OK(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": pwResetToken(t, l, p, email), "password": pwStrong})
	})
}

func TestALockedUserCannotResetThePasswordBySession(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "pw-locked-reset")
		pwLockAt(t, l, p, 3)
		email := fndEmail("locked")
		c := pwCreate(t, p, email, pwStrong)
		for range 3 {
			p.Fail(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong2}, http.StatusUnauthorized, "unauthorized_credentials")
		}
		p.Fail(t, http.MethodPost, "/v1/passwords/session/reset", map[string]any{"password": pwStrong2, "session_token": c.Str("session_token")}, http.StatusTooManyRequests, "user_lock_limit_reached")
		p.Fail(t, http.MethodPost, "/v1/passwords/email/reset", map[string]any{"token": pwResetToken(t, l, p, email), "password": pwStrong2}, http.StatusTooManyRequests, "user_lock_limit_reached")
		l.Clock.Advance(auth.DefaultLockTTL)
		p.OK(t, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": email, "password": pwStrong})
	})
}
