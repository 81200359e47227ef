package api_test

// Session JWTs checked the way an app checks them: with a standard JOSE
// library (go-jose) against the JWKS fetched over HTTP without credentials.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latch-auth/latch/internal/latchtest"
)

// jwtFetchJWKS GETs the project's JWKS with no Authorization header, as
// jose's createRemoteJWKSet does, and returns it parsed by go-jose and raw.
func jwtFetchJWKS(t *testing.T, l *latchtest.Latch, projectID string) (jose.JSONWebKeySet, []map[string]any) {
	t.Helper()
	res, err := http.Get(l.URL + "/v1/sessions/jwks/" + projectID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("JWKS without credentials: %d %s", res.StatusCode, body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("go-jose cannot read the JWKS: %v\n%s", err, body)
	}
	var raw struct {
		Keys       []map[string]any `json:"keys"`
		RequestID  string           `json:"request_id"`
		StatusCode int              `json:"status_code"`
	}
	if err := json.Unmarshal(body, &raw); err != nil || raw.StatusCode != 200 || raw.RequestID == "" {
		t.Fatalf("JWKS envelope: %v %s", err, body)
	}
	return set, raw.Keys
}

// jwtVerified is a JWT that go-jose verified.
type jwtVerified struct {
	KID, Typ string
	Std      jwt.Claims
	All      map[string]any
}

// jwtVerify verifies token with go-jose against set and validates its
// registered claims for project at the given time.
func jwtVerify(token string, set jose.JSONWebKeySet, projectID string, at time.Time) (jwtVerified, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return jwtVerified{}, err
	}
	h := tok.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return jwtVerified{}, errNoKey(h.KeyID)
	}
	var v jwtVerified
	if err := tok.Claims(keys[0].Key, &v.Std, &v.All); err != nil {
		return jwtVerified{}, err
	}
	v.KID = h.KeyID
	v.Typ, _ = h.ExtraHeaders[jose.HeaderType].(string)
	err = v.Std.ValidateWithLeeway(jwt.Expected{Issuer: "stytch.com/" + projectID, AnyAudience: jwt.Audience{projectID}, Time: at}, 0)
	return v, err
}

type errNoKey string

func (e errNoKey) Error() string { return "no key " + string(e) + " in the JWKS" }

// jwtMustVerify is jwtVerify that fails the test.
func jwtMustVerify(t *testing.T, token string, set jose.JSONWebKeySet, projectID string, at time.Time) jwtVerified {
	t.Helper()
	v, err := jwtVerify(token, set, projectID, at)
	if err != nil {
		t.Fatalf("go-jose refuses the session JWT: %v", err)
	}
	return v
}

// jwtHeader decodes a JWT's header without verifying it.
func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	return h
}

