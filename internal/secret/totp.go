package secret

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238 with its defaults, as authenticator apps use
// them): HMAC-SHA-1, 6 digits, 30-second steps from the Unix epoch.
const (
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	// TOTPSecretBytes is the size of a new shared secret: 160 bits, the
	// length of an HMAC-SHA-1 key that RFC 4226 recommends.
	TOTPSecretBytes = 20
)

// TOTPEncoding is how a TOTP secret is shown: base32 without padding
// (what otpauth:// URIs and authenticator apps take).
var TOTPEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// HOTP is RFC 4226's HMAC-SHA-1 one-time password of counter, digits long.
func HOTP(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// TOTPStep is the RFC 6238 time step of t: whole periods since the epoch.
func TOTPStep(t time.Time) int64 {
	return t.Unix() / int64(TOTPPeriod/time.Second)
}

// TOTPCode is the 6-digit code of key at time step step.
func TOTPCode(key []byte, step int64) string {
	return HOTP(key, uint64(step), TOTPDigits)
}

// NewTOTPSecret returns a new random shared secret.
func NewTOTPSecret() []byte { return Bytes(TOTPSecretBytes) }

// recoveryAlphabet is the alphabet of recovery codes: lower-case letters
// and digits, as Stytch's ("ckss-2skx-ebow").
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// RecoveryCode returns a new recovery code: three groups of four
// characters of recoveryAlphabet (62 bits), joined by hyphens.
func RecoveryCode() string {
	var b strings.Builder
	// Rejection sampling keeps every character equally likely: 252 is
	// the largest multiple of 36 below 256.
	n := 0
	for n < 12 {
		for _, c := range Bytes(16) {
			if c >= 252 || n == 12 {
				continue
			}
			if n > 0 && n%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
			n++
		}
	}
	return b.String()
}

// RecoveryCodeHash is HMAC-SHA-256 of a recovery code under the install
// key, bound to its TOTP (so the same code of two TOTPs never shares a
// hash). Codes are compared in their canonical form: lower case, with
// spaces and surrounding whitespace removed.
func (k *Keyring) RecoveryCodeHash(totpID, code string) []byte {
	return k.CodeHash("totp-recovery:"+totpID, CanonicalRecoveryCode(code))
}

// CanonicalRecoveryCode is how a recovery code typed by a user is compared.
func CanonicalRecoveryCode(code string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), " ", ""))
}
