package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/keys"
)

// FuzzVerify feeds Verify three kinds of token (seed corpus in
// testdata/fuzz/FuzzVerify):
//
//   - mode 0: the fuzzed header and payload, signed with the project's real
//     key (KID, PID and NOW in them stand for the key id, the project id and
//     the time). Verify may accept one only if it is a session JWT of the
//     project by the exact JSON: alg RS256, typ JWT, the project's kid, iss
//     stytch.com/<project>, aud naming the project, iat and exp present, iat
//     and nbf not in the future.
//   - mode 1: a template where HDR, PLD and SIG stand for the segments of a
//     genuine token. Verify may accept it only if the three segments decode
//     to the genuine ones.
//   - mode 2: the string as is, which no one signed: never accepted.
//
// Verify never panics, and fails only with ErrMalformed or ErrInvalid.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	pid, sk := fx.project(f, false)
	priv := fx.privateKey(f, sk)
	now := fx.clk.Now()
	genuine := fx.sign(f, pid, claims(pid, now))
	g := strings.Split(genuine, ".")
	fill := func(b []byte) []byte {
		r := strings.NewReplacer("KID", sk.KID, "PID", pid, "NOW", strconv.FormatInt(now.Unix(), 10))
		return []byte(r.Replace(string(b)))
	}
	f.Fuzz(func(t *testing.T, mode uint8, header, payload []byte, tmpl string) {
		var token string
		switch mode % 3 {
		case 0:
			header, payload = fill(header), fill(payload)
			in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
			sum := sha256.Sum256([]byte(in))
			sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			token = in + "." + base64.RawURLEncoding.EncodeToString(sig)
		case 1:
			token = strings.NewReplacer("HDR", g[0], "PLD", g[1], "SIG", g[2]).Replace(tmpl)
		default:
			token = tmpl
		}
		c, err := fx.k.Verify(context.Background(), pid, token)
		if err != nil {
			if !errors.Is(err, keys.ErrMalformed) && !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("Verify(%q): unexpected error %v", token, err)
			}
			return
		}
		switch mode % 3 {
		case 0:
			checkAccepted(t, header, payload, sk.KID, pid, now, c)
		case 1:
			parts := strings.Split(token, ".")
			if len(parts) != 3 {
				t.Fatalf("Verify accepted %q, which is not three segments", token)
			}
			for i := range parts {
				a, _ := base64.RawURLEncoding.DecodeString(parts[i])
				b, _ := base64.RawURLEncoding.DecodeString(g[i])
				if !bytes.Equal(a, b) {
					t.Fatalf("Verify accepted %q, a changed genuine token (segment %d)", token, i)
				}
			}
		default:
			t.Fatalf("Verify accepted %q, which no one signed", token)
		}
	})
}

// checkAccepted fails unless a token Verify accepted is a session JWT of
// the project, read as plain JSON with exact, case-sensitive names.
func checkAccepted(t *testing.T, header, payload []byte, kid, pid string, now time.Time, c keys.Claims) {
	t.Helper()
	var h, p map[string]any
	if json.Unmarshal(header, &h) != nil || json.Unmarshal(payload, &p) != nil {
		t.Fatalf("Verify accepted a header %q or payload %q that is not a JSON object", header, payload)
	}
	if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] != kid {
		t.Fatalf("Verify accepted the header %s", header)
	}
	if p["iss"] != "stytch.com/"+pid {
		t.Fatalf("Verify accepted iss %v in %s", p["iss"], payload)
	}
	switch aud := p["aud"].(type) {
	case string:
		if aud != pid {
			t.Fatalf("Verify accepted aud %q", aud)
		}
	case []any:
		if !slices.Contains(aud, any(pid)) {
			t.Fatalf("Verify accepted aud %v", aud)
		}
	default:
		t.Fatalf("Verify accepted aud %v in %s", p["aud"], payload)
	}
	leeway := float64(now.Add(5 * time.Second).Unix())
	iat, ok1 := p["iat"].(float64)
	_, ok2 := p["exp"].(float64)
	if !ok1 || !ok2 || iat > leeway {
		t.Fatalf("Verify accepted iat/exp %v/%v in %s", p["iat"], p["exp"], payload)
	}
	if nbf, ok := p["nbf"]; ok {
		if v, isNum := nbf.(float64); !isNum || v > leeway {
			t.Fatalf("Verify accepted nbf %v", nbf)
		}
	}
	if c.Subject != p["sub"] && !(c.Subject == "" && p["sub"] == nil) {
		t.Fatalf("Verify reports sub %q for %v", c.Subject, p["sub"])
	}
}
