package attack

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/secret"
)

// TOTP secrets and recovery codes never rest in plain text: the secret is
// sealed under the master key, each recovery code is kept as an HMAC and a
// sealed copy (erased once used). A dump of the database holds none of
// them in any usual encoding.
func TestTOTPSecretsAndRecoveryCodesDoNotRestInPlainText(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		p := l.NewProject(t, "totp at rest")
		var forms [][]byte
		var names []string
		for range 3 {
			u := user(t, p, map[string]any{"email": email("totp-rest")}).Str("user_id")
			r := ok(t, p, http.MethodPost, "/v1/totps", map[string]any{"user_id": u})
			key, err := secret.TOTPEncoding.DecodeString(r.Str("secret"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range append(bytesForms(key), []byte(r.Str("secret")), []byte(strings.ToLower(r.Str("secret")))) {
				forms, names = append(forms, f), append(names, "totp secret")
			}
			codes, _ := r.Get("recovery_codes").([]any)
			ok(t, p, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": u, "totp_code": secret.TOTPCode(key, secret.TOTPStep(l.Clock.Now()))})
			ok(t, p, http.MethodPost, "/v1/totps/recover", map[string]any{"user_id": u, "recovery_code": codes[0]})
			for _, c := range codes {
				s := c.(string)
				forms, names = append(forms, []byte(s), []byte(strings.ReplaceAll(s, "-", ""))), append(names, "recovery code", "recovery code")
			}
		}
		all := dump(t, backend, l)
		for i, f := range forms {
			if bytes.Contains(all, f) {
				t.Errorf("a %s rests in plain text (%q)", names[i], f)
			}
		}
	})
}

// Two nodes on one database, the same TOTP code sent to both at once
// several times: exactly one login; the last accepted step lives in the
// database, not in a node's memory.
func TestTheSameTOTPCodeOnTwoNodesLogsInOnce(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		a, b := twoNodes(t, backend)
		pa := a.NewProject(t, "totp two nodes")
		pb := pa.On(b)
		u := user(t, pa, map[string]any{"email": email("totp-nodes")}).Str("user_id")
		r := ok(t, pa, http.MethodPost, "/v1/totps", map[string]any{"user_id": u})
		key, _ := secret.TOTPEncoding.DecodeString(r.Str("secret"))
		code := secret.TOTPCode(key, secret.TOTPStep(a.Clock.Now()))
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			p := pa
			if i%2 == 1 {
				p = pb
			}
			wg.Go(func() {
				<-start
				r := do(t, p, http.MethodPost, "/v1/totps/authenticate", map[string]any{"user_id": u, "totp_code": code, "session_duration_minutes": 10})
				mu.Lock()
				got[fmt.Sprint(r.Status, " ", r.ErrorType())]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if got["200 "] != 1 || got["400 totp_code_already_authenticated"] != 7 {
			t.Fatalf("want one 200 and seven totp_code_already_authenticated: %v", got)
		}
	})
}
