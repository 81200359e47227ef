//go:build cgo && unix

package keys

import (
	"crypto"
	"crypto/rsa"
	"log/slog"
	"math/big"
	"os"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// libcrypto names tried in order: OpenSSL 3, then 1.1.
var libcryptoNames = []string{"libcrypto.so.3", "libcrypto.so.1.1"}

var opensslReady, signerName = loadOpenSSL()

// loadOpenSSL opens the system's libcrypto at run time (dlopen), so the
// binary still starts, and signs with Go's crypto/rsa, where it is missing.
// LATCH_RSA_SIGNER=go forces the fallback.
func loadOpenSSL() (bool, string) {
	if forcedGoSigner() {
		return false, "go crypto/rsa"
	}
	for _, name := range libcryptoNames {
		if ok, _ := openssl.CheckVersion(name); !ok {
			continue
		}
		if err := openssl.Init(name); err != nil {
			slog.Debug("keys: OpenSSL not usable", "lib", name, "err", err)
			continue
		}
		return true, openssl.VersionText()
	}
	return false, "go crypto/rsa"
}

// forcedGoSigner reports whether LATCH_RSA_SIGNER=go asks for Go's
// crypto/rsa even where OpenSSL is available (to compare the two, or to
// rule OpenSSL out).
func forcedGoSigner() bool { return os.Getenv("LATCH_RSA_SIGNER") == "go" }

type opensslSigner struct{ key *openssl.PrivateKeyRSA }

func newOpenSSLSigner(priv *rsa.PrivateKey) (rsaSigner, error) {
	priv.Precompute()
	if len(priv.Primes) != 2 {
		return goSigner{priv}, nil // multi-prime keys: not made by Latch
	}
	pc := priv.Precomputed
	k, err := openssl.NewPrivateKeyRSA(
		bbig.Enc(priv.N), bbig.Enc(big.NewInt(int64(priv.E))), bbig.Enc(priv.D),
		bbig.Enc(priv.Primes[0]), bbig.Enc(priv.Primes[1]),
		bbig.Enc(pc.Dp), bbig.Enc(pc.Dq), bbig.Enc(pc.Qinv))
	if err != nil {
		return nil, err
	}
	return opensslSigner{k}, nil
}

func (o opensslSigner) signDigest(digest []byte) ([]byte, error) {
	return openssl.SignRSAPKCS1v15(o.key, crypto.SHA256, digest)
}
