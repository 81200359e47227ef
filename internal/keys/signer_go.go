//go:build !(cgo && unix)

package keys

import (
	"crypto/rsa"
	"errors"
)

// Built without cgo: Go's crypto/rsa signs.
var opensslReady, signerName = false, "go crypto/rsa"

func newOpenSSLSigner(*rsa.PrivateKey) (rsaSigner, error) {
	return nil, errors.New("keys: built without cgo")
}
