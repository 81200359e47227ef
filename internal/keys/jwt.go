package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latch-auth/latch/internal/store"
)

// Verification failures. Verify wraps one of them with the detail.
var (
	// ErrMalformed means the token is not a JWS in compact form at all.
	ErrMalformed = errors.New("keys: malformed JWT")
	// ErrInvalid means the token parsed but is not a valid session JWT of
	// the project: wrong algorithm, type or key, bad signature or claims.
	ErrInvalid = errors.New("keys: invalid JWT")
)

// SessionClaim is the JWT claim that holds Stytch's session object.
const SessionClaim = "https://stytch.com/session"

// leeway is the clock skew between nodes tolerated on nbf and iat.
const leeway = 5 * time.Second

// maxTokenLen bounds what Verify parses: custom claims are capped at 4 KB,
// and a session JWT is well under 16 KB.
const maxTokenLen = 64 << 10

// Claims is what Verify found in a valid token.
type Claims struct {
	Subject   string // sub: the user id
	SessionID string // id of the "https://stytch.com/session" claim; "" if absent
	IssuedAt  time.Time
	NotBefore time.Time // zero if the token has no nbf
	Expiry    time.Time
	// Expired is true when exp is not after now. Verify still returns the
	// claims without error: sessions/authenticate refreshes expired JWTs of
	// live sessions.
	Expired bool
	// Raw is the whole payload as decoded by encoding/json (numbers are
	// float64). It may be shared with other calls of Verify for the same
	// token: read it, never change it.
	Raw map[string]any
}

// Sign mints a JWT with the header {"alg":"RS256","kid":…,"typ":"JWT"} and
// claims as its payload, signed with the key that signs for the project now.
// claims must encode (with encoding/json) to a JSON object; the caller sets
// every claim, iat, nbf and exp included. A project without a key gives an
// error wrapping store.ErrNotFound. It returns the token and the kid of the
// key that signed it. It is SignPayload for claims not yet encoded.
func (k *Keys) Sign(ctx context.Context, projectID string, claims any) (token, kid string, err error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", fmt.Errorf("keys: encode claims: %w", err)
	}
	return k.SignPayload(ctx, projectID, payload)
}

// SignPayload is Sign for claims already encoded: payload must be a JSON
// object (it is signed as it is).
//
// The same key and payload always give the same token (RS256 is PKCS#1 v1.5,
// whose signatures are deterministic), so SignPayload serves a token it
// signed in the last moments again for a byte-identical payload instead of
// signing anew: the result is the same bytes either way (the exact memo; see
// TestTheMemoServesExactlyWhatSigningWouldProduce).
func (k *Keys) SignPayload(ctx context.Context, projectID string, payload []byte) (token, kid string, err error) {
	if len(payload) == 0 || payload[0] != '{' {
		return "", "", fmt.Errorf("keys: claims must be a JSON object, got %.20s", payload)
	}
	e, _, err := k.project(ctx, projectID)
	if err != nil {
		return "", "", err
	}
	now := k.now()
	cur := e.current(now)
	if cur == nil {
		return "", "", fmt.Errorf("keys: project %s has no signing key: %w", projectID, store.ErrNotFound)
	}
	mk := memoKey(projectID, cur.kid, payload)
	if m, ok := k.minted.Get(mk); ok {
		return m.token, cur.kid, nil
	}
	token, err = k.signWith(cur, payload)
	if err != nil {
		return "", "", err
	}
	k.signatures.Add(1)
	k.minted.Put(mk, mintedJWT{token: token, at: now}, now)
	return token, cur.kid, nil
}

// Signatures is how many RSA signatures this Keys has made (tokens served
// from the exact memo are not counted).
func (k *Keys) Signatures() int64 { return k.signatures.Load() }

// signWith signs payload with key, always anew.
func (k *Keys) signWith(key *key, payload []byte) (string, error) {
	signer, err := key.signer()
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", key.kid, err)
	}
	return obj.CompactSerialize()
}

