package auth_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/latch-auth/latch/internal/auth"
)

// Seed corpora: testdata/fuzz/FuzzNormalizeEmail, testdata/fuzz/FuzzNormalizePhone.
// scripts/fuzz runs each target for a bounded time.

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// FuzzNormalizePhone: any input either is refused with invalid_phone_number
// or invalid_phone_number_country_code, or comes out as E.164 (a plus and at
// most 15 digits) that normalizes to itself.
func FuzzNormalizePhone(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		out, err := auth.NormalizePhone(in)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidPhone) && !errors.Is(err, auth.ErrInvalidPhoneCountry) {
				t.Fatalf("NormalizePhone(%q): unexpected error %v", in, err)
			}
			if out != "" {
				t.Fatalf("NormalizePhone(%q) returned %q with an error", in, out)
			}
			return
		}
		if !e164.MatchString(out) && out != auth.SandboxPhone {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", in, out)
		}
		again, err := auth.NormalizePhone(out)
		if err != nil || again != out {
			t.Fatalf("NormalizePhone(%q) = %q, which normalizes to %q, %v", in, out, again, err)
		}
	})
}

// FuzzNormalizeEmail: any input either is refused with invalid_email, or
// comes out as an address of at most 254 bytes of valid NFC UTF-8 without
// ASCII capitals, with one @ before a dotted ASCII domain, no space, NUL,
// CR, LF, quote or angle bracket, that normalizes to itself.
func FuzzNormalizeEmail(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		out, err := auth.NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidEmail) {
				t.Fatalf("NormalizeEmail(%q): unexpected error %v", in, err)
			}
			return
		}
		switch {
		case len(out) > 254:
			t.Fatalf("NormalizeEmail(%q) = %d bytes", in, len(out))
		case !utf8.ValidString(out):
			t.Fatalf("NormalizeEmail(%q) = %q, not UTF-8", in, out)
		case strings.ContainsAny(out, " \x00\r\n\"<>"):
			t.Fatalf("NormalizeEmail(%q) = %q holds a forbidden character", in, out)
		case strings.ContainsAny(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
			t.Fatalf("NormalizeEmail(%q) = %q, not lower case", in, out)
		case !norm.NFC.IsNormalString(out):
			t.Fatalf("NormalizeEmail(%q) = %q, not NFC", in, out)
		}
		at := strings.LastIndexByte(out, '@')
		for _, b := range []byte(out[at+1:]) {
			if b >= utf8.RuneSelf {
				t.Fatalf("NormalizeEmail(%q) = %q, domain not ASCII", in, out)
			}
		}
		if at <= 0 || !strings.Contains(out[at+1:], ".") || strings.HasSuffix(out, ".") {
			t.Fatalf("NormalizeEmail(%q) = %q, not local@domain.tld", in, out)
		}
		again, err := auth.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeEmail(%q) = %q, which normalizes to %q, %v", in, out, again, err)
		}
	})
}
