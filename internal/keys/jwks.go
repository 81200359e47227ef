package keys

import (
	"context"
	"slices"
)

// JWK is one public key of a project's JWKS, in the shape Stytch serves:
// jose's createRemoteJWKSet filters on kty, kid, alg, use and key_ops, so
// their values are exact.
type JWK struct {
	Kty     string   `json:"kty"`     // "RSA"
	Use     string   `json:"use"`     // "sig"
	KeyOps  []string `json:"key_ops"` // ["verify"]
	Alg     string   `json:"alg"`     // "RS256"
	Kid     string   `json:"kid"`     // "jwk-<env>-<uuid>"
	X5c     []string `json:"x5c"`     // the self-signed certificate, standard base64 DER
	X5tS256 string   `json:"x5tS256"` // base64url SHA-256 of the certificate DER
	N       string   `json:"n"`       // modulus, base64url without padding
	E       string   `json:"e"`       // exponent, base64url without padding
}

// JWKS returns the project's public keys, newest first: the signing key and
// the retired keys still within their grace. A project without keys has an
// empty, non-nil set.
func (k *Keys) JWKS(ctx context.Context, projectID string) ([]JWK, error) {
	e, _, err := k.project(ctx, projectID)
	if err != nil {
		return nil, err
	}
	now := k.now()
	out := make([]JWK, 0, len(e.keys))
	for _, key := range e.keys {
		if !key.visible(now) {
			continue
		}
		j := key.jwk
		j.KeyOps = slices.Clone(j.KeyOps)
		j.X5c = slices.Clone(j.X5c)
		out = append(out, j)
	}
	return out, nil
}
