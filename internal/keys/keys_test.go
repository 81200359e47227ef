package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the injected time; tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	st   store.Store
	ring *secret.Keyring
	clk  *clock
	k    *keys.Keys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ring, err := secret.NewKeyring(secret.Bytes(secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	clk := &clock{t: t0}
	return &fixture{st: st, ring: ring, clk: clk, k: keys.New(st, ring, clk.Now)}
}

// project creates a project with its first key.
func (f *fixture) project(t testing.TB, live bool) (string, store.SigningKey) {
	t.Helper()
	id := secret.ID("project", live)
	createProject(t, f.st, id, live)
	sk, err := f.k.NewKey(context.Background(), nil, id, live)
	if err != nil {
		t.Fatal(err)
	}
	return id, sk
}

// claims are the claims of a Stytch session JWT minted at now.
func claims(projectID string, now time.Time) map[string]any {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	return map[string]any{
		"aud": []string{projectID},
		"iss": "stytch.com/" + projectID,
		"sub": "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		keys.SessionClaim: map[string]any{
			"id":               "session-test-fe6c042b-6286-479f-8a4f-b046a6c46509",
			"started_at":       ts(now.Add(-time.Hour)),
			"last_accessed_at": ts(now),
			"expires_at":       ts(now.Add(time.Hour)),
			"attributes":       map[string]any{"user_agent": "", "ip_address": ""},
			"authentication_factors": []any{map[string]any{
				"type": "otp", "delivery_method": "email", "last_authenticated_at": ts(now),
				"email_factor": map[string]any{"email_id": "email-test-1", "email_address": "a@example.com"},
			}},
			"roles": []string{"stytch_user"},
		},
		"plan": "gold",
	}
}

