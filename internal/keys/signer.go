package keys

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// An rsaSigner makes RSASSA-PKCS1-v1_5 SHA-256 signatures (RS256, RFC 7518
// §3.3) over a SHA-256 digest with one private key. PKCS#1 v1.5 signatures
// are deterministic: every signer gives the same bytes for the same key and
// digest, so which one signs is invisible on the wire.
type rsaSigner interface {
	signDigest(digest []byte) ([]byte, error)
}

// goSigner signs with Go's crypto/rsa: the fallback where OpenSSL is not
// available (a binary built without cgo, or no libcrypto on the machine).
type goSigner struct{ priv *rsa.PrivateKey }

func (g goSigner) signDigest(digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, g.priv, crypto.SHA256, digest)
}

// SignerName names the RSA implementation this process signs with:
// "openssl <version>" when the system's libcrypto was loaded (about 2.6×
// faster on the development machine), else "go crypto/rsa". It is fixed at
// start; `latch serve` logs it and /healthz reports it.
func SignerName() string { return signerName }

// newRSASigner returns the fastest available signer for priv.
func newRSASigner(priv *rsa.PrivateKey) (rsaSigner, error) {
	if opensslReady {
		s, err := newOpenSSLSigner(priv)
		if err == nil {
			return s, nil
		}
		return nil, fmt.Errorf("keys: load key into OpenSSL: %w", err)
	}
	return goSigner{priv}, nil
}

// opaqueRS256 lets jose build the JWS (header, encoding) while the
// signature itself comes from an rsaSigner.
type opaqueRS256 struct {
	kid  string
	pub  *rsa.PublicKey
	sign rsaSigner
}

func (o *opaqueRS256) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: o.pub, KeyID: o.kid, Algorithm: string(jose.RS256), Use: "sig"}
}

func (o *opaqueRS256) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.RS256} }

func (o *opaqueRS256) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, fmt.Errorf("keys: algorithm %s not supported", alg)
	}
	d := sha256.Sum256(payload)
	return o.sign.signDigest(d[:])
}
