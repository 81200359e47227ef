package secret

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1 rows: the 20-byte ASCII key "1234567890…",
// 8 digits, 30-second steps.
func TestTOTPMatchesTheRFC6238TestVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step := TOTPStep(time.Unix(v.unix, 0))
		if got := HOTP(key, uint64(step), 8); got != v.code {
			t.Errorf("T=%d: got %s, want %s", v.unix, got, v.code)
		}
	}
}

// RFC 4226 Appendix D: the same key, 6 digits, counters 0–9 (the 6-digit
// codes authenticator apps show).
func TestHOTPMatchesTheRFC4226TestVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := TOTPCode(key, int64(i)); got != w {
			t.Errorf("counter %d: got %s, want %s", i, got, w)
		}
	}
}

func TestRecoveryCodesHaveStytchsShapeAndDiffer(t *testing.T) {
	shape := regexp.MustCompile(`^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$`)
	seen := map[string]bool{}
	for range 200 {
		c := RecoveryCode()
		if !shape.MatchString(c) {
			t.Fatalf("recovery code %q has the wrong shape", c)
		}
		if seen[c] {
			t.Fatalf("recovery code %q repeated", c)
		}
		seen[c] = true
	}
	// Every character equally likely: without rejection sampling a byte
	// mod 36 makes a–d (the remainders 0–3) 8/7 as likely as the rest.
	// Over 48,000 characters a fair draw gives a–d 5,333 times (σ ≈ 69);
	// the biased one about 6,000. The bound is fair + 5σ.
	ad, total := 0, 0
	for range 4000 {
		for _, r := range strings.ReplaceAll(RecoveryCode(), "-", "") {
			total++
			if r >= 'a' && r <= 'd' {
				ad++
			}
		}
	}
	if limit := total*4/36 + 5*69; ad > limit {
		t.Fatalf("a–d drawn %d times of %d characters, more than %d: the alphabet is not drawn evenly", ad, total, limit)
	}
}
