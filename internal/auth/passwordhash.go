package auth

import (
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/latch-auth/latch/internal/secret"
)

// Argon2id parameters for new hashes: OWASP's Password Storage Cheat
// Sheet's first choice (m = 19 MiB, t = 2, p = 1). They are written into
// every hash (PHC form), so raising them later leaves old hashes readable;
// a hash with weaker parameters than these is re-hashed at its next
// successful login.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
	// maxPasswordBytes bounds what is hashed (bcrypt's own limit is 72).
	maxPasswordBytes = 256
	// Bounds on a migrated hash's parameters, so that one migrate cannot
	// make every later login of that user cost unbounded memory or time.
	maxMigratedMemoryKiB = 256 * 1024
	maxMigratedTime      = 16
	maxMigratedIter      = 2_000_000
	// maxBcryptCost: cost 14 is 2^14 rounds, about a second of one core
	// per login; bcrypt allows 31 (hours).
	maxBcryptCost = 14
	// maxScryptBytes bounds scrypt's 128·N·r·p: its memory (128·N·r) and,
	// with p, its work; the README's 256 MiB.
	maxScryptBytes = 256 << 20
)

// passwordHasher runs the hash computations: at most cap(sem) at once, so
// that a spray of logins costs at most cap(sem) × 19 MiB of memory (the
// rest wait their turn, up to the request's deadline). hashes counts every
// computation, real or dummy: the attack suite compares counts, not clocks.
type passwordHasher struct {
	sem    chan struct{}
	hashes atomic.Int64
	argons atomic.Int64 // Argon2id computations at today's parameters or more
}

func newPasswordHasher() *passwordHasher {
	n := runtime.GOMAXPROCS(0)
	if n < 2 {
		n = 2
	}
	return &passwordHasher{sem: make(chan struct{}, n)}
}

// PasswordHashes is the number of password hash computations this
// service has made (including the dummy ones for unknown addresses).
func (s *Service) PasswordHashes() int64 { return s.passwords.hashes.Load() }

// Argon2idComputations is the number of Argon2id computations at today's
// parameters (or stronger) this service has made, real or dummy: every
// password check makes at least one (the floor that hides a cheap
// migrated hash).
func (s *Service) Argon2idComputations() int64 { return s.passwords.argons.Load() }

// run runs one hash computation under the semaphore, and counts it.
func (h *passwordHasher) run(ctx context.Context, f func()) error {
	return h.bounded(ctx, func() {
		h.hashes.Add(1)
		f()
	})
}

// bounded runs f (a hash, or zxcvbn's scoring) under the semaphore.
func (h *passwordHasher) bounded(ctx context.Context, f func()) error {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w (waiting to check a password: %v)", ErrServiceUnavailable.With("The server is busy checking passwords. Try again shortly."), ctx.Err())
	}
	defer func() { <-h.sem }()
	f()
	return nil
}

// hash returns password's Argon2id hash in PHC form.
func (h *passwordHasher) hash(ctx context.Context, password string) (string, error) {
	salt := secret.Bytes(argonSaltLen)
	var key []byte
	if err := h.run(ctx, func() {
		key = argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
		h.argons.Add(1)
	}); err != nil {
		return "", err
	}
	return encodeArgon("argon2id", argonMemoryKiB, argonTime, argonThreads, salt, key), nil
}

