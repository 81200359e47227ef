package api_test

import (
	"fmt"
	"net/http"
	"net/netip"
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

// Behind a trusted reverse proxy each client is counted under the address
// the proxy saw (the rightmost untrusted one of X-Forwarded-For), so one
// client's flood does not stop the others; without --trusted-proxies the
// header is not believed and every request counts under the connection's
// address.
func TestSDKSendLimitsCountTheClientBehindATrustedProxy(t *testing.T) {
	for _, trust := range []bool{true, false} {
		t.Run(fmt.Sprint("trusted=", trust), func(t *testing.T) {
			t.Parallel()
			o := latchtest.Options{}
			if trust {
				o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			l := latchtest.Start(t, o)
			_, c := l.NewSDKProject(t, "Proxied", sdkOrigin)
			send := func(xff string) latchtest.SDKResponse {
				req := c.Request(t, http.MethodPost, "/sdk/v1/otps/sms/login_or_create", map[string]any{"phone_number": sdkPhone()})
				req.Header.Set("X-Forwarded-For", xff)
				return c.Send(t, req)
			}
			// The client's own (spoofed) left part is not believed.
			for i := range 20 {
				if r := send(fmt.Sprintf("198.51.100.%d, 203.0.113.1", i)); r.Status != 200 {
					t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
				}
			}
			if r := send("203.0.113.1"); r.Status != 429 {
				t.Fatalf("21st send of one client: %d %s", r.Status, r.Raw)
			}
			other := send("203.0.113.2")
			if trust && other.Status != 200 {
				t.Fatalf("another client behind the proxy was refused: %d %s", other.Status, other.Raw)
			}
			if !trust && other.Status != 429 {
				t.Fatalf("without trusted proxies X-Forwarded-For was believed: %d %s", other.Status, other.Raw)
			}
		})
	}
}

// An IPv6 client is counted by its /64: fresh addresses of one block share
// the limit; another block does not.
func TestSDKSendLimitsCountIPv6ByItsSlash64(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	_, c := l.NewSDKProject(t, "IPv6", sdkOrigin)
	send := func(xff string) int {
		req := c.Request(t, http.MethodPost, "/sdk/v1/otps/sms/login_or_create", map[string]any{"phone_number": sdkPhone()})
		req.Header.Set("X-Forwarded-For", xff)
		return c.Send(t, req).Status
	}
	for i := range 20 {
		if st := send(fmt.Sprintf("2001:db8:1:2::%x", i+1)); st != 200 {
			t.Fatalf("send %d: %d", i, st)
		}
	}
	if st := send("2001:db8:1:2:ffff::1"); st != 429 {
		t.Fatalf("a fresh address of the same /64: %d", st)
	}
	if st := send("2001:db8:1:3::1"); st != 200 {
		t.Fatalf("another /64: %d", st)
	}
}
