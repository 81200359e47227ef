package attack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Test12RateLimits (issue 8, point 12): sends are limited to 5 a minute per
// recipient (whatever the channel, route, spelling of the address or node)
// and 100,000 a minute per project, counted in the database so the limits
// hold across nodes and under concurrency; past a limit a send is 429
// too_many_requests and queues nothing; the next window sends again.
func Test12RateLimits(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		a, b := twoNodes(t, backend)
		p := a.NewProject(t, "rate limits")
		nodes := []latchtest.Project{p, p.On(b)}
		const perRecipient = 5

		t.Run("per recipient, across routes, spellings and nodes", func(t *testing.T) {
			addr := email("flood")
			user(t, p, map[string]any{"email": addr})
			spellings := []string{addr, strings.ToUpper(addr), " " + addr + " ", strings.ToUpper(addr[:1]) + addr[1:]}
			routes := []string{"/v1/magic_links/email/login_or_create", "/v1/magic_links/email/send", "/v1/otps/email/login_or_create", "/v1/otps/email/send"}
			for i := range perRecipient {
				ok(t, nodes[i%2], http.MethodPost, routes[i%len(routes)], map[string]any{"email": spellings[i%len(spellings)]})
			}
			for i, route := range routes {
				r := do(t, nodes[(i+1)%2], http.MethodPost, route, map[string]any{"email": spellings[i%len(spellings)]})
				refused(t, "send past the limit by "+route, r, http.StatusTooManyRequests, "too_many_requests")
			}
			if n := outboxTo(t, a, addr); n != perRecipient {
				t.Errorf("%d messages queued to %s, want %d", n, addr, perRecipient)
			}
			a.Clock.Advance(time.Minute)
			ok(t, nodes[1], http.MethodPost, routes[0], map[string]any{"email": addr})
		})

		t.Run("per phone, across SMS, WhatsApp and formats", func(t *testing.T) {
			num := phone(t)
			pretty := num[:2] + " (" + num[2:5] + ") " + num[5:8] + "-" + num[8:]
			for i := range perRecipient {
				ch := []string{"sms", "whatsapp"}[i%2]
				n := []string{num, pretty}[i%2]
				ok(t, nodes[i%2], http.MethodPost, "/v1/otps/"+ch+"/login_or_create", map[string]any{"phone_number": n})
			}
			for _, ch := range []string{"sms", "whatsapp"} {
				refused(t, ch+" past the limit", do(t, nodes[1], http.MethodPost, "/v1/otps/"+ch+"/send", map[string]any{"phone_number": pretty}), http.StatusTooManyRequests, "too_many_requests")
			}
		})

		t.Run("per recipient under concurrency on two nodes", func(t *testing.T) {
			addr := email("burst")
			const n = 24
			replies := make([]resp, n)
			if err := parallel(n, func(i int) error {
				r, err := exchange(nodes[i%2], http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
				replies[i] = r
				return err
			}); err != nil {
				t.Fatal(err)
			}
			sent := 0
			for i, r := range replies {
				switch {
				case r.Status == http.StatusOK:
					sent++
				default:
					refused(t, fmt.Sprintf("concurrent send %d", i), r, http.StatusTooManyRequests, "too_many_requests")
				}
			}
			if sent != perRecipient {
				t.Errorf("%d of %d concurrent sends to one address went through, want %d", sent, n, perRecipient)
			}
			if q := outboxTo(t, a, strings.ToLower(addr)); q != sent {
				t.Errorf("%d messages queued for %d sends answered 200", q, sent)
			}
		})

		t.Run("per project, on every node", func(t *testing.T) {
			// Fill the project's counter for this minute to its limit in
			// the database, as 100,000 sends would.
			window := a.App.Service.Now().Truncate(time.Minute).UnixMilli()
			q := `INSERT INTO rate_limits (project_id, bucket, window_start, hits) VALUES (?, 'send:project', ?, 100000)
				ON CONFLICT (project_id, bucket, window_start) DO UPDATE SET hits = 100000`
			if backend == "postgres" {
				q = strings.NewReplacer("?, 'send", "$1, 'send", "', ?, 1", "', $2, 1").Replace(q)
			}
			if _, err := a.App.Store.SQL().ExecContext(context.Background(), q, p.ID, window); err != nil {
				t.Fatal(err)
			}
			for i, node := range nodes {
				addr := email("project")
				r := do(t, node, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
				refused(t, fmt.Sprintf("send past the project's limit on node %d", i+1), r, http.StatusTooManyRequests, "too_many_requests")
				if n := outboxTo(t, a, addr); n != 0 {
					t.Errorf("%d messages queued past the project's limit", n)
				}
			}
			other := a.NewProject(t, "bystander")
			ok(t, other.On(b), http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": email("bystander")})
			a.Clock.Advance(time.Minute)
			ok(t, nodes[1], http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": email("project")})
		})
	})
}