func encodeArgon(variant string, m, t uint32, p uint8, salt, key []byte) string {
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", variant, argon2.Version, m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// dummyHash is what an unknown address's login is checked against: the
// same Argon2id work as a real password's.
var dummyHash = encodeArgon("argon2id", argonMemoryKiB, argonTime, argonThreads, make([]byte, argonSaltLen), make([]byte, argonKeyLen))

// verify checks password against a stored hash: ok when it matches, and
// rehash when the hash is not Argon2id with today's parameters. Every
// check costs at least one Argon2id computation at today's parameters: a
// hash that is cheaper (a migrated md_5, a low-cost bcrypt, a weak
// Argon2) is checked and the dummy Argon2id is run too, so that such an
// account does not answer faster than an unknown address (whose check is
// the dummy). A hash that costs more than the dummy still costs more.
func (h *passwordHasher) verify(ctx context.Context, stored, password string) (ok, rehash bool, err error) {
	var match bool
	switch {
	case strings.HasPrefix(stored, "$argon2"):
		a, perr := parseArgon(stored)
		if perr != nil {
			// A stored hash that does not parse is Latch's fault, not the
			// caller's: an internal error (500), not the 400 of a migrate.
			return false, false, fmt.Errorf("stored password hash: %v", perr)
		}
		full := a.variant == "argon2id" && a.m >= argonMemoryKiB && a.t >= argonTime && a.p >= argonThreads
		err = h.run(ctx, func() {
			match = a.matches(password)
			if full {
				h.argons.Add(1)
			}
		})
		rehash = a.variant != "argon2id" || a.m < argonMemoryKiB || a.t < argonTime || len(a.key) < argonKeyLen
		if err == nil && !full {
			err = h.floor(ctx, password)
		}
		return match, rehash, err
	case strings.HasPrefix(stored, migratedPrefix):
		var mh migratedHash
		if jerr := json.Unmarshal([]byte(strings.TrimPrefix(stored, migratedPrefix)), &mh); jerr != nil {
			return false, false, fmt.Errorf("password hash: %w", jerr)
		}
		// Re-checked here too, for rows stored before the bounds.
		if cerr := mh.check(); cerr != nil {
			return false, false, fmt.Errorf("stored password hash: %v", cerr)
		}
		err = h.run(ctx, func() { match = mh.matches(password) })
		if err == nil {
			err = h.floor(ctx, password)
		}
		return match, true, err
	}
	return false, false, errors.New("password hash: unknown form")
}

// floor runs the dummy Argon2id computation (its answer unused).
func (h *passwordHasher) floor(ctx context.Context, password string) error {
	a, err := parseArgon(dummyHash)
	if err != nil {
		return err
	}
	return h.run(ctx, func() {
		a.matches(password)
		h.argons.Add(1)
	})
}

// argonHash is a parsed PHC Argon2 string.
type argonHash struct {
	variant   string // argon2id | argon2i
	m, t      uint32
	p         uint8
	salt, key []byte
}

func parseArgon(s string) (argonHash, error) {
	// $argon2id$v=19$m=19456,t=2,p=1$salt$key
	parts := strings.Split(s, "$")
	bad := ErrBadRequest.With("The argon2 hash is not in the PHC form $argon2id$v=19$m=…,t=…,p=…$salt$hash.")
	if len(parts) != 6 || parts[0] != "" || (parts[1] != "argon2id" && parts[1] != "argon2i") || parts[2] != "v=19" {
		return argonHash{}, bad
	}
	a := argonHash{variant: parts[1]}
	var p uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &a.m, &a.t, &p); err != nil || p == 0 || p > 255 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", a.m, a.t, p) != parts[3] {
		// Strict: the parameters exactly as Latch writes them, nothing after.
		return argonHash{}, bad
	}
	a.p = uint8(p)
	var err1, err2 error
	a.salt, err1 = decodeB64(parts[4])
	a.key, err2 = decodeB64(parts[5])
	if err1 != nil || err2 != nil || len(a.key) < 16 || len(a.salt) < 8 {
		return argonHash{}, bad
	}
	return a, a.check()
}

func (a argonHash) check() error {
	if a.m < 8*uint32(a.p) || a.m > maxMigratedMemoryKiB || a.t < 1 || a.t > maxMigratedTime || len(a.key) > 128 {
		return ErrBadRequest.With("The argon2 parameters are out of range (memory at most %d KiB, iterations 1–%d).", maxMigratedMemoryKiB, maxMigratedTime)
	}
	return nil
}

