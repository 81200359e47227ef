package keys_test

import (
	"context"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latch-auth/latch/internal/keys"
)

// TestTheMemoServesExactlyWhatSigningWouldProduce: Sign may hand back a
// token it signed a moment ago, but only one byte-for-byte equal to what
// minting now would produce. The memo's answer is compared with a fresh
// node's (no memo) and with a JWS made independently by go-jose over Go's
// crypto/rsa with the same private key (RS256 is deterministic), which also
// shows that the OpenSSL signer, where it is in use, signs exactly as Go does.
func TestTheMemoServesExactlyWhatSigningWouldProduce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, sk := f.project(t, false)
	c := claims(pid, f.clk.Now())

	first := f.sign(t, pid, c)
	served := f.sign(t, pid, c)
	if got := f.k.Signatures(); got != 1 {
		t.Fatalf("two Signs of the same claims in the same second made %d signatures, want 1 (the second from the memo)", got)
	}
	otherNode := keys.New(f.st, f.ring, f.clk.Now)
	minted, _, err := otherNode.Sign(ctx, pid, c)
	if err != nil {
		t.Fatal(err)
	}
	independent := joseSign(t, jose.RS256, jose.JSONWebKey{Key: f.privateKey(t, sk), KeyID: sk.KID}, c, (&jose.SignerOptions{}).WithType("JWT"))
	for name, tok := range map[string]string{"served from the memo": served, "minted by a node without a memo": minted, "signed by go-jose with crypto/rsa": independent} {
		if tok != first {
			t.Fatalf("%s differs from the first mint (signer %s):\n%s\n%s", name, keys.SignerName(), tok, first)
		}
	}

	// Anything else in the payload is signed anew.
	c2 := claims(pid, f.clk.Now())
	c2["plan"] = "silver"
	if f.sign(t, pid, c2) == first || f.k.Signatures() != 2 {
		t.Fatalf("other claims were served the memo (%d signatures)", f.k.Signatures())
	}
	f.clk.Advance(time.Second)
	if f.sign(t, pid, claims(pid, f.clk.Now())) == first || f.k.Signatures() != 3 {
		t.Fatal("a JWT of the next second was served the memo")
	}
	// After a rotation the memo never serves the old key's token.
	if _, err := f.k.Rotate(ctx, pid, false, 0); err != nil {
		t.Fatal(err)
	}
	if h, _ := segments(t, f.sign(t, pid, c)); h["kid"] == sk.KID {
		t.Fatal("the memo served a JWT of the replaced key")
	}
}

// jwksCacheMaxAge is how long jose (in Stytch's Node SDK) uses a fetched
// JWKS before fetching it again (createRemoteJWKSet's cacheMaxAge).
const jwksCacheMaxAge = 10 * time.Minute

// rotationTimeline rotates pid's key (with lead) at start and records, every
// step from start-jwksCacheMaxAge to start+lead+jwksCacheMaxAge, the kids of
// the JWKS and the kid that signs, on two nodes. It reports every (fetch,
// sign) pair in which a verifier that fetched the JWKS at fetch, and still
// holds it as fresh at sign, would meet a kid it does not know.
func rotationTimeline(t *testing.T, lead time.Duration) (misses []string) {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	pid, _ := f.project(t, false)
	nodeB := keys.New(f.st, f.ring, f.clk.Now)
	const step = 15 * time.Second
	type moment struct {
		at          time.Time
		jwks        []string
		signA, sigB string
	}
	var line []moment
	start := f.clk.Now().Add(jwksCacheMaxAge)
	rotated := false
	for at := f.clk.Now(); !at.After(start.Add(lead + jwksCacheMaxAge)); at = at.Add(step) {
		f.clk.Advance(at.Sub(f.clk.Now()))
		if !rotated && !at.Before(start) {
			if _, err := f.k.RotateWithLead(ctx, pid, false, lead, 0); err != nil {
				t.Fatal(err)
			}
			rotated = true
		}
		line = append(line, moment{at, jwksKIDs(t, f.k, pid), signedKID(t, f.k, pid, at), signedKID(t, nodeB, pid, at)})
	}
	for i, fetch := range line {
		for _, sign := range line[i:] {
			if sign.at.Sub(fetch.at) >= jwksCacheMaxAge {
				break // jose fetches the set again before verifying
			}
			if sign.signA != sign.sigB {
				t.Fatalf("at %v node A signs with %s, node B with %s", sign.at.Sub(start), sign.signA, sign.sigB)
			}
			if !slices.Contains(fetch.jwks, sign.signA) {
				misses = append(misses, "fetched at "+fetch.at.Sub(start).String()+", signed at "+sign.at.Sub(start).String())
			}
		}
	}
	return misses
}