func jwtSegment(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// The session JWT is what CONTRACT §5.4 says, verified by go-jose against
// the JWKS served without credentials.
func TestSessionJWTVerifiesWithJOSEAgainstJWKS(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "JOSE")
		login := mlLogin(t, l, p, "gil@example.com", map[string]any{
			"session_duration_minutes": 60,
			"session_custom_claims":    map[string]any{"tier": "gold", "org": map[string]any{"id": "o1"}},
			"attributes":               map[string]any{"ip_address": "203.0.113.9", "user_agent": "UA/1"},
		})
		set, raw := jwtFetchJWKS(t, l, p.ID)
		if len(raw) != 1 {
			t.Fatalf("want 1 key, got %v", raw)
		}
		k := raw[0]
		if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" || !strings.HasPrefix(k["kid"].(string), "jwk-test-") ||
			k["n"] == "" || k["e"] != "AQAB" || len(k["x5c"].([]any)) != 1 || k["x5tS256"] == "" {
			t.Fatalf("JWK fields: %v", k)
		}
		if ops, _ := k["key_ops"].([]any); len(ops) != 1 || ops[0] != "verify" {
			t.Fatalf("key_ops %v, want [verify]", k["key_ops"])
		}

		now := l.Clock.Now()
		v := jwtMustVerify(t, login.Str("session_jwt"), set, p.ID, now)
		if v.Typ != "JWT" || v.KID != k["kid"] {
			t.Errorf("header typ %q kid %q", v.Typ, v.KID)
		}
		if aud, _ := v.All["aud"].([]any); len(aud) != 1 || aud[0] != p.ID {
			t.Errorf("aud %v, want [%s]", v.All["aud"], p.ID)
		}
		if v.Std.Subject != login.Str("user_id") {
			t.Errorf("sub %q, want %q", v.Std.Subject, login.Str("user_id"))
		}
		iat, nbf, exp := v.Std.IssuedAt.Time(), v.Std.NotBefore.Time(), v.Std.Expiry.Time()
		if !iat.Equal(now) || !nbf.Equal(iat) || exp.Sub(iat) != 5*time.Minute {
			t.Errorf("iat %v nbf %v exp %v; want iat = nbf = now %v, exp = iat + 300 s", iat, nbf, exp, now)
		}
		if _, ok := v.All["jti"]; ok {
			t.Errorf("unexpected jti")
		}
		// Custom claims sit at the top level.
		if v.All["tier"] != "gold" || v.All["org"].(map[string]any)["id"] != "o1" {
			t.Errorf("custom claims: %v", v.All)
		}
		sc, ok := v.All["https://stytch.com/session"].(map[string]any)
		if !ok {
			t.Fatalf("no session claim: %v", v.All)
		}
		for _, f := range []string{"started_at", "last_accessed_at", "expires_at"} {
			if sc[f] != login.Str("session."+f) {
				t.Errorf("session claim %s = %v, session says %q", f, sc[f], login.Str("session."+f))
			}
		}
		if sc["id"] != login.Str("session.session_id") {
			t.Errorf("session claim id %v", sc["id"])
		}
		if a := sc["attributes"].(map[string]any); a["ip_address"] != "203.0.113.9" || a["user_agent"] != "UA/1" {
			t.Errorf("session claim attributes %v", a)
		}
		if roles, _ := sc["roles"].([]any); len(roles) == 0 || roles[0] != "stytch_user" {
			t.Errorf("session claim roles %v", sc["roles"])
		}
		if got := jwtFactors(t, login.Str("session_jwt")); len(got) != 1 || got[0] != "magic_link/email" {
			t.Errorf("session claim factors %v", got)
		}
		f := sc["authentication_factors"].([]any)[0].(map[string]any)
		if ef, _ := f["email_factor"].(map[string]any); ef["email_address"] != "gil@example.com" || ef["email_id"] != login.Str("method_id") {
			t.Errorf("email_factor %v", f)
		}

		// The JWKS of an unknown project is a 404 envelope, still without credentials.
		res, err := http.Get(l.URL + "/v1/sessions/jwks/project-test-00000000-0000-4000-8000-000000000000")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("JWKS of unknown project: %d", res.StatusCode)
		}
	})
}

// An expired JWT of a live session is refreshed; a JWT never claims a later
// expiry than its session's (design choice: exp = min(iat+300, expires_at)).
func TestSessionJWTExpiryAndRefresh(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Refresh")
		login := sessLogin(t, l, p, "hal@example.com", 10)
		old := login.Str("session_jwt")
		set, _ := jwtFetchJWKS(t, l, p.ID)

		l.Clock.Advance(5*time.Minute + time.Second)
		if _, err := jwtVerify(old, set, p.ID, l.Clock.Now()); err == nil {
			t.Fatal("go-jose accepts a JWT past its exp")
		}
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": old})
		fresh := r.Str("session_jwt")
		if fresh == old {
			t.Fatal("an expired JWT was served again")
		}
		v := jwtMustVerify(t, fresh, set, p.ID, l.Clock.Now())
		// 4 min 59 s of session left: the JWT ends with the session.
		expires := sessTime(t, r, "session.expires_at")
		if !v.Std.Expiry.Time().Equal(expires) || !v.Std.IssuedAt.Time().Equal(l.Clock.Now()) {
			t.Fatalf("exp %v iat %v; want exp = session expires_at %v, iat = now", v.Std.Expiry.Time(), v.Std.IssuedAt.Time(), expires)
		}

		// Once the session has ended, neither JWT nor token works.
		l.Clock.Advance(5 * time.Minute)
		sessGone(t, p, "session_jwt", fresh)
		sessGone(t, p, "session_jwt", old)
		sessGone(t, p, "session_token", login.Str("session_token"))
	})
}