// Verify checks a session JWT minted for projectID and returns its claims.
//
// The token must be a compact JWS with alg RS256 (every other alg, "none"
// and HS256 included, is refused) and typ "JWT", whose kid names a key in
// the project's JWKS and whose signature that key verifies. Keys carried or
// pointed at by the token (jwk, jku, x5u, x5c) are never used. The claims
// must have iss "stytch.com/<projectID>", an aud containing projectID, an
// iat and an exp; nbf and iat must not be later than now (with a leeway of
// a few seconds for clock skew between nodes).
//
// An expired token is not an error: Claims.Expired tells. Failures wrap
// ErrMalformed (not a JWS) or ErrInvalid (anything else wrong with the
// token); other errors come from the store.
func (k *Keys) Verify(ctx context.Context, projectID, token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: token is %d bytes", ErrMalformed, len(token))
	}
	vkey := verifiedKey(projectID, token)
	if v, ok := k.verified.Get(vkey); ok {
		e, _, err := k.project(ctx, projectID)
		if err != nil {
			return Claims{}, err
		}
		if e.byKID(v.kid, k.now()) != nil {
			return timeChecks(v.claims, k.now())
		}
		// Its key is gone (or not visible to this node yet): the full
		// path below decides, reading the keys again if it must.
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return Claims{}, parseError(token, err)
	}
	if len(jws.Signatures) != 1 {
		return Claims{}, fmt.Errorf("%w: %d signatures", ErrInvalid, len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		return Claims{}, fmt.Errorf("%w: typ %v, want JWT", ErrInvalid, h.ExtraHeaders[jose.HeaderType])
	}
	if h.KeyID == "" {
		return Claims{}, fmt.Errorf("%w: no kid", ErrInvalid)
	}

	e, loaded, err := k.project(ctx, projectID)
	if err != nil {
		return Claims{}, err
	}
	key := e.byKID(h.KeyID, k.now())
	if key == nil && !loaded {
		// Maybe another node rotated less than CacheTTL ago and this
		// token carries the new key: read the keys again, once.
		if e, err = k.load(ctx, projectID, e); err != nil {
			return Claims{}, err
		}
		key = e.byKID(h.KeyID, k.now())
	}
	if key == nil {
		return Claims{}, fmt.Errorf("%w: kid %q is not a key of project %s", ErrInvalid, h.KeyID, projectID)
	}
	// The key is picked by us, by kid, among the project's: a key embedded
	// in or referenced by the header plays no part.
	payload, err := jws.Verify(key.pub)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %v", ErrInvalid, err)
	}
	c, err := k.checkClaims(projectID, payload)
	if err == nil && !c.Expired {
		k.verified.Put(vkey, verifiedJWT{kid: key.kid, claims: c}, k.now())
	}
	return c, err
}

// checkClaims decodes a verified payload and checks its registered claims.
func (k *Keys) checkClaims(projectID string, payload []byte) (Claims, error) {
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return Claims{}, fmt.Errorf("%w: payload is not a JSON object", ErrInvalid)
	}
	// The registered claims by their exact names only: decoding the payload
	// into jwt.Claims would also take "ISS" or "ſub" (Unicode case
	// folding) for iss or sub, and the last such key in the payload wins.
	exact := map[string]any{}
	for _, name := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"} {
		if v, ok := raw[name]; ok {
			exact[name] = v
		}
	}
	registered, err := json.Marshal(exact)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: registered claims: %v", ErrInvalid, err)
	}
	var std jwt.Claims
	if err := json.Unmarshal(registered, &std); err != nil {
		return Claims{}, fmt.Errorf("%w: registered claims: %v", ErrInvalid, err)
	}
	if want := "stytch.com/" + projectID; std.Issuer != want {
		return Claims{}, fmt.Errorf("%w: iss %q, want %q", ErrInvalid, std.Issuer, want)
	}
	if len(std.Audience) == 0 || !std.Audience.Contains(projectID) {
		return Claims{}, fmt.Errorf("%w: aud %q does not contain %s", ErrInvalid, []string(std.Audience), projectID)
	}
	if std.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: no iat", ErrInvalid)
	}
	if std.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: no exp", ErrInvalid)
	}
	now := k.now()
	if iat := std.IssuedAt.Time(); iat.After(now.Add(leeway)) {
		return Claims{}, fmt.Errorf("%w: iat %v is in the future", ErrInvalid, iat.UTC())
	}
	if std.NotBefore != nil {
		if nbf := std.NotBefore.Time(); nbf.After(now.Add(leeway)) {
			return Claims{}, fmt.Errorf("%w: nbf %v is in the future", ErrInvalid, nbf.UTC())
		}
	}
	c := Claims{
		Subject:  std.Subject,
		IssuedAt: std.IssuedAt.Time().UTC(),
		Expiry:   std.Expiry.Time().UTC(),
		Raw:      raw,
	}
	if std.NotBefore != nil {
		c.NotBefore = std.NotBefore.Time().UTC()
	}
	c.Expired = !now.Before(c.Expiry)
	if s, ok := raw[SessionClaim].(map[string]any); ok {
		c.SessionID, _ = s["id"].(string)
	}
	return c, nil
}

// parseError sorts a failure of jose's parser: a token whose header is
// readable but names another algorithm is invalid (refused), anything else
// is malformed.
func parseError(token string, err error) error {
	head, _, ok := strings.Cut(token, ".")
	if ok {
		if b, derr := base64.RawURLEncoding.DecodeString(head); derr == nil {
			var h struct {
				Alg any `json:"alg"`
			}
			if json.Unmarshal(b, &h) == nil && h.Alg != nil && h.Alg != string(jose.RS256) {
				return fmt.Errorf("%w: alg %v not allowed", ErrInvalid, h.Alg)
			}
		}
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}
