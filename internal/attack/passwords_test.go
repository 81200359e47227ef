package attack

import (
	"context"
	"crypto/md5"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

const sprayRight = "Correct-horse-battery-staple-42"

// sprayList is an attacker's list: common passwords, with the users'
// real one late in it.
var sprayList = []string{"password1", "123456789", "qwerty123", "letmein!", "Summer2024!", "iloveyou1", "Password123", sprayRight}

// TestPasswordSprayingIsStoppedByTheLock: an attacker tries a list of
// common passwords against many accounts. Each wrong password counts
// toward the account's lock; once locked, even the right password is
// refused, so the list's last entry (the real password) never logs in.
func TestPasswordSprayingIsStoppedByTheLock(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "spray")
		three := 3
		if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{LockThreshold: &three}); err != nil {
			t.Fatal(err)
		}
		var victims []string
		for range 4 {
			e := email("victim")
			ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": e, "password": sprayRight})
			victims = append(victims, e)
		}
		for _, pw := range sprayList {
			for _, v := range victims {
				r := do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": v, "password": pw, "session_duration_minutes": 60})
				attacksTried.Add(1)
				if r.Status == http.StatusOK {
					t.Fatalf("spray of %q logged in as %s", pw, v)
				}
				if et := r.ErrorType(); et != "unauthorized_credentials" && et != "user_lock_limit_reached" {
					t.Fatalf("spray: %d %s", r.Status, r.Raw)
				}
				if pw == sprayRight && r.ErrorType() != "user_lock_limit_reached" {
					t.Fatalf("the right password after %d wrong ones: want 429 user_lock_limit_reached, got %d %s", three, r.Status, r.Raw)
				}
			}
		}
	})
}

// TestALoginForAnUnknownAddressCostsWhatAKnownOneDoes: every way a
// password login can go (no such address, a user without a password, a
// wrong password, the right password) costs exactly one password hash
// computation, counted by the service, not timed; a locked user costs none
// (the attempt is refused before any check, as is an unknown address past
// the threshold); and the refusals of an unknown address and of a wrong
// password have the same status, error type and shape.
func TestALoginForAnUnknownAddressCostsWhatAKnownOneDoes(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "pw-timing")
		one := 1
		if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{LockThreshold: &one}); err != nil {
			t.Fatal(err)
		}
		known, locked, nopw := email("known"), email("locked"), email("nopw")
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": known, "password": sprayRight})
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": locked, "password": sprayRight})
		ok(t, p, http.MethodPost, "/v1/users", map[string]any{"email": nopw})
		do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": locked, "password": "wrong-wrong-wrong"})

		cases := []struct {
			name, email, password string
			status                int
			hashes                int64
		}{
			{"unknown address", email("nobody"), sprayRight, http.StatusUnauthorized, 1},
			{"user without a password", nopw, sprayRight, http.StatusUnauthorized, 1},
			{"right password", known, sprayRight, http.StatusOK, 1},
			{"locked user", locked, sprayRight, http.StatusTooManyRequests, 0},
			{"wrong password", known, "not-the-password-1", http.StatusUnauthorized, 1},
		}
		shapes := map[string]string{}
		for _, c := range cases {
			before := l.App.Service.PasswordHashes()
			r := do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": c.email, "password": c.password})
			attacksTried.Add(1)
			hashes := l.App.Service.PasswordHashes() - before
			if r.Status != c.status {
				t.Fatalf("%s: want %d, got %d %s", c.name, c.status, r.Status, r.Raw)
			}
			if hashes != c.hashes {
				t.Errorf("%s: %d password hash computations, want %d", c.name, hashes, c.hashes)
			}
			shapes[c.name] = shape(r) + " " + r.ErrorType()
		}
		if shapes["unknown address"] != shapes["wrong password"] || shapes["unknown address"] != shapes["user without a password"] {
			t.Errorf("refusals differ:\nunknown: %s\nwrong:   %s\nno pw:   %s", shapes["unknown address"], shapes["wrong password"], shapes["user without a password"])
		}
	})
}

// TestPasswordGuessesAtOnceAllCountAndRehashesAtOnceAgree: guesses sent
// together are each counted (the lock's count is one atomic update each),
// so the user ends locked; and right logins of a migrated password sent
// together all succeed while the hash is replaced once, by one of them.
func TestPasswordGuessesAtOnceAllCountAndRehashesAtOnceAgree(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "pw-race")
		five := 5
		if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{LockThreshold: &five}); err != nil {
			t.Fatal(err)
		}
		victim := email("race")
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": victim, "password": sprayRight})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				r, err := exchange(p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": victim, "password": fmt.Sprintf("guess-%d-%s", i, sprayRight)})
				attacksTried.Add(1)
				if err != nil || r.Status == http.StatusOK || r.Status >= 500 {
					t.Errorf("guess %d: %v %d %s", i, err, r.Status, r.Raw)
				}
			})
		}
		wg.Wait()
		r := do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": victim, "password": sprayRight})
		if r.ErrorType() != "user_lock_limit_reached" {
			t.Fatalf("after 8 guesses at once with a threshold of 5: %d %s", r.Status, r.Raw)
		}

		migrated := email("race-mig")
		m := ok(t, p, http.MethodPost, "/v1/passwords/migrate", map[string]any{"email": migrated, "hash_type": "md_5", "hash": fmt.Sprintf("%x", md5.Sum([]byte(sprayRight)))})
		// Fewer than the threshold: every attempt is counted before it is
		// checked, so more at once than the threshold would lock the user
		// even with the right password.
		for range 4 {
			wg.Go(func() {
				r, err := exchange(p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": migrated, "password": sprayRight})
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("a right login during the rehash: %v %d %s", err, r.Status, r.Raw)
				}
			})
		}
		wg.Wait()
		pw, err := l.App.Store.GetPassword(context.Background(), p.ID, m.Str("user_id"))
		if err != nil || !strings.HasPrefix(pw.Hash, "$argon2id$") {
			t.Fatalf("after the logins: %v %.20s", err, pw.Hash)
		}
		ok(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": migrated, "password": sprayRight})
	})
}
