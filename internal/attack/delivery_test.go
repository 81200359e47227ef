package attack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/store"
)

// outbox reads every message of the database.
func outbox(t *testing.T, l *latchtest.Latch) []store.OutboxMessage {
	t.Helper()
	ms, err := l.App.Store.ListMessages(context.Background(), "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// deliveries sums the delivery attempts the nodes have finished, from
// their latch_outbox_deliveries_total metric.
func deliveries(t *testing.T, nodes ...*latchtest.Latch) int {
	t.Helper()
	total := 0
	for _, l := range nodes {
		res, err := client.Get(l.MetricsURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "latch_outbox_deliveries_total{") {
				var n float64
				fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &n)
				total += int(n)
			}
		}
	}
	return total
}

// settle waits (bounded, in real time) until no unsent message is due at
// the injected clock's now and no delivery is in flight (every attempt
// claimed in the database has finished on a node): the clock may then move
// without a lease running out under a delivery.
func settle(t *testing.T, l *latchtest.Latch, nodes ...*latchtest.Latch) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		due, claimed := 0, 0
		now := l.Clock.Now()
		for _, m := range outbox(t, l) {
			claimed += m.Attempts
			if m.SentAt == nil && m.DeadAt == nil && !m.NextAttemptAt.After(now) {
				due++
			}
		}
		if due == 0 && claimed == deliveries(t, nodes...) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still due after 15 s", due)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Test11DeliveryOutage (issue 8, point 11): the SMTP server and the Twilio
// double refuse every message for a minute (of the injected clock, on
// which the senders' retry backoff runs) while two nodes queue email, SMS
// and WhatsApp messages; once they answer again every message is delivered,
// exactly once.
func Test11DeliveryOutage(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		a, b := twoNodes(t, backend)
		p := a.NewProject(t, "delivery outage")
		nodes := []latchtest.Project{p, p.On(b)}
		a.Mail.Refuse(true)
		a.SMS.Refuse(503)
		faultsInjected.Add(2)

		var emails, phones, whatsapps []string
		for i := range 12 {
			addr := email("outage")
			ok(t, nodes[i%2], http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
			emails = append(emails, addr)
			if i%3 == 0 {
				n := phone(t)
				ok(t, nodes[(i+1)%2], http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": n})
				phones = append(phones, n)
				w := phone(t)
				ok(t, nodes[i%2], http.MethodPost, "/v1/otps/whatsapp/login_or_create", map[string]any{"phone_number": w})
				whatsapps = append(whatsapps, w)
			}
		}
		queued := len(emails) + len(phones) + len(whatsapps)
		// A minute of refusals, five seconds at a time: the senders keep
		// trying on their backoff.
		for range 12 {
			settle(t, a, a, b)
			a.Clock.Advance(5 * time.Second)
		}
		settle(t, a, a, b)
		if got := len(a.Mail.Messages()) + len(a.SMS.Messages()); got != 0 {
			t.Fatalf("%d messages got through the refusal", got)
		}
		tries := 0
		for _, m := range outbox(t, a) {
			tries += m.Attempts
		}
		if tries < 3*queued {
			t.Fatalf("only %d delivery attempts for %d messages during the outage", tries, queued)
		}
		faultsInjected.Add(int64(tries))

		a.Mail.Refuse(false)
		a.SMS.Refuse(0)
		// Move on by less than a lease at a time until all is sent.
		deadline := time.Now().Add(60 * time.Second)
		for {
			unsent := 0
			for _, m := range outbox(t, a) {
				if m.SentAt == nil {
					unsent++
					if m.DeadAt != nil {
						t.Fatalf("message %d to %s given up: %s", m.ID, m.Recipient, m.LastError)
					}
				}
			}
			if unsent == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d messages still unsent", unsent, queued)
			}
			settle(t, a, a, b)
			a.Clock.Advance(30 * time.Second)
		}
		// Later rounds send nothing again.
		for range 3 {
			a.Clock.Advance(30 * time.Second)
			settle(t, a, a, b)
		}
		count := func(kind string, list []string, n func(string) int) {
			for _, to := range list {
				if c := n(to); c != 1 {
					t.Errorf("%s to %s delivered %d times, want once", kind, to, c)
					if c == 0 {
						lost.Add(1)
					}
				}
			}
		}
		count("email", emails, a.Mail.Count)
		count("SMS", phones, a.SMS.Count)
		count("WhatsApp", whatsapps, func(to string) int { return a.SMS.Count("whatsapp:" + to) })
		if got := len(a.Mail.Messages()) + len(a.SMS.Messages()); got != queued {
			t.Errorf("%d messages delivered for %d queued", got, queued)
		}
		t.Logf("%s: %d messages, %d delivery attempts refused, all delivered once", backend, queued, tries)
	})
}
