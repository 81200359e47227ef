package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latch-auth/latch/internal/store"
)

// projectKeys is one read of a project's keys from the store.
type projectKeys struct {
	loadedAt time.Time // by the injected clock
	stale    bool      // set by Invalidate; guarded by Keys.mu
	keys     []*key    // newest first
}

// key is a stored key: its row's mutable state plus its parsed material.
type key struct {
	createdAt time.Time
	activeAt  time.Time // when it starts signing (after a rotation's lead)
	retiredAt *time.Time
	expiresAt *time.Time
	*material
}

// material is what a kid always stands for: it never changes, so it is
// carried over from one read of the project to the next.
type material struct {
	kid     string
	certDER []byte
	sealed  []byte
	pub     *rsa.PublicKey
	jwk     JWK
	// signer unseals the private key on first use and keeps it.
	signer func() (jose.Signer, error)
}

// loadCall is a store read in flight; callers for the same project wait for
// it instead of reading again.
type loadCall struct {
	done chan struct{}
	e    *projectKeys
	err  error
}

// sweepEvery and sweepAge bound the cache: every sweepEvery store reads,
// entries not refreshed for sweepAge are dropped.
const (
	sweepEvery = 256
	sweepAge   = time.Minute
)

func (e *projectKeys) fresh(now time.Time) bool {
	return e != nil && !e.stale && !now.Before(e.loadedAt) && now.Sub(e.loadedAt) < CacheTTL
}

// visible reports whether the key is still in the JWKS at now.
func (k *key) visible(now time.Time) bool {
	return k.expiresAt == nil || k.expiresAt.After(now)
}

// signs reports whether the key may sign at now: active, not yet retired,
// and in the JWKS.
func (k *key) signs(now time.Time) bool {
	return !k.activeAt.After(now) && (k.retiredAt == nil || k.retiredAt.After(now)) && k.visible(now)
}

// current is the key that signs at now: of the keys that may, the one
// that became active last. A key made by a rotation with a lead is in the
// JWKS at once but signs only from its activeAt; until then the key it
// replaces (retired at that same instant) signs.
func (e *projectKeys) current(now time.Time) *key {
	var cur *key
	for _, k := range e.keys {
		if k.signs(now) && (cur == nil || k.activeAt.After(cur.activeAt)) {
			cur = k
		}
	}
	return cur
}

// byKID finds a key of the JWKS at now by its kid.
func (e *projectKeys) byKID(kid string, now time.Time) *key {
	for _, k := range e.keys {
		if k.kid == kid && k.visible(now) {
			return k
		}
	}
	return nil
}

// project returns the project's keys, from the cache while fresh. loaded
// tells whether this call read them from the store.
func (k *Keys) project(ctx context.Context, projectID string) (e *projectKeys, loaded bool, err error) {
	now := k.now()
	k.mu.RLock()
	e = k.cache[projectID]
	ok := e.fresh(now)
	k.mu.RUnlock()
	if ok {
		return e, false, nil
	}
	e, err = k.load(ctx, projectID, e)
	return e, true, err
}

// load reads the project's keys from the store and caches them, unless
// another caller did since this one saw seen in the cache. Concurrent loads
// of one project share a single read.
func (k *Keys) load(ctx context.Context, projectID string, seen *projectKeys) (*projectKeys, error) {
	for {
		k.mu.Lock()
		if e := k.cache[projectID]; e != seen && e.fresh(k.now()) {
			k.mu.Unlock()
			return e, nil
		}
		if c := k.loading[projectID]; c != nil {
			k.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if c.err != nil && ctx.Err() == nil &&
				(errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) {
				continue // the reader's request was cancelled, not ours: read again
			}
			return c.e, c.err
		}
		c := &loadCall{done: make(chan struct{})}
		k.loading[projectID] = c
		prev := k.cache[projectID]
		k.mu.Unlock()

		k.fetchFor(ctx, c, projectID, prev)
		return c.e, c.err
	}
}