// TestEveryAuthenticateAnswersWithAJWTMintedForIt: 119 s after login, a
// check of an unchanged session answers with a JWT issued now whose
// last_accessed_at is now, not the login's JWT; within the same second and
// the same session state the bytes are the same (the exact memo).
func TestEveryAuthenticateAnswersWithAJWTMintedForIt(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Truth")
		login := sessLogin(t, l, p, "ria@example.com", 60)
		set, _ := jwtFetchJWKS(t, l, p.ID)
		tok := login.Str("session_token")
		first := login.Str("session_jwt")

		l.Clock.Advance(2*time.Minute - time.Second)
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})
		next := r.Str("session_jwt")
		if next == first {
			t.Fatal("a 119 s old JWT was served again")
		}
		jwtMatchesAnswer(t, r, set, p.ID, l.Clock.Now())
		again := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": tok})
		if again.Str("session_jwt") != next {
			t.Fatal("the same second and the same session state gave another JWT: RS256 is deterministic, so minting is not")
		}

		// A revoked session gets no JWT at all.
		p.OK(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_token": tok})
		sessGone(t, p, "session_token", tok)
	})
}

// A JWT never claims a later expiry than its session has, even when the
// session was shortened moments after a JWT was minted, and an extension
// gets a JWT that claims the new expiry.
func TestShortenedSessionGetsAJWTThatEndsWithIt(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "Shorten")
		login := sessLogin(t, l, p, "lia@example.com", 60)
		set, _ := jwtFetchJWKS(t, l, p.ID)
		l.Clock.Advance(10 * time.Second)
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": login.Str("session_token"), "session_duration_minutes": 5})
		expires := sessTime(t, r, "session.expires_at")
		if want := l.Clock.Now().Add(5 * time.Minute); !expires.Equal(want) {
			t.Fatalf("expires_at %v, want %v", expires, want)
		}
		v := jwtMustVerify(t, r.Str("session_jwt"), set, p.ID, l.Clock.Now())
		sc := v.All["https://stytch.com/session"].(map[string]any)
		claimed, _ := time.Parse(time.RFC3339, sc["expires_at"].(string))
		if claimed.After(expires) || v.Std.Expiry.Time().After(expires) {
			t.Fatalf("the JWT claims expires_at %v (exp %v), later than the session's %v", claimed, v.Std.Expiry.Time(), expires)
		}
		// An extension in the same second gets a JWT claiming the new expiry.
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": login.Str("session_token"), "session_duration_minutes": 60})
		jwtMatchesAnswer(t, r, set, p.ID, l.Clock.Now())
	})
}