func (f *fixture) sign(t testing.TB, projectID string, c any) string {
	t.Helper()
	tok, _, err := f.k.Sign(context.Background(), projectID, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func segments(t testing.TB, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

// rawToken assembles a compact JWS from a header, a payload and signature
// bytes, without signing.
func rawToken(t testing.TB, header, payload any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "." + enc(sig)
}

// joseSign signs payload with go-jose under any algorithm, key and headers.
func joseSign(t testing.TB, alg jose.SignatureAlgorithm, key any, payload any, opts *jose.SignerOptions) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// privateKey unseals a stored key the way only the server can.
func (f *fixture) privateKey(t testing.TB, sk store.SigningKey) *rsa.PrivateKey {
	t.Helper()
	der, err := f.ring.Open(sk.PrivateKeyEnc, []byte(sk.KID))
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func typJWT(kid string) *jose.SignerOptions {
	o := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		o = o.WithHeader("kid", kid)
	}
	return o
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestMintedJWTVerifiesAgainstJWKSJSON(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, sk := f.project(t, false)
	now := f.clk.Now()
	tok := f.sign(t, pid, claims(pid, now))

	header, _ := segments(t, tok)
	if want := map[string]any{"alg": "RS256", "kid": sk.KID, "typ": "JWT"}; !maps.Equal(header, want) {
		t.Fatalf("header = %v, want %v", header, want)
	}

	// The independent check: what a client does with the published JWKS.
	jwks, err := f.k.JWKS(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS JSON does not parse as a JSON Web Key Set: %v\n%s", err, body)
	}
	found := set.Key(sk.KID)
	if len(found) != 1 || found[0].Use != "sig" || found[0].Algorithm != "RS256" || !found[0].IsPublic() {
		t.Fatalf("JWKS key for %s = %+v", sk.KID, found)
	}
	if len(found[0].Certificates) != 1 { // go-jose also checks the cert matches n/e and x5t#S256
		t.Fatalf("x5c did not parse: %+v", found[0])
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var std jwt.Claims
	var session struct {
		S struct {
			ID string `json:"id"`
		} `json:"https://stytch.com/session"`
	}
	if err := parsed.Claims(&set, &std, &session); err != nil {
		t.Fatalf("go-jose does not verify the token with the JWKS: %v", err)
	}
	err = std.Validate(jwt.Expected{Issuer: "stytch.com/" + pid, AnyAudience: jwt.Audience{pid}, Time: now})
	if err != nil {
		t.Fatal(err)
	}
	if session.S.ID == "" {
		t.Fatal("no session claim")
	}

	// And Latch's own check.
	c, err := f.k.Verify(ctx, pid, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := keys.Claims{
		Subject:   "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd",
		SessionID: "session-test-fe6c042b-6286-479f-8a4f-b046a6c46509",
		IssuedAt:  now, NotBefore: now, Expiry: now.Add(5 * time.Minute),
	}
	if c.Subject != want.Subject || c.SessionID != want.SessionID || !c.IssuedAt.Equal(want.IssuedAt) ||
		!c.NotBefore.Equal(want.NotBefore) || !c.Expiry.Equal(want.Expiry) || c.Expired {
		t.Fatalf("claims = %+v, want %+v", c, want)
	}
	if c.Raw["plan"] != "gold" || c.Raw["iss"] != "stytch.com/"+pid {
		t.Fatalf("raw claims = %v", c.Raw)
	}
}

func TestJWKJSONHasExactlyTheStytchFields(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, true)
	jwks, err := f.k.JWKS(context.Background(), pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(jwks) != 1 {
		t.Fatalf("%d keys", len(jwks))
	}
	b, err := json.Marshal(jwks[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(m))
	if want := []string{"alg", "e", "key_ops", "kid", "kty", "n", "use", "x5c", "x5tS256"}; !slices.Equal(names, want) {
		t.Fatalf("fields = %v, want %v", names, want)
	}
	if m["kty"] != "RSA" || m["use"] != "sig" || m["alg"] != "RS256" || m["kid"] != sk.KID || m["e"] != "AQAB" {
		t.Fatalf("jwk = %s", b)
	}
	if !strings.HasPrefix(sk.KID, "jwk-live-") || len(sk.KID) != len("jwk-live-")+36 {
		t.Fatalf("kid %q", sk.KID)
	}
	if ops, _ := m["key_ops"].([]any); len(ops) != 1 || ops[0] != "verify" {
		t.Fatalf("key_ops = %v", m["key_ops"])
	}
	n := m["n"].(string)
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(nb) != 256 || strings.ContainsAny(n, "=+/") {
		t.Fatalf("n is not 2048 bits of unpadded base64url: %q (%v)", n, err)
	}
	x5c, _ := m["x5c"].([]any)
	if len(x5c) != 1 {
		t.Fatalf("x5c = %v", m["x5c"])
	}
	der, err := base64.StdEncoding.DecodeString(x5c[0].(string))
	if err != nil || !bytes.Equal(der, sk.CertDER) {
		t.Fatalf("x5c is not the standard base64 of the stored certificate (%v)", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	if pub.E != 65537 || !bytes.Equal(pub.N.Bytes(), nb) {
		t.Fatal("certificate key differs from n, e")
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Fatalf("certificate is not self-signed: %v", err)
	}
	sum := sha256.Sum256(der)
	if m["x5tS256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("x5tS256 = %v", m["x5tS256"])
	}
}

func TestAlgNoneRefused(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, false)
	c := claims(pid, f.clk.Now())
	good := f.sign(t, pid, c)
	realSig, _ := base64.RawURLEncoding.DecodeString(good[strings.LastIndex(good, ".")+1:])
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		for _, sig := range [][]byte{nil, realSig} {
			tok := rawToken(t, map[string]any{"alg": alg, "kid": sk.KID, "typ": "JWT"}, c, sig)
			_, err := f.k.Verify(context.Background(), pid, tok)
			wantErr(t, err, keys.ErrInvalid)
		}
	}
	// No alg at all.
	_, err := f.k.Verify(context.Background(), pid, rawToken(t, map[string]any{"kid": sk.KID, "typ": "JWT"}, c, realSig))
	if err == nil {
		t.Fatal("token without alg accepted")
	}
}

func TestHS256WithThePublicKeyAsSecretRefused(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, false)
	jwks, _ := f.k.JWKS(context.Background(), pid)
	cert, _ := x509.ParseCertificate(sk.CertDER)
	pub := cert.PublicKey.(*rsa.PublicKey)
	pkix, _ := x509.MarshalPKIXPublicKey(pub)
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	secrets := map[string][]byte{
		"PKIX PEM":        pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
		"PKCS1 PEM":       pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"PKIX DER":        pkix,
		"PKCS1 DER":       pkcs1,
		"certificate DER": sk.CertDER,
		"n (base64url)":   []byte(jwks[0].N),
		"n (bytes)":       pub.N.Bytes(),
		"JWK JSON":        must(json.Marshal(jwks[0])),
	}
	c := claims(pid, f.clk.Now())
	for name, secret := range secrets {
		for _, alg := range []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512} {
			tok := joseSign(t, alg, secret, c, typJWT(sk.KID))
			// The token is a genuine HMAC token under that secret...
			if _, err := must2(jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})).Verify(secret); err != nil {
				t.Fatalf("%s %s: test token does not verify: %v", name, alg, err)
			}
			// ...and Latch refuses it.
			_, err := f.k.Verify(context.Background(), pid, tok)
			if !errors.Is(err, keys.ErrInvalid) {
				t.Errorf("%s as %s secret: err = %v, want ErrInvalid", name, alg, err)
			}
		}
	}
}

func TestOtherAlgorithmsWithTheRightKeyRefused(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, false)
	priv := f.privateKey(t, sk)
	c := claims(pid, f.clk.Now())
	for _, alg := range []jose.SignatureAlgorithm{jose.PS256, jose.RS384, jose.RS512, jose.PS512} {
		tok := joseSign(t, alg, jose.JSONWebKey{Key: priv, KeyID: sk.KID}, c, typJWT(""))
		_, err := f.k.Verify(context.Background(), pid, tok)
		wantErr(t, err, keys.ErrInvalid)
	}
	// The same key with RS256 is of course fine: the refusal is the alg's.
	tok := joseSign(t, jose.RS256, jose.JSONWebKey{Key: priv, KeyID: sk.KID}, c, typJWT(""))
	if _, err := f.k.Verify(context.Background(), pid, tok); err != nil {
		t.Fatal(err)
	}
}

func TestTypMustBeJWT(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, false)
	priv := f.privateKey(t, sk)
	c := claims(pid, f.clk.Now())
	key := jose.JSONWebKey{Key: priv, KeyID: sk.KID}
	for _, opts := range []*jose.SignerOptions{
		nil, // no typ
		(&jose.SignerOptions{}).WithType("at+jwt"),
		(&jose.SignerOptions{}).WithType("jwt"),
		(&jose.SignerOptions{}).WithHeader("typ", 1),
	} {
		_, err := f.k.Verify(context.Background(), pid, joseSign(t, jose.RS256, key, c, opts))
		wantErr(t, err, keys.ErrInvalid)
	}
}

func TestKeysInHeadersIgnored(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, false)
	c := claims(pid, f.clk.Now())

	var fetched atomic.Int64
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attackerJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &attacker.PublicKey, KeyID: sk.KID, Algorithm: "RS256", Use: "sig"}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Write(attackerJWKS)
	}))
	defer srv.Close()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: sk.KID}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	attackerCert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &attacker.PublicKey, attacker)
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]*jose.SignerOptions{
		"jwk": {EmbedJWK: true},
		"jku": {},
		"x5u": {},
		"x5c": {},
		"all": {EmbedJWK: true},
	}
	for name, opts := range cases {
		opts = opts.WithType("JWT").WithHeader("kid", sk.KID)
		if name == "jku" || name == "all" {
			opts = opts.WithHeader("jku", srv.URL+"/jwks.json")
		}
		if name == "x5u" || name == "all" {
			opts = opts.WithHeader("x5u", srv.URL+"/cert.pem")
		}
		if name == "x5c" || name == "all" {
			opts = opts.WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(attackerCert)})
		}
		tok := joseSign(t, jose.RS256, attacker, c, opts)
		h, _ := segments(t, tok)
		if h["kid"] != sk.KID || (name == "jwk" && h["jwk"] == nil) {
			t.Fatalf("%s: test token header = %v", name, h)
		}
		// Genuinely signed by the key the header offers...
		if _, err := must2(jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})).Verify(&attacker.PublicKey); err != nil {
			t.Fatal(err)
		}
		// ...which Latch does not take.
		_, err := f.k.Verify(context.Background(), pid, tok)
		if !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("Verify fetched a URL from a token header %d times", n)
	}
}

func TestAnotherProjectsJWTRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, _ := f.project(t, false)
	b, skB := f.project(t, false)
	now := f.clk.Now()

	tokA := f.sign(t, a, claims(a, now))
	tokB := f.sign(t, b, claims(b, now))
	if _, err := f.k.Verify(ctx, a, tokA); err != nil {
		t.Fatal(err)
	}
	if _, err := f.k.Verify(ctx, b, tokB); err != nil {
		t.Fatal(err)
	}
	// A's token presented as B's, and the reverse.
	_, err := f.k.Verify(ctx, b, tokA)
	wantErr(t, err, keys.ErrInvalid)
	_, err = f.k.Verify(ctx, a, tokB)
	wantErr(t, err, keys.ErrInvalid)
	// B's key signing claims that name A: the kid is not A's.
	forged := f.sign(t, b, claims(a, now))
	_, err = f.k.Verify(ctx, a, forged)
	wantErr(t, err, keys.ErrInvalid)
	if !strings.Contains(err.Error(), skB.KID) {
		t.Fatalf("err = %v, want it to name the foreign kid", err)
	}
}

func TestBadClaimsRefused(t *testing.T) {
	f := newFixture(t)
	pid, _ := f.project(t, false)
	other, _ := f.project(t, false)
	now := f.clk.Now()
	cases := map[string]func(c map[string]any){
		"wrong iss":              func(c map[string]any) { c["iss"] = "stytch.com/" + other },
		"iss as URL":             func(c map[string]any) { c["iss"] = "https://stytch.com/" + pid },
		"no iss":                 func(c map[string]any) { delete(c, "iss") },
		"empty aud array":        func(c map[string]any) { c["aud"] = []string{} },
		"empty aud string":       func(c map[string]any) { c["aud"] = "" },
		"no aud":                 func(c map[string]any) { delete(c, "aud") },
		"aud of another project": func(c map[string]any) { c["aud"] = []string{other} },
		"aud string of other":    func(c map[string]any) { c["aud"] = other },
		"nbf in the future":      func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() },
		"nbf past the leeway":    func(c map[string]any) { c["nbf"] = now.Add(6 * time.Second).Unix() },
		"nbf not a number":       func(c map[string]any) { c["nbf"] = "yesterday" },
		"no iat":                 func(c map[string]any) { delete(c, "iat") },
		"iat in the future":      func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() },
		"no exp":                 func(c map[string]any) { delete(c, "exp") },
		"exp not a number":       func(c map[string]any) { c["exp"] = "soon" },
		"sub not a string":       func(c map[string]any) { c["sub"] = 42 },
	}
	for name, change := range cases {
		c := claims(pid, now)
		change(c)
		_, err := f.k.Verify(context.Background(), pid, f.sign(t, pid, c))
		if !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}

	accepted := map[string]func(c map[string]any){
		"nbf within the leeway":    func(c map[string]any) { c["nbf"] = now.Add(4 * time.Second).Unix() },
		"no nbf":                   func(c map[string]any) { delete(c, "nbf") },
		"aud as a string":          func(c map[string]any) { c["aud"] = pid },
		"aud with another as well": func(c map[string]any) { c["aud"] = []string{other, pid} },
	}
	for name, change := range accepted {
		c := claims(pid, now)
		change(c)
		if _, err := f.k.Verify(context.Background(), pid, f.sign(t, pid, c)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTamperedTokenRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	tok := f.sign(t, pid, claims(pid, f.clk.Now()))
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString

	_, payload := segments(t, tok)
	for name, change := range map[string]func(){
		"sub":  func() { payload["sub"] = "user-test-00000000-0000-0000-0000-000000000000" },
		"exp":  func() { payload["exp"] = f.clk.Now().Add(24 * time.Hour).Unix() },
		"plan": func() { payload["plan"] = "platinum" },
	} {
		_, payload = segments(t, tok)
		change()
		forged := parts[0] + "." + enc(must(json.Marshal(payload))) + "." + parts[2]
		_, err := f.k.Verify(ctx, pid, forged)
		if !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("flipped %s: err = %v, want ErrInvalid", name, err)
		}
	}

	sig := []byte(parts[2])
	sig[10] ^= 1
	_, err := f.k.Verify(ctx, pid, parts[0]+"."+parts[1]+"."+string(sig))
	if err == nil {
		t.Fatal("altered signature accepted")
	}

	// Swapping the kid for another key of the same project.
	second, err := f.k.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	header, _ := segments(t, tok)
	header["kid"] = second.KID
	_, err = f.k.Verify(ctx, pid, enc(must(json.Marshal(header)))+"."+parts[1]+"."+parts[2])
	wantErr(t, err, keys.ErrInvalid)
	if _, err := f.k.Verify(ctx, pid, tok); err != nil {
		t.Fatalf("the untouched token: %v", err)
	}
}

