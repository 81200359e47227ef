package attack

// Guesses sent at once against the lock: every attempt is counted before
// its guess is checked, so at most the lock threshold of them are ever
// checked, and once the lock is reached the right guess gets the same
// answer as the wrong ones (no oracle).

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/secret"
)

// guessAtOnce sends n guesses at once, guess(i) for each, and returns each
// answer's "status error_type" by index.
func guessAtOnce(t *testing.T, n int, guess func(i int) resp) []string {
	t.Helper()
	out := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r := guess(i)
			attacksTried.Add(1)
			out[i] = fmt.Sprint(r.Status, " ", r.ErrorType())
		})
	}
	close(start)
	wg.Wait()
	return out
}

// noOracle checks answers of guesses at once where right is the index of
// the right guess: at most threshold were refused as wrong (wrongType) in
// each lock period, and the right one either logged in (it was among the
// checked) or was refused as every guess past the lock was, with 429.
func noOracle(t *testing.T, what string, answers []string, right, threshold int, wrongType string) {
	t.Helper()
	count := map[string]int{}
	for _, a := range answers {
		count[a]++
	}
	// A right guess that logs in clears the count, as a login does: the
	// guesses after it start a new lock period.
	limit := threshold
	if answers[right] == "200 " {
		limit = 2*threshold - 1
	}
	if count["401 "+wrongType] > limit {
		t.Errorf("%s: %d guesses were checked and refused as wrong, want at most %d (threshold %d): %v", what, count["401 "+wrongType], limit, threshold, count)
	}
	if a := answers[right]; a != "200 " && a != "429 user_lock_limit_reached" {
		t.Errorf("%s: the right guess: %s, want 200 or the lock's 429: %v", what, a, count)
	}
	if answers[right] == "429 user_lock_limit_reached" && count["429 user_lock_limit_reached"] < len(answers)-threshold {
		t.Errorf("%s: the right guess is one of only %d 429s (an oracle): %v", what, count["429 user_lock_limit_reached"], count)
	}
}

// checkLimit is how many password hashes guesses at once may cost: the
// threshold; if the right one logged in (clearing the count, so that the
// guesses after it start a new lock period), twice that, and one more for
// a new password's hash.
func checkLimit(right string, threshold int) int64 {
	if right == "200 " {
		return int64(2*threshold + 1)
	}
	return int64(threshold)
}

func TestPasswordGuessesAtOnceAreCheckedAtMostThresholdTimes(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "pw-lock-race")
		threshold := auth.DefaultLockThreshold
		const n, right = 150, 97
		victim := email("race")
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": victim, "password": sprayRight})
		before := l.App.Service.PasswordHashes()
		answers := guessAtOnce(t, n, func(i int) resp {
			pw := fmt.Sprintf("guess-%d-%s", i, sprayRight)
			if i == right {
				pw = sprayRight
			}
			return do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": victim, "password": pw})
		})
		if hashes, limit := l.App.Service.PasswordHashes()-before, checkLimit(answers[right], threshold); hashes > limit {
			t.Errorf("%d password hashes for %d guesses at once, want at most %d (threshold %d): right guess %s", hashes, n, limit, threshold, answers[right])
		}
		noOracle(t, "authenticate", answers, right, threshold, "unauthorized_credentials")

		// existing_password/reset checks the existing password the same way.
		l.Clock.Advance(auth.DefaultLockTTL)
		victim2 := email("race-reset")
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": victim2, "password": sprayRight})
		before = l.App.Service.PasswordHashes()
		const m, right2 = 40, 31
		answers = guessAtOnce(t, m, func(i int) resp {
			pw := fmt.Sprintf("guess-%d-%s", i, sprayRight)
			if i == right2 {
				pw = sprayRight
			}
			return do(t, p, http.MethodPost, "/v1/passwords/existing_password/reset", map[string]any{"email": victim2, "existing_password": pw, "new_password": "Another-strong-passphrase-" + fmt.Sprint(i)})
		})
		if hashes, limit := l.App.Service.PasswordHashes()-before, checkLimit(answers[right2], threshold); hashes > limit {
			t.Errorf("existing_password/reset: %d password hashes for %d guesses at once, want at most %d (threshold %d): right guess %s", hashes, m, limit, threshold, answers[right2])
		}
		noOracle(t, "existing_password/reset", answers, right2, threshold, "unauthorized_credentials")
	})
}

