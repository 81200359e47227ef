package secret

import (
	"bytes"
	"regexp"
	"testing"
)

func TestTokensHaveStytchShapes(t *testing.T) {
	if s := SessionToken(); len(s) != 44 || !regexp.MustCompile(`^[A-Za-z0-9_-]{44}$`).MatchString(s) {
		t.Fatalf("session token %q is not 44 base64url chars", s)
	}
	if s := MagicLinkToken(); len(s) != 44 || s[43] != '=' {
		t.Fatalf("magic link token %q is not 44 padded base64url chars", s)
	}
	if s := ProjectSecret(false); !regexp.MustCompile(`^secret-test-[A-Za-z0-9_-]{43}$`).MatchString(s) {
		t.Fatalf("secret %q", s)
	}
	if s := ID("user", true); !regexp.MustCompile(`^user-live-[0-9a-f-]{36}$`).MatchString(s) {
		t.Fatalf("id %q", s)
	}
}

func TestOTPCodesAreSixDigitsAndVary(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := OTPCode()
		if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(c) {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
}

func TestSealedDataOpensOnlyWithTheSameKeyAndContext(t *testing.T) {
	k1, _ := NewKeyring(bytes.Repeat([]byte{1}, 32))
	k2, _ := NewKeyring(bytes.Repeat([]byte{2}, 32))
	sealed := k1.Seal([]byte("hello"), []byte("row-1"))
	if bytes.Contains(sealed, []byte("hello")) {
		t.Fatal("plaintext visible in sealed data")
	}
	if pt, err := k1.Open(sealed, []byte("row-1")); err != nil || string(pt) != "hello" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k1.Open(sealed, []byte("row-2")); err == nil {
		t.Fatal("opened under another context")
	}
	if _, err := k2.Open(sealed, []byte("row-1")); err == nil {
		t.Fatal("opened under another key")
	}
	if bytes.Equal(k1.CodeHash("otp-1", "123456"), k1.CodeHash("otp-2", "123456")) {
		t.Fatal("code hash not bound to its id")
	}
	if bytes.Equal(k1.CodeHash("otp-1", "123456"), k2.CodeHash("otp-1", "123456")) {
		t.Fatal("code hash not keyed")
	}
}