// Forged and foreign JWTs are refused: a bad signature, alg none, HS256
// keyed with the public key, a key the project does not have, another
// project's JWT. A token that parses but does not verify is
// session_not_found; one that does not parse is unable_to_parse_session_jwt.
func TestSessionJWTForgeriesRefused(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		a, b := l.NewProject(t, "A"), l.NewProject(t, "B")
		la := sessLogin(t, l, a, "ivy@example.com", 60)
		lb := sessLogin(t, l, b, "ivy@example.com", 60)
		good := la.Str("session_jwt")
		parts := strings.Split(good, ".")
		kid := jwtHeader(t, good)["kid"].(string)
		claims := jwtPayload(t, good)

		refused := func(name, token string) {
			t.Helper()
			r := sessAuth(t, a, map[string]any{"session_jwt": token})
			if r.Status != http.StatusNotFound || r.ErrorType() != "session_not_found" {
				t.Errorf("%s: want 404 session_not_found, got %d %s", name, r.Status, r.Raw)
			}
		}

		// Another user's sub with the original signature.
		forged := map[string]any{}
		for k, v := range claims {
			forged[k] = v
		}
		forged["sub"] = lb.Str("user_id")
		refused("payload changed", parts[0]+"."+jwtSegment(forged)+"."+parts[2])
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[10] ^= 1
		refused("signature changed", parts[0]+"."+parts[1]+"."+base64.RawURLEncoding.EncodeToString(sig))
		refused("alg none", jwtSegment(map[string]any{"alg": "none", "typ": "JWT", "kid": kid})+"."+parts[1]+".")

		// HS256 keyed with the RSA public key's bytes (algorithm confusion).
		set, raw := jwtFetchJWKS(t, l, a.ID)
		pub := set.Key(kid)[0].Key.(*rsa.PublicKey)
		for _, secret := range [][]byte{pub.N.Bytes(), []byte(raw[0]["n"].(string))} {
			signing := jwtSegment(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + parts[1]
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(signing))
			refused("HS256", signing+"."+base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
		}

		// Signed by a key the project does not have, under its kid.
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: other, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		pl, _ := json.Marshal(claims)
		obj, err := signer.Sign(pl)
		if err != nil {
			t.Fatal(err)
		}
		foreign, _ := obj.CompactSerialize()
		refused("foreign key", foreign)
		if _, err := jwtVerify(foreign, set, a.ID, l.Clock.Now()); err == nil {
			t.Fatal("go-jose accepted the forgery: the test is broken")
		}

		// Project B's genuine JWT, presented to project A.
		refused("project B's JWT", lb.Str("session_jwt"))

		// Not a JWS at all.
		a.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": "a.b"}, http.StatusBadRequest, "unable_to_parse_session_jwt")

		// After all that, the real ones still work.
		a.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": good})
		b.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": lb.Str("session_jwt")})
	})
}