// fetchFor runs a load for c and publishes its result, even if the store
// panics, so that waiters are never left hanging.
func (k *Keys) fetchFor(ctx context.Context, c *loadCall, projectID string, prev *projectKeys) {
	c.err = errors.New("keys: reading keys panicked")
	defer func() {
		k.mu.Lock()
		if k.loading[projectID] == c { // not invalidated meanwhile
			delete(k.loading, projectID)
			switch {
			case c.err != nil:
			case len(c.e.keys) == 0:
				// Not cached: the JWKS route is open to anyone, and
				// unknown project ids must not fill memory.
				delete(k.cache, projectID)
			default:
				k.cache[projectID] = c.e
			}
		}
		k.loads++
		if k.loads%sweepEvery == 0 {
			k.sweep(k.now())
		}
		k.mu.Unlock()
		close(c.done)
	}()
	c.e, c.err = k.fetch(ctx, projectID, prev)
}

// sweep drops entries not refreshed for a while. Called with k.mu held.
func (k *Keys) sweep(now time.Time) {
	for id, e := range k.cache {
		if now.Sub(e.loadedAt) > sweepAge || now.Before(e.loadedAt) {
			delete(k.cache, id)
		}
	}
}

// fetch reads the project's keys, reusing the parsed material of prev.
func (k *Keys) fetch(ctx context.Context, projectID string, prev *projectKeys) (*projectKeys, error) {
	now := k.now()
	rows, err := k.st.ListSigningKeys(ctx, projectID, now)
	if err != nil {
		return nil, fmt.Errorf("keys: read keys of %s: %w", projectID, err)
	}
	known := map[string]*material{}
	if prev != nil {
		for _, pk := range prev.keys {
			known[pk.kid] = pk.material
		}
	}
	e := &projectKeys{loadedAt: now, keys: make([]*key, 0, len(rows))}
	for _, r := range rows {
		if r.ProjectID != projectID {
			return nil, fmt.Errorf("keys: store returned key %s of project %q for %q", r.KID, r.ProjectID, projectID)
		}
		m := known[r.KID]
		if m == nil || !bytes.Equal(m.certDER, r.CertDER) || !bytes.Equal(m.sealed, r.PrivateKeyEnc) {
			if m, err = k.newMaterial(r); err != nil {
				return nil, err
			}
		}
		e.keys = append(e.keys, &key{createdAt: r.CreatedAt, activeAt: r.ActiveFrom(), retiredAt: r.RetiredAt, expiresAt: r.ExpiresAt, material: m})
	}
	// Newest first; of keys made in the same instant, the unretired first.
	slices.SortStableFunc(e.keys, func(a, b *key) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return cmp.Compare(retiredOrder(a), retiredOrder(b))
	})
	return e, nil
}

func retiredOrder(k *key) int {
	if k.retiredAt == nil {
		return 0
	}
	return 1
}

// newMaterial parses a stored key's certificate. The private key is only
// unsealed when the key first signs.
func (k *Keys) newMaterial(r store.SigningKey) (*material, error) {
	cert, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		return nil, fmt.Errorf("keys: certificate of %s: %w", r.KID, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < keyBits {
		return nil, fmt.Errorf("keys: key %s is not an RSA key of at least %d bits", r.KID, keyBits)
	}
	m := &material{
		kid:     r.KID,
		certDER: r.CertDER,
		sealed:  r.PrivateKeyEnc,
		pub:     pub,
		jwk:     makeJWK(r.KID, pub, r.CertDER),
	}
	m.signer = sync.OnceValues(func() (jose.Signer, error) { return k.unseal(m) })
	return m, nil
}

// unseal opens the key's private half and makes a signer for it.
func (k *Keys) unseal(m *material) (jose.Signer, error) {
	der, err := k.ring.Open(m.sealed, []byte(m.kid))
	if err != nil {
		return nil, fmt.Errorf("keys: unseal %s: %w", m.kid, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse private key %s: %w", m.kid, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok || !priv.PublicKey.Equal(m.pub) {
		return nil, fmt.Errorf("keys: private key %s does not match its certificate", m.kid)
	}
	rs, err := newRSASigner(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", m.kid, err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: &opaqueRS256{kid: m.kid, pub: m.pub, sign: rs}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", m.kid, err)
	}
	return signer, nil
}

func makeJWK(kid string, pub *rsa.PublicKey, certDER []byte) JWK {
	thumb := sha256.Sum256(certDER)
	return JWK{
		Kty:     "RSA",
		Use:     "sig",
		KeyOps:  []string{"verify"},
		Alg:     "RS256",
		Kid:     kid,
		X5c:     []string{base64.StdEncoding.EncodeToString(certDER)},
		X5tS256: base64.RawURLEncoding.EncodeToString(thumb[:]),
		N:       base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:       base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}
