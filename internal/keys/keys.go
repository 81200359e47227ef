// Package keys holds each project's RSA signing keys: it makes and rotates
// them, publishes their public halves as a JWKS, and mints and verifies the
// session JWTs signed with them.
//
// Private keys rest in the store sealed under the install's master key, bound
// to their kid. Keys are read through a short per-project cache (CacheTTL), so
// a rotation made on one node is used by every node within a few seconds.
package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-auth/latch/internal/bounded"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// CacheTTL is the longest a node uses a project's keys without reading them
// again from the store. A rotation on another node is therefore picked up for
// signing within CacheTTL; a token signed with a key this node has not seen
// yet makes Verify read the store at once.
const CacheTTL = 2 * time.Second

// DefaultGrace is how long a retired key stays in the JWKS (and keeps
// verifying) when Rotate is given a grace of 0. Stytch serves old and new
// keys together for a month.
const DefaultGrace = 30 * 24 * time.Hour

// keyBits is the size of the RSA keys made by NewKey.
const keyBits = 2048

// certLifetime is the validity of the self-signed certificate served in x5c.
// Nothing checks it (jose ignores x5c), but a plausible value avoids
// surprising tools that do.
const certLifetime = 20 * 365 * 24 * time.Hour

// KeyStore is what Keys needs of the store: its signing-key rows, and a
// transaction for a rotation (store.Store satisfies it).
type KeyStore interface {
	KeyWriter
	ListSigningKeys(ctx context.Context, projectID string, now time.Time) ([]store.SigningKey, error)
	InTx(ctx context.Context, fn func(tx store.Store) error) error
}

// KeyWriter adds a key: a store, or a transaction making a project.
type KeyWriter interface {
	AddSigningKey(ctx context.Context, k store.SigningKey) error
}

// Keys signs and verifies session JWTs with the projects' keys. It is safe
// for concurrent use.
type Keys struct {
	st   KeyStore
	ring *secret.Keyring
	now  func() time.Time

	mu      sync.RWMutex
	cache   map[string]*projectKeys // by project id
	loading map[string]*loadCall    // in-flight store reads, by project id
	loads   int                     // store reads so far, for sweeping the cache

	verified *bounded.Map[[32]byte, verifiedJWT] // JWTs Verify has checked (newVerifiedCache)
	minted   *bounded.Map[[32]byte, mintedJWT]   // JWTs Sign has just minted (newMintedCache)

	signatures atomic.Int64
}

// New returns a Keys reading keys from st, unsealing them with ring, and
// taking the time from now (time.Now when nil).
func New(st KeyStore, ring *secret.Keyring, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{
		st:       st,
		ring:     ring,
		now:      now,
		cache:    make(map[string]*projectKeys),
		loading:  make(map[string]*loadCall),
		verified: newVerifiedCache(),
		minted:   newMintedCache(),
	}
}

// NewKey makes a project's signing key and stores it through st, which may
// be a transactional store so that the key is created with its project. A nil
// st means the store given to New. The key has kid "jwk-<env>-<uuid>", a
// self-signed certificate for x5c, and its PKCS#8 DER sealed under the master
// key with the kid as associated data.
//
// NewKey does not retire existing keys: the newest unretired key signs. Use
// Rotate to replace a project's key.
func (k *Keys) NewKey(ctx context.Context, st KeyWriter, projectID string, live bool) (store.SigningKey, error) {
	sk, err := k.Generate(projectID, live)
	if err != nil {
		return store.SigningKey{}, err
	}
	return sk, k.AddKey(ctx, st, sk)
}

// AddKey stores a key made by Generate through st (nil: the store given to
// New).
func (k *Keys) AddKey(ctx context.Context, st KeyWriter, sk store.SigningKey) error {
	if st == nil {
		st = k.st
	}
	if err := st.AddSigningKey(ctx, sk); err != nil {
		return fmt.Errorf("keys: store new key: %w", err)
	}
	k.Invalidate(sk.ProjectID)
	return nil
}