func TestUnknownKidRefused(t *testing.T) {
	f := newFixture(t)
	pid, sk := f.project(t, false)
	priv := f.privateKey(t, sk)
	c := claims(pid, f.clk.Now())
	// Signed by the project's real key, but naming a kid it does not have.
	for _, kid := range []string{secret.ID("jwk", false), sk.KID + "x", strings.ToUpper(sk.KID), ""} {
		tok := joseSign(t, jose.RS256, jose.JSONWebKey{Key: priv, KeyID: kid}, c, typJWT(""))
		_, err := f.k.Verify(context.Background(), pid, tok)
		wantErr(t, err, keys.ErrInvalid)
	}
}

func TestMalformedTokens(t *testing.T) {
	f := newFixture(t)
	pid, _ := f.project(t, false)
	good := f.sign(t, pid, claims(pid, f.clk.Now()))
	for _, tok := range []string{
		"",
		"abc",
		"a.b",
		"a.b.c",
		"!!!.###.$$$",
		"e30.e30",
		base64.RawURLEncoding.EncodeToString([]byte("not json")) + ".e30.c2ln",
		good + ".extra",
		strings.Repeat("a", 70<<10),
		`{"payload":"e30","signatures":[]}`,
	} {
		_, err := f.k.Verify(context.Background(), pid, tok)
		if !errors.Is(err, keys.ErrMalformed) {
			t.Errorf("%.40q: err = %v, want ErrMalformed", tok, err)
		}
	}
}

func TestExpiredTokenReportedNotRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	now := f.clk.Now()
	tok := f.sign(t, pid, claims(pid, now))

	f.clk.Advance(5*time.Minute - time.Second)
	c, err := f.k.Verify(ctx, pid, tok)
	if err != nil || c.Expired {
		t.Fatalf("a second before exp: expired=%v err=%v", c.Expired, err)
	}
	f.clk.Advance(time.Second) // now == exp
	c, err = f.k.Verify(ctx, pid, tok)
	if err != nil || !c.Expired {
		t.Fatalf("at exp: expired=%v err=%v", c.Expired, err)
	}
	f.clk.Advance(24 * time.Hour)
	c, err = f.k.Verify(ctx, pid, tok)
	if err != nil || !c.Expired {
		t.Fatalf("a day after exp: expired=%v err=%v", c.Expired, err)
	}
	if c.SessionID == "" || c.Subject == "" || !c.Expiry.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("claims of the expired token = %+v", c)
	}
}

func TestRotateKeepsOldKeyForGrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, first := f.project(t, false)
	old := f.sign(t, pid, claims(pid, f.clk.Now()))

	f.clk.Advance(time.Hour)
	second, err := f.k.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	fresh := f.sign(t, pid, claims(pid, f.clk.Now()))
	if h, _ := segments(t, fresh); h["kid"] != second.KID {
		t.Fatalf("signed with %v right after Rotate, want %s", h["kid"], second.KID)
	}
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{second.KID, first.KID}) {
		t.Fatalf("JWKS = %v, want new then old", kids)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := f.k.Verify(ctx, pid, tok); err != nil {
			t.Fatal(err)
		}
	}

	// Just before the grace ends the old key still verifies.
	f.clk.Advance(keys.DefaultGrace - time.Second)
	if c, err := f.k.Verify(ctx, pid, old); err != nil || !c.Expired {
		t.Fatalf("old token before grace end: %+v, %v", c, err)
	}
	// Past it, it is gone from the JWKS and refused, even by a node whose
	// cache was filled before the grace ended.
	f.clk.Advance(keys.CacheTTL * 3 / 4)
	_, err = f.k.Verify(ctx, pid, old)
	wantErr(t, err, keys.ErrInvalid)
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{second.KID}) {
		t.Fatalf("JWKS after grace = %v", kids)
	}
	if _, err := f.k.Verify(ctx, pid, fresh); err != nil {
		t.Fatal(err)
	}
}

func TestRotateWithCustomGraceAndManyKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, k1 := f.project(t, true)
	f.clk.Advance(time.Minute)
	k2, err := f.k.Rotate(ctx, pid, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok2 := f.sign(t, pid, claims(pid, f.clk.Now()))
	f.clk.Advance(time.Minute)
	k3, err := f.k.Rotate(ctx, pid, true, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k3.KID, "jwk-live-") {
		t.Fatalf("kid %s", k3.KID)
	}
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{k3.KID, k2.KID, k1.KID}) {
		t.Fatalf("JWKS = %v, want newest first", kids)
	}
	f.clk.Advance(time.Hour) // k1's grace (1 h from the first rotation) is over
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{k3.KID, k2.KID}) {
		t.Fatalf("JWKS = %v", kids)
	}
	if _, err := f.k.Verify(ctx, pid, tok2); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour) // and now k2's
	_, err = f.k.Verify(ctx, pid, tok2)
	wantErr(t, err, keys.ErrInvalid)
	if _, err := f.k.Rotate(ctx, pid, true, -time.Second); err == nil {
		t.Fatal("negative grace accepted")
	}
}

