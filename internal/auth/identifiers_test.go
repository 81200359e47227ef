package auth_test

import (
	"errors"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

// TestEverySpellingOfAnAddressHasOneCanonicalForm lists spellings of
// email addresses and phone numbers with the one form each is stored,
// compared and searched in, or the error it is refused with.
func TestEverySpellingOfAnAddressHasOneCanonicalForm(t *testing.T) {
	emails := []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"Alice@Example.COM", "alice@example.com"},
		{"  alice@example.com\t", "alice@example.com"},
		{"alice@ｅxample.com", "alice@example.com"},          // fullwidth e in the domain: UTS #46 maps it
		{"alice@ＥＸＡＭＰＬＥ.ｃｏｍ", "alice@example.com"},          // fullwidth capitals
		{"alice@example。com", "alice@example.com"},          // ideographic full stop is a label separator
		{"hans@bücher.de", "hans@xn--bcher-kva.de"},         // IDN domain: its ASCII form
		{"hans@BÜCHER.de", "hans@xn--bcher-kva.de"},         // mapped to lower case
		{"hans@xn--bcher-kva.de", "hans@xn--bcher-kva.de"},  // already ASCII
		{"hans@XN--BCHER-KVA.DE", "hans@xn--bcher-kva.de"},  // A-label in capitals
		{"hans@bu\u0308cher.de", "hans@xn--bcher-kva.de"},   // decomposed ü (NFD)
		{"hans@straße.de", "hans@xn--strae-oqa.de"},         // non-transitional: ß stays ß
		{"jos\u00e9@example.com", "jos\u00e9@example.com"},  // NFC é
		{"jose\u0301@example.com", "jos\u00e9@example.com"}, // NFD é composes to the same address
		{"JOSÉ@example.com", "josé@example.com"},            // lower case, letter by letter
		{"ΣΩΚΡΆΤΗΣ@example.gr", "σωκράτησ@example.gr"},      // lower case, letter by letter
		{"\u212aelvin@example.com", "invalid_email"},        // KELVIN SIGN is canonically K: refused, not folded onto kelvin@
		{"d\u0131ck@example.com", "d\u0131ck@example.com"},  // dotless ı: not folded onto dick@
		{"\u017fam@example.com", "\u017fam@example.com"},    // long s: not folded onto sam@
		{"İstanbul@example.com", "invalid_email"},           // dotted capital I: its lower case is ASCII i
		{"I\u0307stanbul@example.com", "invalid_email"},     // the same, decomposed
		{"first.last+tag@example.co.uk", "first.last+tag@example.co.uk"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"a@b.co", "a@b.co"},
		{"a;b\u037e@example.com", "invalid_email"},   // GREEK QUESTION MARK is canonically ;
		{"ZWJ\u200d@example.com", "invalid_email"},   // zero-width joiner
		{"alice\u202e@example.com", "invalid_email"}, // right-to-left override
		{"\ufeffalice@example.com", "invalid_email"}, // byte-order mark
		{"al\u00adice@example.com", "invalid_email"}, // soft hyphen (UTS #46 would drop it)
		{"alice@exam\u00adple.com", "invalid_email"}, // soft hyphen in the domain
		{"alice@exa\u200bmple.com", "invalid_email"}, // zero-width space in the domain
		{"alice\u034f@example.com", "invalid_email"}, // combining grapheme joiner
		{"alice\ufe0f@example.com", "invalid_email"}, // variation selector
		{"\u3164@example.com", "invalid_email"},      // Hangul filler
		{"alice\u00a0@example.com", "invalid_email"}, // no-break space inside
		{"ali\x01ce@example.com", "invalid_email"},   // control character
		{"alice@example.com\u2028", "invalid_email"}, // line separator
		{"ali\xffce@example.com", "invalid_email"},   // invalid UTF-8
		{"alice@exam_ple.com", "invalid_email"},      // STD3: no underscore in host names
		{"alice@-example.com", "invalid_email"},      // hyphen first in a label
		{"alice@example", "invalid_email"},
		{"alice@example.com.", "invalid_email"},
		{"\"alice smith\"@example.com", "invalid_email"},
		{"alice@[127.0.0.1]", "invalid_email"},
		{"Alice <alice@example.com>", "invalid_email"},
		{"alice..smith@example.com", "invalid_email"},
		{"@example.com", "invalid_email"},
	}
	for _, c := range emails {
		got, err := auth.NormalizeEmail(c.in)
		if c.want == "invalid_email" {
			if !errors.Is(err, auth.ErrInvalidEmail) {
				t.Errorf("NormalizeEmail(%+q) = %+q, %v; want invalid_email", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizeEmail(%+q) = %+q, %v; want %+q", c.in, got, err, c.want)
		}
	}

	phones := []struct{ in, want string }{
		{"+14155552799", "+14155552799"},
		{"+1 415 555 2799", "+14155552799"},
		{"+1 (415) 555-2799", "+14155552799"},
		{"+1 (415) - 555 - 2799", "+14155552799"}, // 21 bytes: refused by byte count before
		{"+1.415.555.2799", "+14155552799"},
		{"+1/415/555/2799", "+14155552799"},
		{"  +14155552799  ", "+14155552799"},
		{"+1\u00a0415\u00a0555\u00a02799", "+14155552799"},                                      // no-break spaces
		{"+1\u2011415\u2011555\u20112799", "+14155552799"},                                      // non-breaking hyphens
		{"＋１ ４１５ ５５５ ２７９９", "+14155552799"},                                                     // fullwidth plus and digits
		{"+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0662\u0667\u0669\u0669", "+14155552799"}, // Arabic-Indic
		{"+\u06f1\u06f4\u06f1\u06f5\u06f5\u06f5\u06f5\u06f2\u06f7\u06f9\u06f9", "+14155552799"}, // Extended Arabic-Indic
		{"+\u0967\u096a\u0967\u096b\u096b\u096b\u096b\u0968\u096d\u096f\u096f", "+14155552799"}, // Devanagari
		{"+44 20 7946 0958", "+442079460958"},
		{"+44 (0)20 7946 0958", "+442079460958"}, // the written trunk prefix
		{"+33 6 12 34 56 78", "+33612345678"},
		{"+10000000000", "+10000000000"},    // the sandbox number
		{"+1 000 000 0000", "+10000000000"}, // the sandbox number, spelt out
		{"14155552799", "invalid_phone_number"},
		{"+1 415 555 2799 ext. 12", "invalid_phone_number"},
		{"+1-800-FLOWERS", "invalid_phone_number"},
		{"+1415555\u200b2799", "invalid_phone_number"}, // zero-width space
		{"+1415555\u202e2799", "invalid_phone_number"}, // right-to-left override
		{"+1 415 555 27", "invalid_phone_number"},
		{"+1415555279912345678", "invalid_phone_number"},
		{"+999 415 555 2799", "invalid_phone_number_country_code"},
		{"+", "invalid_phone_number"},
		{"+1 415 555 2799\xff", "invalid_phone_number"},
	}
	for _, c := range phones {
		got, err := auth.NormalizePhone(c.in)
		switch c.want {
		case "invalid_phone_number", "invalid_phone_number_country_code":
			if e, ok := auth.AsError(err); !ok || e.Type != c.want {
				t.Errorf("NormalizePhone(%+q) = %+q, %v; want %s", c.in, got, err, c.want)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizePhone(%+q) = %+q, %v; want %+q", c.in, got, err, c.want)
		}
	}
	if n := len(emails) + len(phones); n < 40 {
		t.Fatalf("only %d spellings", n)
	}
}