// `latch keys rotate`: the new key signs at once, the old one stays in the
// JWKS (and keeps verifying) for the grace period, then leaves. Another
// project's keys are untouched.
func TestSigningKeyRotation(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p, q := l.NewProject(t, "Rotating"), l.NewProject(t, "Bystander")
		before := sessLogin(t, l, p, "jo@example.com", 24*60)
		set1, _ := jwtFetchJWKS(t, l, p.ID)
		old := jwtMustVerify(t, before.Str("session_jwt"), set1, p.ID, l.Clock.Now())
		_, qBefore := jwtFetchJWKS(t, l, q.ID)

		nk, err := l.App.Keys.Rotate(context.Background(), p.ID, false, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if nk.KID == old.KID {
			t.Fatal("rotation kept the kid")
		}

		// At once, even for the unchanged session whose JWT was minted
		// moments ago.
		r := p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": before.Str("session_token")})
		if h := jwtHeader(t, r.Str("session_jwt")); h["kid"] != nk.KID {
			t.Fatalf("JWT right after rotation signed with %v, want the new key %s", h["kid"], nk.KID)
		}
		// And a new login.
		after := sessLogin(t, l, p, "jo@example.com", 24*60)
		set2, raw2 := jwtFetchJWKS(t, l, p.ID)
		if len(raw2) != 2 || raw2[0]["kid"] != nk.KID || raw2[1]["kid"] != old.KID {
			t.Fatalf("JWKS after rotation: want [new, old], got %v", raw2)
		}
		if v := jwtMustVerify(t, after.Str("session_jwt"), set2, p.ID, l.Clock.Now()); v.KID != nk.KID {
			t.Fatalf("new JWT signed with %s, want the new key %s", v.KID, nk.KID)
		}
		// So is a refreshed JWT of a session that started before.
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": before.Str("session_token"), "session_duration_minutes": 24 * 60})
		if v := jwtMustVerify(t, r.Str("session_jwt"), set2, p.ID, l.Clock.Now()); v.KID != nk.KID {
			t.Fatalf("refreshed JWT signed with %s, want %s", v.KID, nk.KID)
		}
		// The old JWT still verifies, locally and at Latch.
		jwtMustVerify(t, before.Str("session_jwt"), set2, p.ID, l.Clock.Now())
		p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": before.Str("session_jwt")})

		// Past the grace, the old key is gone; the new one remains.
		l.Clock.Advance(time.Hour + time.Second)
		set3, raw3 := jwtFetchJWKS(t, l, p.ID)
		if len(raw3) != 1 || raw3[0]["kid"] != nk.KID {
			t.Fatalf("JWKS after grace: %v", raw3)
		}
		if _, err := jwtVerify(before.Str("session_jwt"), set3, p.ID, l.Clock.Now()); err == nil {
			t.Fatal("old JWT verifies after the grace")
		}
		sessGone(t, p, "session_jwt", before.Str("session_jwt"))
		// The session itself lives on, with JWTs from the new key.
		r = p.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": before.Str("session_token")})
		if v := jwtMustVerify(t, r.Str("session_jwt"), set3, p.ID, l.Clock.Now()); v.KID != nk.KID {
			t.Fatalf("JWT after grace signed with %s", v.KID)
		}

		_, qAfter := jwtFetchJWKS(t, l, q.ID)
		if len(qAfter) != 1 || qAfter[0]["kid"] != qBefore[0]["kid"] {
			t.Fatalf("the other project's keys changed: %v → %v", qBefore, qAfter)
		}
	})
}

// Project B can neither see, authenticate, revoke nor verify project A's
// sessions, whatever identifier it holds.
func TestProjectBCannotSeeOrRevokeProjectASessions(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		a, b := l.NewProject(t, "A"), l.NewProject(t, "B")
		la := sessLogin(t, l, a, "kim@example.com", 60)
		sessLogin(t, l, b, "kim@example.com", 60) // B has a user with the same address
		user, id, token, jwtA := la.Str("user_id"), la.Str("session.session_id"), la.Str("session_token"), la.Str("session_jwt")

		b.Fail(t, http.MethodGet, "/v1/sessions?user_id="+user, nil, http.StatusNotFound, "user_not_found")
		b.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token}, http.StatusNotFound, "session_not_found")
		b.Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": jwtA}, http.StatusNotFound, "session_not_found")
		b.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_id": id}, http.StatusNotFound, "session_not_found")
		b.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_token": token}, http.StatusNotFound, "session_not_found")
		b.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_jwt": jwtA}, http.StatusNotFound, "session_not_found")
		b.Fail(t, http.MethodPost, "/v1/sessions/revoke", map[string]any{"user_id": user}, http.StatusNotFound, "user_not_found")

		// B's keys do not verify A's JWT.
		setB, _ := jwtFetchJWKS(t, l, b.ID)
		if _, err := jwtVerify(jwtA, setB, a.ID, l.Clock.Now()); err == nil {
			t.Fatal("project B's JWKS verifies project A's JWT")
		}
		if _, err := jwtVerify(jwtA, setB, b.ID, l.Clock.Now()); err == nil {
			t.Fatal("project A's JWT passes as project B's")
		}

		// A's session is untouched by all of that.
		r := a.OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
		if r.Str("session.session_id") != id {
			t.Fatalf("A's session changed: %s", r.Raw)
		}
		if got := sessIDs(t, a, user); len(got) != 1 || got[0] != id {
			t.Fatalf("A's sessions: %v", got)
		}
	})
}
