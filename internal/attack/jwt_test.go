package attack

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latch-auth/latch/internal/latchtest"
)

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func unseg(t testing.TB, s string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// rs256 signs header.payload with key.
func rs256(key *rsa.PrivateKey, header, payload map[string]any) string {
	in := seg(header) + "." + seg(payload)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hs signs header.payload with HMAC under secret.
func hs(h func() hash.Hash, secret []byte, header, payload map[string]any) string {
	in := seg(header) + "." + seg(payload)
	mac := hmac.New(h, secret)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func selfSigned(t testing.TB, key *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func jwkOf(key *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}
}

// Test03JWTForgeries (issue 8, point 3): forged, foreign and ill-claimed
// session JWTs are refused by sessions/authenticate (and by the other
// routes that take a session_jwt), and none of them ever gets a new JWT.
func Test03JWTForgeries(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		pa, pb := l.NewProject(t, "A"), l.NewProject(t, "B")
		victim := newLogin(t, pa)
		attacker := newLogin(t, pa) // the attacker's own, genuine session in A
		foreign := newLogin(t, pb)  // a genuine session of project B

		parts := strings.Split(victim.JWT, ".")
		header, claims := unseg(t, parts[0]), unseg(t, parts[1])
		kid := header["kid"].(string)

		// The published key, as an attacker fetches it (no credentials).
		jwks := do(t, latchtest.Project{URL: l.URL}, http.MethodGet, "/v1/sessions/jwks/"+pa.ID, nil)
		keys, _ := jwks.Get("keys").([]any)
		if len(keys) == 0 {
			t.Fatalf("no keys in %s", jwks.Raw)
		}
		jwk := keys[0].(map[string]any)
		nb, _ := base64.RawURLEncoding.DecodeString(jwk["n"].(string))
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537}
		pkix, _ := x509.MarshalPKIXPublicKey(pub)
		pkcs1 := x509.MarshalPKCS1PublicKey(pub)
		certDER, _ := base64.StdEncoding.DecodeString(jwk["x5c"].([]any)[0].(string))
		jwkJSON, _ := json.Marshal(jwk)

		evil, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		evilKid := "jwk-test-" + uuid.NewString()
		var fetched atomic.Int32 // requests to the attacker's key server
		keySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fetched.Add(1)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwkOf(&evil.PublicKey, kid), jwkOf(&evil.PublicKey, evilKid)}})
		}))
		defer keySrv.Close()

		// signReal mints with project A's real signing key: for claim
		// checks, which must hold even for a correctly signed token.
		signReal := func(mod func(c map[string]any)) string {
			c := clone(claims)
			now := l.Clock.Now().Unix()
			c["iat"], c["nbf"], c["exp"] = now, now, now+300
			mod(c)
			tok, _, err := l.App.Keys.Sign(context.Background(), pa.ID, c)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		hdr := func(kv ...any) map[string]any {
			h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(h, kv[i].(string))
				} else {
					h[kv[i].(string)] = kv[i+1]
				}
			}
			return h
		}

		forgeries := map[string]string{}
		for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
			forgeries["alg "+alg] = seg(hdr("alg", alg)) + "." + parts[1] + "."
			forgeries["alg "+alg+" with the real signature"] = seg(hdr("alg", alg)) + "." + parts[1] + "." + parts[2]
		}
		forgeries["alg missing"] = seg(hdr("alg", nil)) + "." + parts[1] + "." + parts[2]
		pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
		pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1})
		pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
		hmacKeys := map[string][]byte{
			"PEM SPKI": pemPKIX, "PEM SPKI without newline": []byte(strings.TrimSpace(string(pemPKIX))),
			"PEM PKCS1": pemPKCS1, "DER SPKI": pkix, "DER PKCS1": pkcs1, "certificate DER": certDER,
			"certificate PEM": pemCert, "JWK JSON": jwkJSON, "modulus": nb, "modulus base64url": []byte(jwk["n"].(string)),
		}
		for name, secret := range hmacKeys {
			forgeries["HS256 keyed with the public key as "+name] = hs(sha256.New, secret, hdr("alg", "HS256"), claims)
			forgeries["HS512 keyed with the public key as "+name] = hs(sha512.New, secret, hdr("alg", "HS512"), claims)
		}
		evilJWK := jwkOf(&evil.PublicKey, kid)
		forgeries["jwk header with the project's kid"] = rs256(evil, hdr("jwk", evilJWK), claims)
		forgeries["jwk header with its own kid"] = rs256(evil, hdr("kid", evilKid, "jwk", jwkOf(&evil.PublicKey, evilKid)), claims)
		forgeries["jku header with the project's kid"] = rs256(evil, hdr("jku", keySrv.URL+"/jwks.json"), claims)
		forgeries["jku header with its own kid"] = rs256(evil, hdr("kid", evilKid, "jku", keySrv.URL+"/jwks.json"), claims)
		forgeries["x5u header"] = rs256(evil, hdr("x5u", keySrv.URL+"/cert.pem"), claims)
		forgeries["x5c header"] = rs256(evil, hdr("x5c", []string{base64.StdEncoding.EncodeToString(selfSigned(t, evil))}), claims)
		forgeries["unknown kid"] = rs256(evil, hdr("kid", evilKid), claims)
		forgeries["no kid"] = rs256(evil, hdr("kid", nil), claims)
		forgeries["real token, kid swapped"] = seg(hdr("kid", evilKid)) + "." + parts[1] + "." + parts[2]
		forgeries["project B's genuine JWT"] = foreign.JWT
		// Tampered payloads under the real signature.
		tamper := func(mod func(c map[string]any)) string {
			c := clone(claims)
			mod(c)
			return parts[0] + "." + seg(c) + "." + parts[2]
		}
		sessionClaim := "https://stytch.com/session"
		forgeries["tampered: sub"] = tamper(func(c map[string]any) { c["sub"] = attacker.UserID })
		forgeries["tampered: exp"] = tamper(func(c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() })
		forgeries["tampered: session id"] = func() string {
			ap := strings.Split(attacker.JWT, ".")
			c := unseg(t, ap[1])
			s := clone(c[sessionClaim].(map[string]any))
			s["id"] = victim.SessionID
			c[sessionClaim], c["sub"] = s, victim.UserID
			return ap[0] + "." + seg(c) + "." + ap[2]
		}()
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[len(sig)-1] ^= 1
		forgeries["signature bit flipped"] = parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		forgeries["signature removed"] = parts[0] + "." + parts[1] + "."
		forgeries["signature of another token"] = parts[0] + "." + parts[1] + "." + strings.Split(attacker.JWT, ".")[2]
		// Correctly signed by A's key, but the claims are wrong.
		forgeries["aud empty array"] = signReal(func(c map[string]any) { c["aud"] = []string{} })
		forgeries["aud missing"] = signReal(func(c map[string]any) { delete(c, "aud") })
		forgeries["aud names project B"] = signReal(func(c map[string]any) { c["aud"] = []string{pb.ID} })
		forgeries["aud names project B as a string"] = signReal(func(c map[string]any) { c["aud"] = pb.ID })
		forgeries["aud names A's id with another case"] = signReal(func(c map[string]any) { c["aud"] = []string{strings.ToUpper(pa.ID)} })
		forgeries["nbf in the future"] = signReal(func(c map[string]any) { c["nbf"] = l.Clock.Now().Add(time.Hour).Unix() })
		forgeries["iat in the future"] = signReal(func(c map[string]any) { c["iat"] = l.Clock.Now().Add(time.Hour).Unix() })
		forgeries["iss of project B"] = signReal(func(c map[string]any) { c["iss"] = "stytch.com/" + pb.ID })
		forgeries["iss missing"] = signReal(func(c map[string]any) { delete(c, "iss") })
		forgeries["exp missing"] = signReal(func(c map[string]any) { delete(c, "exp") })
		forgeries["sub of another user"] = signReal(func(c map[string]any) { c["sub"] = attacker.UserID })
		forgeries["session of project B"] = signReal(func(c map[string]any) {
			s := clone(c[sessionClaim].(map[string]any))
			s["id"] = foreign.SessionID
			c[sessionClaim], c["sub"] = s, foreign.UserID
		})
		forgeries["typ missing"] = func() string {
			h := hdr("typ", nil)
			c := clone(claims)
			return rs256(evil, h, c)
		}()
		forgeries["not a JWT"] = "not.a.jwt"
		forgeries["two segments"] = parts[0] + "." + parts[1]
		forgeries["JSON serialization"] = `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
		forgeries["huge"] = parts[0] + "." + strings.Repeat("A", 200<<10) + "." + parts[2]

		// Control: the same minting with the claims untouched is accepted,
		// so each refusal below is for what the forgery changed.
		ok(t, pa, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": signReal(func(map[string]any) {})})

		for name, tok := range forgeries {
			r := do(t, pa, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": tok})
			attacksTried.Add(1)
			if r.Status != http.StatusNotFound && r.Status != http.StatusBadRequest {
				t.Errorf("%s: want 404 or 400, got %d: %.300s", name, r.Status, r.Raw)
				continue
			}
			if et := r.ErrorType(); et != "session_not_found" && et != "unable_to_parse_session_jwt" {
				t.Errorf("%s: error_type %q", name, et)
			}
			if e := envelopeErr(r); e != "" {
				t.Errorf("%s: %s", name, e)
			}
			if strings.Contains(string(r.Raw), "eyJ") || leaksCredential(r) != "" {
				t.Errorf("%s: the refusal carries a token: %.300s", name, r.Raw)
			}
		}
		// The strongest forgeries on the other routes that take a JWT: no
		// revocation, no step-up onto the victim's session, no attached email.
		for _, name := range []string{"alg none", "HS256 keyed with the public key as PEM SPKI", "jwk header with the project's kid", "tampered: session id", "sub of another user"} {
			tok := forgeries[name]
			r := do(t, pa, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_jwt": tok})
			refused(t, name+" on revoke", r, r.Status, "")
			if r.Status == http.StatusOK {
				t.Errorf("%s revoked a session", name)
			}
			r = do(t, pa, http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": email("attach"), "session_jwt": tok})
			refused(t, name+" on attach", r, r.Status, "")
			if r.Status == http.StatusOK {
				t.Errorf("%s attached an email to a session's user", name)
			}
		}
		// Custom claims that a JSON decoder may take for a registered or
		// Stytch claim (encoding/json folds case, ſ to s and K to k) are
		// refused like the claims themselves, so no JWT carries them.
		for _, name := range []string{"ISS", "Sub", "sUb", "\u017fub", "EXP", "Exp", "nBf", "Iat", "AUD", "JTI",
			"HTTPS://STYTCH.COM/session", "https://\u017ftytch.com/session", "https://Stytch.com/session"} {
			r := do(t, pa, http.MethodPost, "/v1/sessions/authenticate", `{"session_token":"`+attacker.Token+`","session_custom_claims":{"`+name+`":"`+victim.UserID+`"}}`)
			refused(t, "custom claim "+name, r, http.StatusBadRequest, "")
			if et := r.ErrorType(); et != "reserved_claims_in_custom_claims" && et != "stytch_claims_in_custom_claims" {
				t.Errorf("custom claim %s: error_type %s", name, et)
			}
		}
		if n := fetched.Load(); n != 0 {
			t.Errorf("Latch fetched the attacker's key server %d times", n)
		}
		// Nothing happened to the victim: the session lives, with its
		// one factor, and its genuine JWT works.
		r := ok(t, pa, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": victim.JWT})
		if fs, _ := r.Get("session.authentication_factors").([]any); len(fs) != 1 {
			t.Errorf("the victim's session changed: %s", r.Raw)
		}
		if u := ok(t, pa, http.MethodGet, "/v1/users/"+victim.UserID, nil); len(u.Get("emails").([]any)) != 1 {
			t.Errorf("an email was attached to the victim: %s", u.Raw)
		}
	})
}
