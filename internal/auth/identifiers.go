package auth

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// The canonical forms of the identifiers a user is found by. Every route
// that takes an email address or a phone number (users create, update and
// search; magic links; OTPs by email, SMS and WhatsApp; invites) passes it
// through NormalizeEmail or NormalizePhone and compares only what comes
// out, so every spelling of one address or number gets the same answer.

// emailDomains maps a domain as UTS #46 says for lookup (non-transitional:
// ß stays ß), checks it (STD3 rules, hyphens, joiners, the bidi rule, DNS
// lengths) and returns its ASCII form: bücher.de, BÜCHER.de, ｂücher.de and
// xn--bcher-kva.de all come out as xn--bcher-kva.de.
var emailDomains = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
	idna.VerifyDNSLength(true),
)

// NormalizeEmail returns the canonical form of an email address, or
// invalid_email:
//
//   - surrounding ASCII white space is dropped; the rest must be valid UTF-8
//     without control, format (ZWJ, RLO, BOM, soft hyphen…), private-use,
//     unassigned, separator or other invisible characters;
//   - the address is put in Unicode NFC; a local part with a character
//     that NFC turns into ASCII (KELVIN SIGN into K) is refused;
//   - the domain (after the last @) is mapped by IDNA (UTS #46) to its
//     ASCII form, lower case;
//   - the local part is lower-cased letter by letter (JOSÉ is josé), but
//     never from non-ASCII into ASCII: a local part with a letter whose
//     lower case is ASCII (İ, whose lower case is i) is refused, and letters
//     with no such mapping (dotless ı, long s ſ) stay what they are, so no
//     non-ASCII address is ever folded onto an ASCII mailbox;
//   - the result must be a bare dot-atom address (no quotes, comments,
//     angle brackets or domain literals) of at most 64 bytes before the @
//     and 254 in all, with a dotted domain.
//
// Lengths are checked on the canonical form, never on the input.
func NormalizeEmail(raw string) (string, error) {
	s := strings.Trim(raw, asciiSpace)
	if !utf8.ValidString(s) {
		return "", ErrInvalidEmail.With("Email must be valid UTF-8.")
	}
	for _, r := range s {
		if invisible(r) {
			return "", ErrInvalidEmail.With("Email may not contain control, invisible or bidirectional characters (found U+%04X).", r)
		}
	}
	if strings.ContainsAny(s, "<>\"") {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", ErrInvalidEmail
	}
	for _, r := range s[:at] {
		if r >= utf8.RuneSelf && norm.NFC.String(string(r))[0] < utf8.RuneSelf {
			// KELVIN SIGN K is canonically K: refused rather than
			// folded onto the ASCII mailbox kelvin@.
			return "", ErrInvalidEmail.With("Email may not spell an ASCII letter with another character (found U+%04X).", r)
		}
	}
	s = norm.NFC.String(s)
	at = strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	for _, r := range local {
		if r >= utf8.RuneSelf && unicode.ToLower(r) < utf8.RuneSelf {
			return "", ErrInvalidEmail.With("Email may not spell an ASCII letter with another character (found U+%04X).", r)
		}
	}
	local = norm.NFC.String(strings.Map(unicode.ToLower, local))
	domain, err := emailDomains.ToASCII(domain)
	if err != nil || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", ErrInvalidEmail
	}
	addr := local + "@" + domain
	if len(local) > 64 || len(addr) > 254 {
		return "", ErrInvalidEmail.With("Email must be at most 64 bytes before the @ and 254 in all.")
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return "", ErrInvalidEmail
	}
	return addr, nil
}

// asciiSpace is the white space trimmed around an identifier; any other
// space is refused.
const asciiSpace = " \t\r\n"

// invisible reports a character that may not appear in an identifier: one
// that is not graphic (Cc, Cf, Co, Cs, Cn, Zl, Zp), a space separator, or
// default-ignorable (variation selectors, Hangul fillers, CGJ…).
func invisible(r rune) bool {
	return !unicode.IsGraphic(r) || unicode.In(r, unicode.Zs, unicode.Variation_Selector,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Bidi_Control, unicode.Join_Control)
}

// NormalizePhone returns a phone number in E.164, or invalid_phone_number
// (invalid_phone_number_country_code for an unknown country code). The
// number must start with + (or a fullwidth ＋) and a country code, as
// Stytch requires; after it come only decimal digits of any script
// (fullwidth, Arabic-Indic…) and the separators people write: spaces,
// dashes, dots, slashes and brackets. Letters, extensions and invisible
// characters are refused. The digits alone are then parsed and validated
// by libphonenumber, so every spelling of a number gets the same answer;
// the length check (at most 15 digits) runs on the parsed number.
func NormalizePhone(raw string) (string, error) {
	s := strings.Trim(raw, asciiSpace)
	if !utf8.ValidString(s) {
		return "", ErrInvalidPhone
	}
	rest, ok := strings.CutPrefix(s, "+")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "＋"); !ok {
			return "", ErrInvalidPhone
		}
	}
	var digits []byte
	for _, r := range rest {
		switch {
		case unicode.Is(unicode.Nd, r):
			if len(digits) > 16 { // E.164's 15, and a written trunk prefix such as +44 (0)
				return "", ErrInvalidPhone
			}
			digits = append(digits, '0'+byte(digitValue(r)))
		case r == ' ' || r == '\u00a0' || r == '\u3000' || unicode.Is(unicode.Pd, r) || strings.ContainsRune("()./（）．／", r):
		default:
			return "", ErrInvalidPhone
		}
	}
	num := "+" + string(digits)
	if num == SandboxPhone {
		return num, nil
	}
	n, err := phonenumbers.Parse(num, "")
	if err != nil {
		if errors.Is(err, phonenumbers.ErrInvalidCountryCode) {
			return "", ErrInvalidPhoneCountry
		}
		return "", ErrInvalidPhone
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalidPhone
	}
	out := phonenumbers.Format(n, phonenumbers.E164)
	if len(out) > 16 { // E.164 has at most 15 digits; libphonenumber lets some longer ones through
		return "", ErrInvalidPhone
	}
	return out, nil
}

// digitValue is the value of a decimal digit (Nd) of any script. Unicode
// encodes each script's digits as a run of ten, zero first, so the value
// is the distance from the start of the run of digits, modulo ten.
func digitValue(r rune) int {
	start := r
	for unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10
}
