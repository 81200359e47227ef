// Package secret makes and hashes the random values Latch hands out: ids,
// session and magic-link tokens, project secrets and one-time passcodes. It
// also seals data at rest under the install's master key.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// ID returns "<kind>-<env>-<uuid>", e.g. ID("user", false) = "user-test-…".
func ID(kind string, live bool) string {
	env := "test"
	if live {
		env = "live"
	}
	return kind + "-" + env + "-" + uuid.NewString()
}

// IDEnv reads the environment of an id of kind made by ID: live is true for
// "<kind>-live-…", false for "<kind>-test-…"; ok is false for anything else.
func IDEnv(kind, id string) (live, ok bool) {
	switch {
	case strings.HasPrefix(id, kind+"-live-"):
		return true, true
	case strings.HasPrefix(id, kind+"-test-"):
		return false, true
	}
	return false, false
}

// Env returns "live" or "test".
func Env(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

// SessionToken returns 33 random bytes as 44 base64url characters without
// padding, the shape of Stytch's session tokens.
func SessionToken() string {
	return base64.RawURLEncoding.EncodeToString(Bytes(33))
}

// MagicLinkToken returns 32 random bytes as 44 base64url characters with `=`
// padding, the shape of Stytch's magic-link tokens.
func MagicLinkToken() string {
	return base64.URLEncoding.EncodeToString(Bytes(32))
}

// ProjectSecret returns "secret-<env>-" followed by 32 random bytes in
// base64url (43 characters): 256 bits of entropy.
func ProjectSecret(live bool) string {
	return "secret-" + Env(live) + "-" + base64.RawURLEncoding.EncodeToString(Bytes(32))
}

// Bytes returns n bytes from crypto/rand.
func Bytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return b
}

// Hash is SHA-256, the at-rest form of tokens and secrets.
func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// OTPCode returns six decimal digits, uniform, from crypto/rand.
func OTPCode() string {
	// Rejection sampling keeps the distribution uniform.
	for {
		v := binary.BigEndian.Uint32(Bytes(4))
		if v < 4294000000 { // a multiple of 10^6
			return fmt.Sprintf("%06d", v%1000000)
		}
	}
}

// Keyring holds the keys derived from the install's 32-byte master key.
type Keyring struct {
	otp  []byte
	aead cipher.AEAD
}

// MasterKeySize is the length of a master key in bytes.
const MasterKeySize = 32

// NewKeyring derives the OTP HMAC key and the sealing key from master.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	otp, err := hkdf.Key(sha256.New, master, nil, "latch otp hmac v1", 32)
	if err != nil {
		return nil, err
	}
	sealKey, err := hkdf.Key(sha256.New, master, nil, "latch seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{otp: otp, aead: aead}, nil
}

// CodeHash is HMAC-SHA-256 of an OTP code bound to its code id, so equal
// codes of two methods never share a hash.
func (k *Keyring) CodeHash(otpID, code string) []byte {
	m := hmac.New(sha256.New, k.otp)
	m.Write([]byte(otpID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// Seal encrypts plaintext with AES-256-GCM; aad binds it to its context
// (for example the row it is stored in).
func (k *Keyring) Seal(plaintext, aad []byte) []byte {
	nonce := Bytes(k.aead.NonceSize())
	return k.aead.Seal(nonce, nonce, plaintext, aad)
}

// ErrOpen means sealed data was altered or sealed under another key.
var ErrOpen = errors.New("secret: cannot open sealed data (wrong master key?)")

// Open reverses Seal.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
