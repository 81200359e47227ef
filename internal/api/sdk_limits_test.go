package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// The SDK's sends are limited per IP address in the database: two nodes
// sharing it count together, and the 21st send in a minute from one
// address is refused whichever node it reaches. The injected clock's next
// minute starts a new window.
func TestSDKSendsFromOneAddressAreLimitedAcrossNodes(t *testing.T) {
	sessBackends(t, func(t *testing.T, a *latchtest.Latch) {
		b := latchtest.Start(t, latchtest.Options{Backend: backendOf(a), Database: a.Database, MasterKey: a.MasterKey, Clock: a.Clock, Mail: a.Mail, SMS: a.SMS})
		_, ca := a.NewSDKProject(t, "Limits", sdkOrigin)
		cb := ca
		cb.URL = b.URL
		seq := sdkSeq.Add(1000)
		send := func(c latchtest.SDK, i int) latchtest.SDKResponse {
			return c.Do(t, http.MethodPost, "/otps/sms/login_or_create", map[string]any{"phone_number": fmt.Sprintf("+1202555%04d", (seq*100+int64(i))%10000)})
		}
		for i := range 20 {
			c := ca
			if i%2 == 1 {
				c = cb
			}
			if r := send(c, i); r.Status != 200 {
				t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
			}
		}
		for _, c := range []latchtest.SDK{ca, cb} {
			if r := send(c, 20); r.Status != 429 || r.ErrorType() != "too_many_requests" {
				t.Fatalf("send past the limit on %s: %d %s", c.URL, r.Status, r.Raw)
			}
		}
		a.Clock.Advance(61e9)
		if r := send(cb, 21); r.Status != 200 {
			t.Fatalf("next minute: %d %s", r.Status, r.Raw)
		}
	})
}

func backendOf(l *latchtest.Latch) string {
	if l.App.Store.Backend() == "postgres" {
		return "postgres"
	}
	return "sqlite"
}