func (a argonHash) matches(password string) bool {
	var got []byte
	if a.variant == "argon2i" {
		got = argon2.Key([]byte(password), a.salt, a.t, a.m, a.p, uint32(len(a.key)))
	} else {
		got = argon2.IDKey([]byte(password), a.salt, a.t, a.m, a.p, uint32(len(a.key)))
	}
	return subtle.ConstantTimeCompare(got, a.key) == 1
}

// decodeB64 reads standard base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// migratedPrefix marks a hash given to passwords/migrate in a form that
// is not PHC or bcrypt: the rest is a migratedHash in JSON.
const migratedPrefix = "migrated:"

// migratedHash is a hash from another system with what checking it needs.
type migratedHash struct {
	Type      string `json:"type"` // md_5 | sha_1 | sha_512 | scrypt | pbkdf_2 | bcrypt
	Hash      []byte `json:"hash"`
	Salt      []byte `json:"salt,omitempty"`
	Prepend   string `json:"prepend,omitempty"`
	Append    string `json:"append,omitempty"`
	N         int    `json:"n,omitempty"`
	R         int    `json:"r,omitempty"`
	P         int    `json:"p,omitempty"`
	Iter      int    `json:"iter,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Bcrypt    string `json:"bcrypt,omitempty"`
}

// check bounds a migrated hash's cost (at migrate, and again before each
// check): bcrypt cost at most maxBcryptCost, scrypt's 128·N·r·p at most
// maxScryptBytes, pbkdf2 at most maxMigratedIter iterations.
func (m migratedHash) check() error {
	switch m.Type {
	case "bcrypt":
		cost, err := bcrypt.Cost([]byte(m.Bcrypt))
		if err != nil {
			return ErrBadRequest.With("The bcrypt hash is not valid.")
		}
		if cost > maxBcryptCost {
			return ErrBadRequest.With("The bcrypt cost %d is too high: at most %d.", cost, maxBcryptCost)
		}
	case "scrypt":
		if m.N < 2 || m.N&(m.N-1) != 0 || m.R < 1 || m.P < 1 || m.N > maxScryptBytes || m.R > maxScryptBytes || m.P > maxScryptBytes ||
			128*int64(m.N)*int64(m.R)*int64(m.P) > maxScryptBytes {
			return ErrBadRequest.With("scrypt_config is out of range: n a power of two, 128·n·r·p at most %d MiB.", maxScryptBytes>>20)
		}
	case "pbkdf_2":
		if m.Iter < 1 || m.Iter > maxMigratedIter || pbkdf2Hash(m.Algorithm) == nil {
			return ErrBadRequest.With("pbkdf_2_config is out of range: iteration_amount at most %d (and at least 1).", maxMigratedIter)
		}
	}
	return nil
}

func (m migratedHash) matches(password string) bool {
	var got []byte
	switch m.Type {
	case "bcrypt":
		return bcrypt.CompareHashAndPassword([]byte(m.Bcrypt), []byte(password)) == nil
	case "md_5":
		sum := md5.Sum([]byte(m.Prepend + password + m.Append))
		got = sum[:]
	case "sha_1":
		sum := sha1.Sum([]byte(m.Prepend + password + m.Append))
		got = sum[:]
	case "sha_512":
		sum := sha512.Sum512([]byte(m.Prepend + password + m.Append))
		got = sum[:]
	case "scrypt":
		var err error
		if got, err = scrypt.Key([]byte(password), m.Salt, m.N, m.R, m.P, len(m.Hash)); err != nil {
			return false
		}
	case "pbkdf_2":
		var err error
		if got, err = pbkdf2.Key(pbkdf2Hash(m.Algorithm), password, m.Salt, m.Iter, len(m.Hash)); err != nil {
			return false
		}
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, m.Hash) == 1
}

func pbkdf2Hash(alg string) func() hash.Hash {
	switch strings.ReplaceAll(strings.ToLower(alg), "-", "") {
	case "sha1":
		return sha1.New
	case "sha512":
		return sha512.New
	case "sha256", "":
		return sha256.New
	}
	return nil
}

// MigrateHashRequest is the hash part of POST /v1/passwords/migrate.
type MigrateHashRequest struct {
	Hash      string `json:"hash"`
	HashType  string `json:"hash_type"`
	MD5Config *struct {
		PrependSalt string `json:"prepend_salt"`
		AppendSalt  string `json:"append_salt"`
	} `json:"md_5_config"`
	SHA1Config *struct {
		PrependSalt string `json:"prepend_salt"`
		AppendSalt  string `json:"append_salt"`
	} `json:"sha_1_config"`
	SHA512Config *struct {
		PrependSalt string `json:"prepend_salt"`
		AppendSalt  string `json:"append_salt"`
	} `json:"sha_512_config"`
	Argon2Config *struct {
		Salt            string `json:"salt"`
		IterationAmount int    `json:"iteration_amount"`
		Memory          int    `json:"memory"`
		Threads         int    `json:"threads"`
		KeyLength       int    `json:"key_length"`
	} `json:"argon_2_config"`
	ScryptConfig *struct {
		Salt       string `json:"salt"`
		NParameter int    `json:"n_parameter"`
		RParameter int    `json:"r_parameter"`
		PParameter int    `json:"p_parameter"`
		KeyLength  int    `json:"key_length"`
	} `json:"scrypt_config"`
	PBKDF2Config *struct {
		Salt            string `json:"salt"`
		IterationAmount int    `json:"iteration_amount"`
		KeyLength       int    `json:"key_length"`
		Algorithm       string `json:"algorithm"`
	} `json:"pbkdf_2_config"`
}

// storedHash validates a migrated hash and returns the form it is stored
// in: PHC for argon2, otherwise migratedPrefix + JSON.
func (r MigrateHashRequest) storedHash() (string, error) {
	if r.Hash == "" {
		return "", ErrBadRequest.With("hash is required.")
	}
	if len(r.Hash) > 1024 {
		return "", ErrBadRequest.With("hash is too long.")
	}
	m := migratedHash{Type: r.HashType}
	hexHash := func() error {
		b, err := hex.DecodeString(strings.ToLower(r.Hash))
		if err != nil {
			return ErrBadRequest.With("The %s hash must be hex.", r.HashType)
		}
		m.Hash = b
		return nil
	}
	var err error
	switch r.HashType {
	case "bcrypt":
		m.Bcrypt = r.Hash
		if err := m.check(); err != nil {
			return "", err
		}
	case "md_5", "sha_1", "sha_512":
		if err = hexHash(); err != nil {
			return "", err
		}
		want := map[string]int{"md_5": md5.Size, "sha_1": sha1.Size, "sha_512": sha512.Size}[r.HashType]
		if len(m.Hash) != want {
			return "", ErrBadRequest.With("The %s hash must be %d hex digits.", r.HashType, 2*want)
		}
		switch {
		case r.HashType == "md_5" && r.MD5Config != nil:
			m.Prepend, m.Append = r.MD5Config.PrependSalt, r.MD5Config.AppendSalt
		case r.HashType == "sha_1" && r.SHA1Config != nil:
			m.Prepend, m.Append = r.SHA1Config.PrependSalt, r.SHA1Config.AppendSalt
		case r.HashType == "sha_512" && r.SHA512Config != nil:
			m.Prepend, m.Append = r.SHA512Config.PrependSalt, r.SHA512Config.AppendSalt
		}
	case "argon_2i", "argon_2id":
		variant := strings.ReplaceAll(r.HashType, "_", "")
		if strings.HasPrefix(r.Hash, "$") {
			a, err := parseArgon(r.Hash)
			if err != nil {
				return "", err
			}
			if a.variant != variant {
				return "", ErrBadRequest.With("The hash is %s, not %s.", a.variant, variant)
			}
			return r.Hash, nil
		}
		c := r.Argon2Config
		if c == nil {
			return "", ErrBadRequest.With("argon_2_config is required unless the hash is in PHC form.")
		}
		key, kerr := decodeB64(r.Hash)
		if kerr != nil {
			return "", ErrBadRequest.With("The argon2 hash must be base64 (or PHC form).")
		}
		if c.KeyLength != len(key) {
			return "", newErr(400, "argon_2_key_length_mismatch", "The key_length value doesn't match the length of the provided hash.")
		}
		if c.Threads < 1 || c.Threads > 255 || c.Memory < 1 || c.IterationAmount < 1 || c.Salt == "" {
			return "", ErrBadRequest.With("argon_2_config needs a salt, and memory, threads and iteration_amount above 0.")
		}
		if c.Memory > maxMigratedMemoryKiB || c.IterationAmount > maxMigratedTime {
			return "", argonHash{m: maxMigratedMemoryKiB + 1}.check()
		}
		a := argonHash{variant: variant, m: uint32(c.Memory), t: uint32(c.IterationAmount), p: uint8(c.Threads), salt: []byte(c.Salt), key: key}
		stored := encodeArgon(variant, a.m, a.t, a.p, a.salt, a.key)
		// The stored form is what every login parses: parse it now, so a
		// hash that could never be checked is a 400 here, not a 500 there.
		if _, err := parseArgon(stored); err != nil {
			return "", ErrBadRequest.With("argon_2_config is out of range: a salt of at least 8 bytes, a key of 16–128 bytes, memory at least 8 KiB per thread and at most %d KiB, iterations 1–%d.", maxMigratedMemoryKiB, maxMigratedTime)
		}
		return stored, nil
	case "scrypt":
		c := r.ScryptConfig
		if c == nil {
			return "", ErrBadRequest.With("scrypt_config is required for scrypt.")
		}
		m.Hash, err = base64.StdEncoding.DecodeString(r.Hash)
		if err != nil {
			return "", ErrBadRequest.With("The scrypt hash must be base64.")
		}
		if m.Salt, err = base64.StdEncoding.DecodeString(c.Salt); err != nil {
			return "", ErrBadRequest.With("scrypt_config.salt must be base64.")
		}
		if c.KeyLength != len(m.Hash) || c.KeyLength < 1 {
			return "", ErrBadRequest.With("scrypt_config.key_length must be the hash's length.")
		}
		m.N, m.R, m.P = c.NParameter, c.RParameter, c.PParameter
		if err := m.check(); err != nil {
			return "", err
		}
	case "pbkdf_2":
		c := r.PBKDF2Config
		if c == nil {
			return "", ErrBadRequest.With("pbkdf_2_config is required for pbkdf_2.")
		}
		m.Hash, err = base64.StdEncoding.DecodeString(r.Hash)
		if err != nil {
			return "", ErrBadRequest.With("The pbkdf_2 hash must be base64.")
		}
		if m.Salt, err = base64.StdEncoding.DecodeString(c.Salt); err != nil {
			return "", ErrBadRequest.With("pbkdf_2_config.salt must be base64.")
		}
		if pbkdf2Hash(c.Algorithm) == nil {
			return "", ErrBadRequest.With("pbkdf_2_config.algorithm must be sha1, sha256 or sha512.")
		}
		if c.KeyLength != len(m.Hash) || c.KeyLength < 1 {
			return "", ErrBadRequest.With("pbkdf_2_config.key_length must be the hash's length.")
		}
		m.Iter, m.Algorithm = c.IterationAmount, c.Algorithm
		if err := m.check(); err != nil {
			return "", err
		}
	default:
		return "", ErrBadRequest.With("hash_type %s is not supported: use bcrypt, md_5, sha_1, sha_512, argon_2i, argon_2id, scrypt or pbkdf_2.", strconv.Quote(r.HashType))
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return migratedPrefix + string(b), nil
}