func TestTOTPAndRecoveryCodeGuessesAtOnceAreCheckedAtMostThresholdTimes(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "totp-lock-race")
		threshold := auth.DefaultLockThreshold
		u := user(t, p, map[string]any{"email": email("totp-race")}).Str("user_id")
		r := ok(t, p, http.MethodPost, "/v1/totps", map[string]any{"user_id": u})
		key, _ := secret.TOTPEncoding.DecodeString(r.Str("secret"))
		recovery := r.Get("recovery_codes").([]any)[0].(string)
		// Verify the TOTP (its recovery codes work only then).
		ok(t, p, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": u, "totp_code": secret.TOTPCode(key, secret.TOTPStep(l.Clock.Now()))})
		l.Clock.Advance(2 * time.Minute)

		const n, right = 40, 23
		code := secret.TOTPCode(key, secret.TOTPStep(l.Clock.Now()))
		answers := guessAtOnce(t, n, func(i int) resp {
			c := wrongCode(code, i)
			if i == right {
				c = code
			}
			return do(t, p, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": u, "totp_code": c})
		})
		noOracle(t, "totps/authenticate", answers, right, threshold, "unable_to_authenticate_totp")

		l.Clock.Advance(auth.DefaultLockTTL + time.Minute)
		answers = guessAtOnce(t, n, func(i int) resp {
			c := fmt.Sprintf("zzzz-zzzz-%04d", i)
			if i == right {
				c = recovery
			}
			return do(t, p, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": u, "recovery_code": c})
		})
		noOracle(t, "totps/recover", answers, right, threshold, "unable_to_authenticate_recovery_code")
	})
}

// TestTheLockDoesNotTellWhoHasAPassword: wrong passwords for an unknown
// address, for a user without a password and for a user with one are
// answered alike: 401 up to the threshold, then 429, and again 401 once
// the lock's time has passed.
func TestTheLockDoesNotTellWhoHasAPassword(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "pw-lock-enum")
		three := 3
		if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{LockThreshold: &three}); err != nil {
			t.Fatal(err)
		}
		withPW, noPW, unknown := email("haspw"), email("nopw"), email("unknown")
		ok(t, p, http.MethodPost, "/v1/passwords", map[string]any{"email": withPW, "password": sprayRight})
		user(t, p, map[string]any{"email": noPW})
		answers := map[string][]string{}
		for _, addr := range []string{withPW, noPW, unknown} {
			for i := range 5 {
				r := do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": addr, "password": fmt.Sprintf("wrong-%d-%s", i, sprayRight)})
				attacksTried.Add(1)
				answers[addr] = append(answers[addr], fmt.Sprint(r.Status, " ", r.ErrorType(), " ", shape(r)))
			}
		}
		want := fmt.Sprint(answers[withPW])
		if fmt.Sprint(answers[noPW]) != want || fmt.Sprint(answers[unknown]) != want {
			t.Fatalf("answers differ:\nwith a password: %v\nwithout:         %v\nunknown:         %v", answers[withPW], answers[noPW], answers[unknown])
		}
		if answers[unknown][2][:3] != "401" || answers[unknown][3][:3] != "429" {
			t.Fatalf("want 401 up to the threshold of 3, then 429: %v", answers[unknown])
		}
		l.Clock.Advance(auth.DefaultLockTTL)
		for _, addr := range []string{withPW, noPW, unknown} {
			refused(t, "after the lock's time "+addr, do(t, p, http.MethodPost, "/v1/passwords/authenticate", map[string]any{"email": addr, "password": "wrong-again-" + sprayRight}),
				http.StatusUnauthorized, "unauthorized_credentials")
		}
	})
}

// TestPasscodeGuessesAtOnceAreCheckedAtMostThresholdTimes: passcodes
// share the lock's reservation; with a lock threshold below the code's own
// five tries, at most the threshold guesses sent at once are compared, and
// the right code is not told apart once the lock is reached.
func TestPasscodeGuessesAtOnceAreCheckedAtMostThresholdTimes(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "otp-lock-race")
		const threshold = 2
		two := threshold
		if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{LockThreshold: &two}); err != nil {
			t.Fatal(err)
		}
		phoneID, code := smsCode(t, l, p, phone(t))
		const n, right = auth.MaxCodeAttempts, 4
		answers := guessAtOnce(t, n, func(i int) resp {
			c := wrongCode(code, i)
			if i == right {
				c = code
			}
			return do(t, p, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": phoneID, "code": c})
		})
		count := map[string]int{}
		for _, a := range answers {
			count[a]++
		}
		limit := threshold // a right code that logs in starts a new lock period
		if answers[right] == "200 " {
			limit = 2*threshold - 1
		}
		if count["404 otp_code_not_found"] > limit {
			t.Errorf("%d passcode guesses were compared and refused as wrong, want at most %d (threshold %d): %v", count["404 otp_code_not_found"], limit, threshold, count)
		}
		if answers[right] == "429 user_lock_limit_reached" && count["429 user_lock_limit_reached"] < n-threshold {
			t.Errorf("the right code is one of only %d 429s (an oracle): %v", count["429 user_lock_limit_reached"], count)
		}
		if a := answers[right]; a != "200 " && a != "429 user_lock_limit_reached" {
			t.Errorf("the right code: %s, want 200 or the lock's 429: %v", a, count)
		}
	})
}