func TestRotationReachesOtherNodes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, first := f.project(t, false)
	nodeB := keys.New(f.st, f.ring, f.clk.Now)
	if kid := signedKID(t, nodeB, pid, f.clk.Now()); kid != first.KID {
		t.Fatalf("node B signs with %s", kid)
	}

	second, err := f.k.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A token minted on node A with the new key verifies on B at once, even
	// though B's cache is still fresh: an unknown kid makes B read again.
	tok := f.sign(t, pid, claims(pid, f.clk.Now()))
	if _, err := nodeB.Verify(ctx, pid, tok); err != nil {
		t.Fatalf("node B refuses node A's new key: %v", err)
	}
	// A rotation on a third node reaches every node within CacheTTL.
	nodeC := keys.New(f.st, f.ring, f.clk.Now)
	if kid := signedKID(t, nodeC, pid, f.clk.Now()); kid != second.KID {
		t.Fatalf("node C signs with %s, want %s", kid, second.KID)
	}
	third, err := nodeC.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(keys.CacheTTL)
	for name, k := range map[string]*keys.Keys{"A": f.k, "B": nodeB, "C": nodeC} {
		if kid := signedKID(t, k, pid, f.clk.Now()); kid != third.KID {
			t.Errorf("node %s signs with %s %v after a rotation elsewhere, want %s", name, kid, keys.CacheTTL, third.KID)
		}
	}
	// Invalidate (a cross-node notification) makes it immediate.
	fourth, err := nodeC.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	nodeB.Invalidate(pid)
	if kid := signedKID(t, nodeB, pid, f.clk.Now()); kid != fourth.KID {
		t.Fatalf("node B signs with %s after Invalidate, want %s", kid, fourth.KID)
	}
}

func TestCacheReadsTheStoreAtMostOncePerTTL(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	cs := &countingStore{Store: f.st}
	k := keys.New(cs, f.ring, f.clk.Now)
	tok := f.sign(t, pid, claims(pid, f.clk.Now()))

	for range 5 {
		signedKID(t, k, pid, f.clk.Now())
		if _, err := k.Verify(ctx, pid, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := k.JWKS(ctx, pid); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.lists.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1", n)
	}
	f.clk.Advance(keys.CacheTTL - time.Nanosecond)
	signedKID(t, k, pid, f.clk.Now())
	if n := cs.lists.Load(); n != 1 {
		t.Fatalf("%d store reads just before CacheTTL, want 1", n)
	}
	f.clk.Advance(time.Nanosecond)
	signedKID(t, k, pid, f.clk.Now())
	if n := cs.lists.Load(); n != 2 {
		t.Fatalf("%d store reads at CacheTTL, want 2", n)
	}
	k.Invalidate(pid)
	signedKID(t, k, pid, f.clk.Now())
	if n := cs.lists.Load(); n != 3 {
		t.Fatalf("%d store reads after Invalidate, want 3", n)
	}

	// Many goroutines missing the cache at once share one read.
	k.Invalidate(pid)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := k.Verify(ctx, pid, tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := cs.lists.Load(); n != 4 {
		t.Fatalf("%d store reads after a concurrent miss, want 4", n)
	}
}

func TestPrivateKeyNotStoredInPlainText(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	if _, err := f.k.Rotate(ctx, pid, false, 0); err != nil {
		t.Fatal(err)
	}
	rows, err := f.st.ListSigningKeys(ctx, pid, f.clk.Now())
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	otherRing, _ := secret.NewKeyring(secret.Bytes(secret.MasterKeySize))
	for _, r := range rows {
		der, err := f.ring.Open(r.PrivateKeyEnc, []byte(r.KID))
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		d := priv.(*rsa.PrivateKey).D.Bytes()
		p := priv.(*rsa.PrivateKey).Primes[0].Bytes()
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		for name, plain := range map[string][]byte{"DER": der, "D": d, "P": p, "PEM": pemKey, "PEM header": []byte("PRIVATE KEY")} {
			if bytes.Contains(r.PrivateKeyEnc, plain) {
				t.Errorf("%s: stored key contains the %s", r.KID, name)
			}
		}
		if _, err := f.ring.Open(r.PrivateKeyEnc, []byte(rows[0].KID+rows[1].KID)); err == nil {
			t.Error("sealed key opens outside its kid")
		}
		if _, err := otherRing.Open(r.PrivateKeyEnc, []byte(r.KID)); err == nil {
			t.Error("sealed key opens under another master key")
		}
	}
}

func TestSignerNeedsAMatchingMasterKey(t *testing.T) {
	f := newFixture(t)
	pid, _ := f.project(t, false)
	otherRing, _ := secret.NewKeyring(secret.Bytes(secret.MasterKeySize))
	k := keys.New(f.st, otherRing, f.clk.Now)
	if _, _, err := k.Sign(context.Background(), pid, claims(pid, f.clk.Now())); !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("err = %v, want secret.ErrOpen", err)
	}
}

func TestSignTakesAnyJSONObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	now := f.clk.Now()

	type session struct {
		ID string `json:"id"`
	}
	type sessionClaims struct {
		jwt.Claims
		Session session        `json:"https://stytch.com/session"`
		Empty   time.Time      `json:"empty,omitzero"`
		Custom  map[string]any `json:"-"`
	}
	c := sessionClaims{
		Claims: jwt.Claims{
			Issuer: "stytch.com/" + pid, Subject: "user-test-1", Audience: jwt.Audience{pid},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		},
		Session: session{ID: "session-test-1"},
	}
	for name, claims := range map[string]any{"struct": c, "pointer": &c, "raw": json.RawMessage(must(json.Marshal(c)))} {
		got, err := f.k.Verify(ctx, pid, f.sign(t, pid, claims))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.SessionID != "session-test-1" || got.Subject != "user-test-1" {
			t.Fatalf("%s: %+v", name, got)
		}
		if _, ok := got.Raw["empty"]; ok {
			t.Fatalf("%s: omitzero not honoured: %v", name, got.Raw)
		}
	}
	for _, bad := range []any{"a string", []string{"a"}, 42, nil, func() {}} {
		if _, _, err := f.k.Sign(ctx, pid, bad); err == nil {
			t.Errorf("Sign(%T) succeeded", bad)
		}
	}
}

func TestProjectWithoutKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := secret.ID("project", false)
	createProject(t, f.st, pid, false)
	_, _, err := f.k.Sign(ctx, pid, claims(pid, f.clk.Now()))
	wantErr(t, err, store.ErrNotFound)
	jwks, err := f.k.JWKS(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if b := must(json.Marshal(jwks)); string(b) != "[]" {
		t.Fatalf("JWKS of a project without keys = %s, want []", b)
	}
	// The first key is seen at once (no empty answer was cached).
	sk, err := f.k.NewKey(ctx, nil, pid, false)
	if err != nil {
		t.Fatal(err)
	}
	if kid := signedKID(t, f.k, pid, f.clk.Now()); kid != sk.KID {
		t.Fatalf("kid %s", kid)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pids := []string{}
	for range 3 {
		pid, _ := f.project(t, false)
		pids = append(pids, pid)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 12 {
				pid := pids[(g+i)%len(pids)]
				tok, _, err := f.k.Sign(ctx, pid, claims(pid, f.clk.Now()))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := f.k.Verify(ctx, pid, tok); err != nil {
					t.Error(err)
				}
				if _, err := f.k.JWKS(ctx, pid); err != nil {
					t.Error(err)
				}
				switch {
				case g == 0 && i%4 == 0:
					if _, err := f.k.Rotate(ctx, pid, false, 0); err != nil {
						t.Error(err)
					}
				case i%3 == 0:
					f.k.Invalidate(pid)
				case g == 1:
					f.clk.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
}

func jwksKIDs(t testing.TB, k *keys.Keys, pid string) []string {
	t.Helper()
	jwks, err := k.JWKS(context.Background(), pid)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, j := range jwks {
		kids = append(kids, j.Kid)
	}
	return kids
}

func signedKID(t testing.TB, k *keys.Keys, pid string, now time.Time) string {
	t.Helper()
	tok, _, err := k.Sign(context.Background(), pid, claims(pid, now))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := segments(t, tok)
	kid, _ := h["kid"].(string)
	return kid
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2(v *jose.JSONWebSignature, err error) *jose.JSONWebSignature { return must(v, err) }

func BenchmarkSign(b *testing.B) {
	f := newFixture(b)
	pid, _ := f.project(b, false)
	c := claims(pid, f.clk.Now())
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := f.k.Sign(ctx, pid, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	pid, _ := f.project(b, false)
	tok := f.sign(b, pid, claims(pid, f.clk.Now()))
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.k.Verify(ctx, pid, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewKeyJoinsTheCallersTransaction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := secret.ID("project", false)
	errLater := errors.New("a later step of project creation failed")
	err := f.st.InTx(ctx, func(tx store.Store) error {
		createProject(t, tx, pid, false)
		if _, err := f.k.NewKey(ctx, tx, pid, false); err != nil {
			return err
		}
		return errLater
	})
	wantErr(t, err, errLater)
	if rows, err := f.st.ListSigningKeys(ctx, pid, f.clk.Now()); err != nil || len(rows) != 0 {
		t.Fatalf("after rollback: %d keys, %v", len(rows), err)
	}

	var sk store.SigningKey
	err = f.st.InTx(ctx, func(tx store.Store) error {
		createProject(t, tx, pid, false)
		sk, err = f.k.NewKey(ctx, tx, pid, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if kid := signedKID(t, f.k, pid, f.clk.Now()); kid != sk.KID {
		t.Fatalf("signed with %s, want %s", kid, sk.KID)
	}
}

func TestFailedRotateChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, first := f.project(t, false)
	k := keys.New(failingAdd{f.st}, f.ring, f.clk.Now)
	_, err := k.Rotate(ctx, pid, false, 0)
	wantErr(t, err, errAdd)
	// The old key was not left retired without a successor.
	if kid := signedKID(t, k, pid, f.clk.Now()); kid != first.KID {
		t.Fatalf("signs with %s after a failed rotation, want %s", kid, first.KID)
	}
	rows, err := f.st.ListSigningKeys(ctx, pid, f.clk.Now())
	if err != nil || len(rows) != 1 || rows[0].RetiredAt != nil {
		t.Fatalf("keys after a failed rotation: %+v, %v", rows, err)
	}
}

func TestInvalidateDuringARead(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, first := f.project(t, false)
	bs := &blockingStore{Store: f.st, entered: make(chan struct{}), released: make(chan struct{})}
	k := keys.New(bs, f.ring, f.clk.Now)

	// A read starts and sees only the first key...
	slow := make(chan string, 1)
	go func() {
		tok, _, err := k.Sign(ctx, pid, claims(pid, f.clk.Now()))
		if err != nil {
			slow <- err.Error()
			return
		}
		h, _, _ := strings.Cut(tok, ".")
		var header struct{ Kid string }
		json.Unmarshal(must(base64.RawURLEncoding.DecodeString(h)), &header)
		slow <- header.Kid
	}()
	<-bs.entered
	// ...while this node rotates.
	second, err := k.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A call after Rotate does not wait for, nor take, the older read.
	if kid := signedKID(t, k, pid, f.clk.Now()); kid != second.KID {
		t.Fatalf("signed with %s right after Rotate, want %s", kid, second.KID)
	}
	close(bs.released)
	if kid := <-slow; kid != first.KID {
		t.Fatalf("the read begun before Rotate signed with %s, want %s", kid, first.KID)
	}
	// And the older read's answer did not overwrite the cache.
	if kid := signedKID(t, k, pid, f.clk.Now()); kid != second.KID {
		t.Fatalf("signed with %s after the older read ended, want %s", kid, second.KID)
	}
}

// TestAJWTVerifiedBeforeIsRefusedOnceItsKeyIsGone: Verify remembers the JWTs
// it has checked (an app sends the same JWT on every request), but a
// remembered JWT is only as good as its key: once the key has left the
// project's JWKS, the JWT is refused as if never seen. The checks that
// depend on the time are made on every call.
func TestAJWTVerifiedBeforeIsRefusedOnceItsKeyIsGone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	other, _ := f.project(t, false)
	c := claims(pid, f.clk.Now())
	c["exp"] = f.clk.Now().Add(4 * time.Hour).Unix()
	tok := f.sign(t, pid, c)

	first, err := f.k.Verify(ctx, pid, tok)
	if err != nil || first.Expired {
		t.Fatalf("first sight: %+v, %v", first, err)
	}
	again, err := f.k.Verify(ctx, pid, tok)
	if err != nil || again.SessionID != first.SessionID || again.Subject != first.Subject ||
		!again.Expiry.Equal(first.Expiry) || again.Raw["plan"] != "gold" {
		t.Fatalf("second sight: %+v, %v; want the claims of the first", again, err)
	}
	// Remembered for its own project only.
	_, err = f.k.Verify(ctx, other, tok)
	wantErr(t, err, keys.ErrInvalid)

	if _, err := f.k.Rotate(ctx, pid, false, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(30 * time.Minute)
	if c, err := f.k.Verify(ctx, pid, tok); err != nil || c.Expired {
		t.Fatalf("within the grace: %+v, %v", c, err)
	}
	f.clk.Advance(30*time.Minute + keys.CacheTTL)
	_, err = f.k.Verify(ctx, pid, tok)
	wantErr(t, err, keys.ErrInvalid)

	// Time-dependent checks are made again: a token whose exp has passed
	// since it was remembered comes back Expired.
	tok = f.sign(t, pid, claims(pid, f.clk.Now()))
	if c, err := f.k.Verify(ctx, pid, tok); err != nil || c.Expired {
		t.Fatalf("fresh token: %+v, %v", c, err)
	}
	f.clk.Advance(5 * time.Minute)
	if c, err := f.k.Verify(ctx, pid, tok); err != nil || !c.Expired {
		t.Fatalf("at exp: expired=%v err=%v", c.Expired, err)
	}
}