// DefaultLead is how long `latch keys rotate` publishes a new key in the
// JWKS before signing with it. jose (inside Stytch's Node SDK) keeps a
// fetched JWKS for up to 10 minutes (cacheMaxAge) and refetches one for an
// unknown kid only after a 30 s cooldown: with a 10-minute lead every
// verifier's cached set is either fetched after the rotation (and holds the
// new key) or stale by the time the new key signs (and is fetched again),
// so no verifier ever meets a kid it does not know.
const DefaultLead = 10 * time.Minute

// Rotate replaces the project's key at once: the new key signs on this node
// now and on every other node within CacheTTL. It is RotateWithLead with no
// lead (`latch keys rotate --now`, for a key thought compromised).
func (k *Keys) Rotate(ctx context.Context, projectID string, live bool, grace time.Duration) (store.SigningKey, error) {
	return k.RotateWithLead(ctx, projectID, live, 0, grace)
}

// RotateWithLead adds a new key to the project, in the JWKS at once, and
// makes it sign from now + lead on every node; the keys signing until then
// retire at that instant. Retired keys stay in the JWKS, and keep
// verifying, for grace after they retire (DefaultGrace when grace is 0).
// The switch needs no message between nodes: each node reads the key's
// start time with the keys and compares it with its own clock.
func (k *Keys) RotateWithLead(ctx context.Context, projectID string, live bool, lead, grace time.Duration) (store.SigningKey, error) {
	if grace < 0 {
		return store.SigningKey{}, fmt.Errorf("keys: negative grace %v", grace)
	}
	if lead < 0 {
		return store.SigningKey{}, fmt.Errorf("keys: negative lead %v", lead)
	}
	if grace == 0 {
		grace = DefaultGrace
	}
	// Generate before the transaction: RSA key generation takes tens of
	// milliseconds, too long to hold a write lock for.
	sk, err := k.Generate(projectID, live)
	if err != nil {
		return store.SigningKey{}, err
	}
	switchAt := sk.CreatedAt.Add(lead)
	sk.ActiveAt = switchAt
	err = k.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.RetireSigningKeys(ctx, projectID, switchAt, switchAt.Add(grace)); err != nil {
			return fmt.Errorf("keys: retire keys: %w", err)
		}
		if err := tx.AddSigningKey(ctx, sk); err != nil {
			return fmt.Errorf("keys: store new key: %w", err)
		}
		return nil
	})
	k.Invalidate(projectID)
	if err != nil {
		return store.SigningKey{}, err
	}
	return sk, nil
}

// Generate makes a new RSA key and its certificate, sealed and ready to
// store, as NewKey does, without storing it: RSA key generation takes tens
// of milliseconds, which a caller keeps out of its transaction by generating
// first and storing with AddKey inside.
func (k *Keys) Generate(projectID string, live bool) (store.SigningKey, error) {
	if projectID == "" {
		return store.SigningKey{}, errors.New("keys: empty project id")
	}
	now := k.now().UTC()
	kid := secret.ID("jwk", live)

	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: generate RSA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(append([]byte{1}, secret.Bytes(15)...)),
		Subject:               pkix.Name{CommonName: kid},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: self-sign certificate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode private key: %w", err)
	}
	sealed := k.ring.Seal(der, []byte(kid))
	clear(der)

	return store.SigningKey{
		KID:           kid,
		ProjectID:     projectID,
		PrivateKeyEnc: sealed,
		CertDER:       certDER,
		CreatedAt:     now,
	}, nil
}

// Invalidate drops the project's cached keys, so that the next call reads
// them from the store. Rotate calls it; so can a cross-node notification.
func (k *Keys) Invalidate(projectID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.cache[projectID]; e != nil {
		// Keep the entry for its parsed keys (a private key is unsealed
		// once per kid), but never serve it again.
		e.stale = true
	}
	// A read that started before the caller's change may return old keys:
	// let it finish for its waiters, but do not cache its answer.
	delete(k.loading, projectID)
}