// TestARotationWithTheDefaultLeadIsInvisibleToEveryVerifier: with
// `latch keys rotate` (a 10-minute lead), a verifier holding a JWKS it
// fetched at any moment, before or after the rotation, knows the kid of
// every JWT signed while that JWKS is fresh to it: none ever depends on
// jose's refetch for an unknown kid (and its 30 s cooldown). Both nodes
// switch at the same instant with no message between them.
func TestARotationWithTheDefaultLeadIsInvisibleToEveryVerifier(t *testing.T) {
	if misses := rotationTimeline(t, keys.DefaultLead); len(misses) > 0 {
		t.Fatalf("%d verifier caches would meet an unknown kid, e.g. %s", len(misses), misses[0])
	}
}

// TestARotationWithoutALeadIsSeenByVerifiers is the emergency rotation
// (`--now`): verifiers whose JWKS predates it meet the new kid at once.
// It is also what the test above would see if the lead did nothing.
func TestARotationWithoutALeadIsSeenByVerifiers(t *testing.T) {
	if misses := rotationTimeline(t, 0); len(misses) == 0 {
		t.Fatal("an immediate rotation was invisible to verifiers: the timeline checks nothing")
	}
}

// TestDuringTheLeadTheOldKeySignsAndBothVerify: during the lead the new
// key is published but the old one signs; JWTs of both verify, and the
// old key stays in the JWKS for the grace after the switch.
func TestDuringTheLeadTheOldKeySignsAndBothVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, first := f.project(t, false)
	second, err := f.k.RotateWithLead(ctx, pid, false, time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{second.KID, first.KID}) {
		t.Fatalf("JWKS right after the rotation = %v, want both", kids)
	}
	if kid := signedKID(t, f.k, pid, f.clk.Now()); kid != first.KID {
		t.Fatalf("during the lead signed with %s, want the old key", kid)
	}
	f.clk.Advance(time.Minute - time.Second)
	if kid := signedKID(t, f.k, pid, f.clk.Now()); kid != first.KID {
		t.Fatalf("1 s before the switch signed with %s", kid)
	}
	f.clk.Advance(time.Second)
	newTok := f.sign(t, pid, claims(pid, f.clk.Now()))
	if h, _ := segments(t, newTok); h["kid"] != second.KID {
		t.Fatalf("at the switch signed with %v, want the new key", h["kid"])
	}
	if _, err := f.k.Verify(ctx, pid, newTok); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour - time.Second)
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{second.KID, first.KID}) {
		t.Fatalf("JWKS within the grace after the switch = %v", kids)
	}
	f.clk.Advance(keys.CacheTTL)
	if kids := jwksKIDs(t, f.k, pid); !slices.Equal(kids, []string{second.KID}) {
		t.Fatalf("JWKS after the grace = %v", kids)
	}
	// An emergency rotation during a lead signs at once.
	third, err := f.k.RotateWithLead(ctx, pid, false, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	fourth, err := f.k.Rotate(ctx, pid, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if kid := signedKID(t, f.k, pid, f.clk.Now()); kid != fourth.KID {
		t.Fatalf("after --now during a lead signed with %s, want %s (not %s)", kid, fourth.KID, third.KID)
	}
	if _, err := f.k.RotateWithLead(ctx, pid, false, -time.Second, 0); err == nil {
		t.Fatal("a negative lead was accepted")
	}
}
