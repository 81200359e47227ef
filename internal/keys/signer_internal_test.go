package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

var benchKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		panic(err)
	}
	return k
}()

// TestOpenSSLAndGoSignTheSameBytes: where OpenSSL is loaded, its RS256
// signature of a digest is byte-for-byte Go's (PKCS#1 v1.5 is
// deterministic), so which signer a node uses is invisible on the wire.
func TestOpenSSLAndGoSignTheSameBytes(t *testing.T) {
	t.Logf("signer: %s", SignerName())
	s, err := newRSASigner(benchKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		d := sha256.Sum256([]byte{byte(i)})
		a, err := s.signDigest(d[:])
		if err != nil {
			t.Fatal(err)
		}
		b, err := goSigner{benchKey}.signDigest(d[:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s and Go's crypto/rsa signed digest %d differently", SignerName(), i)
		}
	}
}

// BenchmarkRS256 compares the signer in use with Go's crypto/rsa on one
// RSA-2048 digest: go test ./internal/keys -run '^$' -bench RS256.
func BenchmarkRS256(b *testing.B) {
	d := sha256.Sum256([]byte("payload"))
	s, err := newRSASigner(benchKey)
	if err != nil {
		b.Fatal(err)
	}
	for name, sg := range map[string]rsaSigner{"go": goSigner{benchKey}, "in-use": s} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := sg.signDigest(d[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
