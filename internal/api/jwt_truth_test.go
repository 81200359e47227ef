package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// jwtMatchesAnswer checks the rule every answer with a session JWT holds:
// the JWT verifies against the JWKS, was issued at the answer's time (iat =
// nbf = now), expires at min(iat + 5 min, the session's expires_at), names
// the answer's user, and its session claim and custom claims equal the
// answer's session field for field.
func jwtMatchesAnswer(t *testing.T, r latchtest.Response, set jose.JSONWebKeySet, projectID string, now time.Time) {
	t.Helper()
	token := r.Str("session_jwt")
	if token == "" {
		t.Fatalf("no session_jwt in %s", r.Raw)
	}
	v := jwtMustVerify(t, token, set, projectID, now)
	sess, _ := r.Get("session").(map[string]any)
	if sess == nil {
		t.Fatalf("no session in %s", r.Raw)
	}
	expires := sessTime(t, r, "session.expires_at")
	wantExp := now.Add(5 * time.Minute)
	if expires.Before(wantExp) {
		wantExp = expires
	}
	iat, nbf := v.Std.IssuedAt.Time(), v.Std.NotBefore.Time()
	if !iat.Equal(now) || !nbf.Equal(now) || !v.Std.Expiry.Time().Equal(wantExp) {
		t.Fatalf("JWT iat %v nbf %v exp %v; want iat = nbf = the answer's time %v and exp %v", iat, nbf, v.Std.Expiry.Time(), now, wantExp)
	}
	if v.Std.Subject != r.Str("session.user_id") {
		t.Fatalf("JWT sub %q, answer's user %q", v.Std.Subject, r.Str("session.user_id"))
	}
	claim, _ := v.All["https://stytch.com/session"].(map[string]any)
	// The claim names the session "id"; the answer "session_id". Factors
	// and attributes are the same objects.
	want := map[string]any{
		"id":                     sess["session_id"],
		"started_at":             sess["started_at"],
		"last_accessed_at":       sess["last_accessed_at"],
		"expires_at":             sess["expires_at"],
		"attributes":             sess["attributes"],
		"authentication_factors": sess["authentication_factors"],
		"roles":                  sess["roles"],
	}
	if !reflect.DeepEqual(normalize(claim), normalize(want)) {
		t.Fatalf("the JWT's session claim differs from the answer's session:\nJWT:    %s\nanswer: %s", mustJSON(claim), mustJSON(want))
	}
	if la := sessTime(t, r, "session.last_accessed_at"); !la.Equal(now) {
		t.Fatalf("answer's last_accessed_at %v, want now %v", la, now)
	}
	custom := map[string]any{}
	for k, val := range v.All {
		switch k {
		case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "https://stytch.com/session":
		default:
			custom[k] = val
		}
	}
	if !reflect.DeepEqual(normalize(custom), normalize(sess["custom_claims"])) {
		t.Fatalf("the JWT's custom claims %s differ from the answer's %s", mustJSON(custom), mustJSON(sess["custom_claims"]))
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// normalize round-trips v through JSON so that values compare by content.
func normalize(v any) any {
	var out any
	if err := json.Unmarshal([]byte(mustJSON(v)), &out); err != nil {
		panic(err)
	}
	return out
}

// TestNoJWTEverDiffersFromItsAnswer is a property test: random sequences of
// checks by token and by JWT, extensions (longer and shorter), custom-claim
// changes, factors joining the session by SMS passcode and by magic link,
// and the clock moving (by up to 7 minutes, so JWTs expire and sessions
// end), on every backend. Every answer carrying a JWT must carry the one
// minted for it (jwtMatchesAnswer). The seed is logged; LATCH_TRUTH_SEED
// replays one.
func TestNoJWTEverDiffersFromItsAnswer(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LATCH_TRUTH_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (LATCH_TRUTH_SEED=%d replays it)", seed, seed)
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		rng := rand.New(rand.NewPCG(seed, 7))
		p := l.NewProject(t, "Truth property")
		// The sequence sends many codes and links to one address and one
		// number: lift the per-recipient limit (5 a minute) out of the way.
		sends := 1000
		if _, err := l.App.Service.UpdateProjectSettings(context.Background(), p.ID, auth.ProjectSettings{RecipientSendsPerMinute: &sends}); err != nil {
			t.Fatal(err)
		}
		const email, phone = "prop@example.com", "+14155550123"
		created := p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": email, "phone_number": phone})
		phoneID := created.Str("phone_id")
		set, _ := jwtFetchJWKS(t, l, p.ID)

		var token, jwt string
		var expires time.Time
		login := func() {
			r := mlLogin(t, l, p, email, map[string]any{"session_duration_minutes": 5 + rng.IntN(30)})
			jwtMatchesAnswer(t, r, set, p.ID, l.Clock.Now())
			token, jwt, expires = r.Str("session_token"), r.Str("session_jwt"), sessTime(t, r, "session.expires_at")
		}
		login()
		var ops []string
		for step := range 60 {
			now := l.Clock.Now()
			body := map[string]any{}
			op := rng.IntN(8)
			path := "/v1/sessions/authenticate"
			switch op {
			case 0: // time passes
				d := time.Duration(rng.IntN(420)) * time.Second
				l.Clock.Advance(d)
				ops = append(ops, "wait "+d.String())
				continue
			case 1:
				body["session_token"] = token
			case 2:
				body["session_jwt"] = jwt
			case 3:
				body["session_token"] = token
				body["session_duration_minutes"] = 5 + rng.IntN(60)
			case 4:
				body["session_jwt"] = jwt
				body["session_custom_claims"] = map[string]any{fmt.Sprintf("k%d", rng.IntN(4)): rng.IntN(100)}
			case 5:
				body["session_token"] = token
				body["session_custom_claims"] = map[string]any{fmt.Sprintf("k%d", rng.IntN(4)): nil, "plan": []string{"a", "b", "c"}[rng.IntN(3)]}
				body["session_duration_minutes"] = 5 + rng.IntN(60)
			case 6: // an SMS passcode joins the session
				if !now.Before(expires) {
					break
				}
				_, code := otpSend(t, l, p, "sms", "send", map[string]any{"phone_number": phone})
				path = "/v1/otps/authenticate"
				body = map[string]any{"method_id": phoneID, "code": code, "session_token": token}
			case 7: // a magic link joins the session
				if !now.Before(expires) {
					break
				}
				path = "/v1/magic_links/authenticate"
				body = map[string]any{"token": mlToken(t, l, p, email), "session_jwt": jwt}
			}
			if len(body) == 0 {
				continue
			}
			ops = append(ops, fmt.Sprintf("%s %v", path, keysOf(body)))
			r := p.Do(t, http.MethodPost, path, body)
			if !now.Before(expires) {
				if r.Status != http.StatusNotFound {
					t.Fatalf("step %d: %s on an ended session: %d %s\nops: %v", step, path, r.Status, r.Raw, ops)
				}
				login()
				continue
			}
			if r.Status != http.StatusOK {
				t.Fatalf("step %d: %s: %d %s\nops: %v", step, path, r.Status, r.Raw, ops)
			}
			jwtMatchesAnswer(t, r, set, p.ID, now)
			token, jwt, expires = r.Str("session_token"), r.Str("session_jwt"), sessTime(t, r, "session.expires_at")
		}
	})
}

func keysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		if k != "token" && k != "code" && !strings.HasPrefix(k, "session_t") && !strings.HasPrefix(k, "session_j") {
			ks = append(ks, fmt.Sprintf("%s=%v", k, m[k]))
		} else {
			ks = append(ks, k)
		}
	}
	return strings.Join(ks, ",")
}
