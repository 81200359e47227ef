package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// t0 is the fake clock's start, on a millisecond as the stores keep time.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var backends = []struct {
	name string
	url  func(testing.TB) string
}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}}

// eachBackend runs f on SQLite and on PostgreSQL (skipped when PostgreSQL
// is away, as storetest decides).
func eachBackend(t *testing.T, f func(t *testing.T, url string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.url(t)) })
	}
}

// openStore opens and migrates the database at url, closing it when t ends.
func openStore(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// newProject stores a project (outbox rows belong to one) and returns its id.
func newProject(t *testing.T, st store.Store) string {
	t.Helper()
	id := secret.ID("project", false)
	err := st.CreateProject(context.Background(), store.Project{
		ID: id, Name: "Acme", CreatedAt: t0, LockThreshold: 10, LockTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newRing(t *testing.T) *secret.Keyring {
	t.Helper()
	ring, err := secret.NewKeyring(secret.Bytes(secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func newTestLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func enqueue(t *testing.T, st store.Store, ring *secret.Keyring, project string, m Message, now time.Time) {
	t.Helper()
	if err := Enqueue(context.Background(), st, ring, project, m, now); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func runOnce(t *testing.T, s *Sender) int {
	t.Helper()
	n, err := s.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

func onlyMessage(t *testing.T, st store.Store) store.OutboxMessage {
	t.Helper()
	ms, err := st.ListMessages(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("outbox holds %d messages, want 1", len(ms))
	}
	return ms[0]
}

func pending(t *testing.T, st store.Store) int {
	t.Helper()
	n, err := st.CountPendingMessages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// perRecipient counts the messages the server received for each recipient.
func perRecipient(msgs []received) map[string]int {
	got := map[string]int{}
	for _, m := range msgs {
		for _, to := range m.To {
			got[to]++
		}
	}
	return got
}

func TestEnqueueSealsTheMessage(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	msg := MagicLinkEmail("Acme", "ada@example.com", testLink, "login")
	enqueue(t, st, ring, project, msg, t0)

	row := onlyMessage(t, st)
	if row.ProjectID != project || row.Channel != store.ChannelEmail || row.Recipient != "ada@example.com" {
		t.Fatalf("row = %+v", row)
	}
	if !row.CreatedAt.Equal(t0) || !row.NextAttemptAt.Equal(t0) || row.SentAt != nil || row.DeadAt != nil || row.Attempts != 0 {
		t.Fatalf("row times = created %v next %v sent %v dead %v attempts %d", row.CreatedAt, row.NextAttemptAt, row.SentAt, row.DeadAt, row.Attempts)
	}
	if bytes.Contains(row.Payload, []byte("DOYoip3rvIMMW5lgItikFK")) || bytes.Contains(row.Payload, []byte("Acme")) {
		t.Fatal("payload holds the message in plain text")
	}

	got, err := Open(ring, row)
	if err != nil {
		t.Fatal(err)
	}
	if got != msg {
		t.Fatalf("Open = %+v, want %+v", got, msg)
	}
	if _, err := Open(newRing(t), row); !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("Open under another master key: err = %v", err)
	}
	moved := row
	moved.Recipient = "eve@example.com"
	if _, err := Open(ring, moved); !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("Open of a payload moved to another recipient: err = %v", err)
	}
}

func TestEnqueueCommitsWithItsTransaction(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	boom := errors.New("boom")
	err := st.InTx(context.Background(), func(tx store.Store) error {
		enqueue(t, tx, ring, project, OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", 2*time.Minute), t0)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := pending(t, st); n != 0 {
		t.Fatalf("a rolled-back message is pending (%d)", n)
	}
	err = st.InTx(context.Background(), func(tx store.Store) error {
		enqueue(t, tx, ring, project, OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", 2*time.Minute), t0)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := pending(t, st); n != 1 {
		t.Fatalf("pending = %d after commit, want 1", n)
	}
}

func TestEnqueueRejectsBadMessages(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	for _, m := range []Message{
		{Channel: "fax", To: "+15555550100", Text: "hi"},
		{Channel: store.ChannelEmail, To: "", Text: "hi"},
	} {
		if err := Enqueue(context.Background(), st, ring, project, m, t0); err == nil {
			t.Errorf("Enqueue(%+v) succeeded", m)
		}
	}
}

func TestSenderDeliversOnceOverSMTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ring := newRing(t)
		project := newProject(t, st)
		srv := newSMTPServer(t, tlsStart, "mailer", "hunter2")
		clock := newClock()
		var results []error
		s := &Sender{
			Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now,
			OnResult: func(channel string, err error) {
				if channel != store.ChannelEmail {
					t.Errorf("OnResult channel = %q", channel)
				}
				results = append(results, err)
			},
		}
		enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "signup"), t0)

		if n := runOnce(t, s); n != 1 {
			t.Fatalf("RunOnce handled %d, want 1", n)
		}
		for range 3 {
			clock.Advance(10 * time.Minute)
			if n := runOnce(t, s); n != 0 {
				t.Fatalf("RunOnce handled %d after delivery, want 0", n)
			}
		}
		got := srv.Messages()
		if len(got) != 1 {
			t.Fatalf("server received %d messages, want 1", len(got))
		}
		p := parseEmail(t, got[0].Data)
		if !strings.Contains(p.Subject, "Acme") || !strings.Contains(p.Text, testLink) {
			t.Fatalf("subject %q, text %q", p.Subject, p.Text)
		}
		row := onlyMessage(t, st)
		if row.SentAt == nil || !row.SentAt.Equal(t0) || row.DeadAt != nil {
			t.Fatalf("row sent_at %v dead_at %v, want sent at %v", row.SentAt, row.DeadAt, t0)
		}
		if len(results) != 1 || results[0] != nil {
			t.Fatalf("OnResult saw %v", results)
		}
	})
}

func TestSMTPOutageLosesNoMessage(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ring := newRing(t)
		project := newProject(t, st)
		srv := newSMTPServer(t, tlsNone, "", "")
		clock := newClock()
		s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now}

		const n = 7
		want := map[string]int{}
		for i := range n {
			to := fmt.Sprintf("user%d@example.com", i)
			want[to] = 1
			enqueue(t, st, ring, project, OTPEmail("Acme", to, fmt.Sprintf("%06d", i), 5*time.Minute), t0)
		}

		// The server answers 421 "try again later" to every message.
		srv.SetMailErr(&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "service not available"})
		if got := runOnce(t, s); got != n {
			t.Fatalf("RunOnce handled %d, want %d", got, n)
		}
		// Then it is gone altogether: connections are refused.
		srv.Close()
		clock.Advance(2 * time.Second)
		if got := runOnce(t, s); got != n {
			t.Fatalf("RunOnce during the outage handled %d, want %d", got, n)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("the server accepted mail during the outage")
		}
		if p := pending(t, st); p != n {
			t.Fatalf("pending = %d during the outage, want %d", p, n)
		}
		ms, err := st.ListMessages(context.Background(), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.DeadAt != nil || m.Attempts != 2 || m.LastError == "" || !m.NextAttemptAt.After(clock.Now()) {
				t.Fatalf("after the outage: %+v", m)
			}
		}

		// It comes back; the messages go out once the backoff has passed.
		srv.SetMailErr(nil)
		srv.Restart()
		if got := runOnce(t, s); got != 0 {
			t.Fatalf("RunOnce before the backoff ended handled %d, want 0", got)
		}
		clock.Advance(5 * time.Second)
		if got := runOnce(t, s); got != n {
			t.Fatalf("RunOnce after the outage handled %d, want %d", got, n)
		}
		for range 3 {
			clock.Advance(time.Hour)
			runOnce(t, s)
		}

		if got := perRecipient(srv.Messages()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("deliveries per recipient = %v, want each once: %v", got, want)
		}
		if p := pending(t, st); p != 0 {
			t.Fatalf("pending = %d, want 0", p)
		}
	})
}

func TestCrashedSenderMessageIsSentAfterItsLease(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	srv := newSMTPServer(t, tlsNone, "", "")
	clock := newClock()
	s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now, Lease: 30 * time.Second}
	enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "login"), t0)

	// Another sender claims the message and dies without marking it.
	if ms, err := st.ClaimMessages(context.Background(), t0, t0.Add(30*time.Second), 10); err != nil || len(ms) != 1 {
		t.Fatalf("claim: %v, %v", ms, err)
	}
	clock.Advance(29 * time.Second)
	if n := runOnce(t, s); n != 0 {
		t.Fatalf("RunOnce took a leased message (%d)", n)
	}
	clock.Advance(time.Second)
	if n := runOnce(t, s); n != 1 {
		t.Fatalf("RunOnce after the lease handled %d, want 1", n)
	}
	if len(srv.Messages()) != 1 {
		t.Fatalf("server received %d messages", len(srv.Messages()))
	}
}

func TestTwoSendersDeliverEachMessageOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		// Two handles on one database, as two Latch processes would have.
		st1, st2 := openStore(t, url), openStore(t, url)
		ring := newRing(t)
		project := newProject(t, st1)
		srv := newSMTPServer(t, tlsNone, "", "")
		clock := newClock()

		const n = 60
		want := map[string]int{}
		for i := range n {
			to := fmt.Sprintf("user%02d@example.com", i)
			want[to] = 1
			enqueue(t, st1, ring, project, MagicLinkEmail("Acme", to, testLink, "login"), t0)
		}

		var wg sync.WaitGroup
		handled := make([]int, 2)
		for i, st := range []store.Store{st1, st2} {
			s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now, Batch: 4}
			wg.Go(func() {
				deadline := time.Now().Add(60 * time.Second)
				for time.Now().Before(deadline) {
					got, err := s.RunOnce(context.Background())
					if err != nil {
						t.Errorf("sender %d: %v", i, err)
						return
					}
					handled[i] += got
					left, err := st.CountPendingMessages(context.Background())
					if err != nil {
						t.Errorf("sender %d: %v", i, err)
						return
					}
					if left == 0 {
						return
					}
				}
				t.Errorf("sender %d did not finish", i)
			})
		}
		wg.Wait()
		t.Logf("handled per sender: %v", handled)

		if handled[0]+handled[1] != n {
			t.Errorf("senders handled %d messages in all, want %d", handled[0]+handled[1], n)
		}
		if got := perRecipient(srv.Messages()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("deliveries per recipient = %v, want each once", got)
		}
	})
}

func TestBackoffGrowsWithTheInjectedClock(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	srv := newSMTPServer(t, tlsNone, "", "")
	srv.SetMailErr(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
	clock := newClock()
	s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now}
	enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "login"), t0)

	var gaps []time.Duration
	for attempt := 1; attempt <= 14; attempt++ {
		failedAt := clock.Now()
		if n := runOnce(t, s); n != 1 {
			t.Fatalf("attempt %d: RunOnce handled %d, want 1", attempt, n)
		}
		row := onlyMessage(t, st)
		if row.Attempts != attempt || row.DeadAt != nil || row.SentAt != nil || !strings.Contains(row.LastError, "451") {
			t.Fatalf("attempt %d: row = %+v", attempt, row)
		}
		gap := row.NextAttemptAt.Sub(failedAt)
		want := min(time.Second<<(attempt-1), 5*time.Minute)
		lo, hi := want*9/10-time.Millisecond, want*11/10+time.Millisecond
		if gap < lo || gap > hi {
			t.Fatalf("attempt %d: retry after %v, want %v ±10%%", attempt, gap, want)
		}
		gaps = append(gaps, gap)

		// Not due a millisecond early; due on the dot.
		clock.Set(row.NextAttemptAt.Add(-time.Millisecond))
		if n := runOnce(t, s); n != 0 {
			t.Fatalf("attempt %d: retried %v early", attempt, time.Millisecond)
		}
		clock.Set(row.NextAttemptAt)
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1] && gaps[i-1] < 4*time.Minute {
			t.Fatalf("backoff shrank before the cap: %v", gaps)
		}
	}
	t.Logf("gaps: %v", gaps)
	if len(srv.Messages()) != 0 {
		t.Fatal("server accepted mail")
	}
	// The server recovers: the message goes out once.
	srv.SetMailErr(nil)
	if n := runOnce(t, s); n != 1 || len(srv.Messages()) != 1 {
		t.Fatalf("after recovery: handled %d, server has %d", n, len(srv.Messages()))
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempt := -1; attempt <= 100; attempt++ {
		want := 5 * time.Minute
		if attempt <= 1 {
			want = time.Second
		} else if attempt < 10 {
			want = time.Second << (attempt - 1)
		}
		for range 20 {
			if d := backoff(attempt); d < want*9/10 || d > want*11/10 {
				t.Fatalf("backoff(%d) = %v, want %v ±10%%", attempt, d, want)
			}
		}
	}
}

func TestRefusedRecipientIsDead(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	srv := newSMTPServer(t, tlsNone, "", "")
	srv.SetRcptErr(func(to string) error {
		if to == "ghost@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	clock := newClock()
	var results []error
	s := &Sender{
		Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now,
		OnResult: func(_ string, err error) { results = append(results, err) },
	}
	enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ghost@example.com", testLink, "login"), t0)
	if n := runOnce(t, s); n != 1 {
		t.Fatalf("RunOnce handled %d", n)
	}
	row := onlyMessage(t, st)
	if row.DeadAt == nil || !row.DeadAt.Equal(t0) || row.SentAt != nil || !strings.Contains(row.LastError, "no such user") {
		t.Fatalf("row = %+v, want dead with the server's reason", row)
	}
	if len(results) != 1 || !IsPermanent(results[0]) {
		t.Fatalf("OnResult saw %v", results)
	}
	clock.Advance(24 * time.Hour)
	if n := runOnce(t, s); n != 0 || pending(t, st) != 0 {
		t.Fatalf("a dead message was retried")
	}
}

func TestUnreadableMessageIsRetriedNotDropped(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	srv := newSMTPServer(t, tlsNone, "", "")
	clock := newClock()
	enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "login"), t0)

	// A node started with the wrong master key cannot read the message...
	wrong := &Sender{Store: st, Ring: newRing(t), Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now}
	if n := runOnce(t, wrong); n != 1 {
		t.Fatalf("RunOnce handled %d", n)
	}
	row := onlyMessage(t, st)
	if row.DeadAt != nil || row.SentAt != nil || row.LastError == "" {
		t.Fatalf("row = %+v, want it failed and pending", row)
	}
	// ...and one with the right key sends it once it is due.
	right := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now}
	clock.Advance(2 * time.Second)
	if n := runOnce(t, right); n != 1 || len(srv.Messages()) != 1 {
		t.Fatalf("handled %d, server has %d", n, len(srv.Messages()))
	}
}

// TestATestProjectsMessagesStayInTheDevOutboxAndNoSecretIsLogged: without
// transports, a test project's messages are marked sent, stay readable in
// the outbox, and the log names their recipients but holds no link or code.
func TestATestProjectsMessagesStayInTheDevOutboxAndNoSecretIsLogged(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	clock := newClock()
	s := &Sender{Store: st, Ring: ring, Logger: logger, Now: clock.Now}

	enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "login"), t0)
	enqueue(t, st, ring, project, OTPText(store.ChannelSMS, "Acme", "+15555550100", "402911", 2*time.Minute), t0)
	enqueue(t, st, ring, project, OTPText(store.ChannelWhatsApp, "Acme", "+15555550101", "715002", 2*time.Minute), t0)
	if n := runOnce(t, s); n != 3 {
		t.Fatalf("RunOnce handled %d, want 3", n)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	for _, want := range []string{"ada@example.com", "+15555550100", "+15555550101", "level=INFO"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94", "402911", "715002"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds the secret %q:\n%s", secret, out)
		}
	}
	if p := pending(t, st); p != 0 {
		t.Fatalf("pending = %d, want 0", p)
	}
	// The messages stay readable in the outbox (`latch outbox`).
	ms, err := st.ListMessages(context.Background(), "+15555550100", 10)
	if err != nil || len(ms) != 1 || ms[0].SentAt == nil {
		t.Fatalf("ListMessages = %+v, %v", ms, err)
	}
	if m, err := Open(ring, ms[0]); err != nil || !strings.Contains(m.Text, "402911") {
		t.Fatalf("Open = %+v, %v", m, err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRunDeliversUntilCancelled(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	srv := newSMTPServer(t, tlsNone, "", "")
	clock := newClock()
	s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now, Batch: 2}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	// More than a batch at once: Run goes on without waiting for a poll.
	for i := range 5 {
		enqueue(t, st, ring, project, MagicLinkEmail("Acme", fmt.Sprintf("user%d@example.com", i), testLink, "login"), t0)
	}
	s.Notify()
	s.Notify() // never blocks
	deadline := time.After(10 * time.Second)
	for len(srv.Messages()) < 5 {
		select {
		case <-srv.arrived:
		case <-deadline:
			t.Fatalf("Run delivered %d of 5 messages", len(srv.Messages()))
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if p := pending(t, st); p != 0 {
		t.Fatalf("pending = %d", p)
	}
}

func TestNotifyBeforeRunDoesNotBlock(t *testing.T) {
	var s Sender
	for range 3 {
		s.Notify()
	}
}

func TestUnknownChannelIsDead(t *testing.T) {
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	clock := newClock()
	// Enqueue refuses unknown channels; a row can still carry one (an older
	// or newer Latch wrote it).
	m := Message{Channel: "pigeon", To: "coop 7", Text: "hi"}
	plain := fmt.Appendf(nil, `{"channel":%q,"to":%q,"text":"hi"}`, m.Channel, m.To)
	if _, err := st.EnqueueMessage(context.Background(), store.OutboxMessage{
		ProjectID: project, Channel: m.Channel, Recipient: m.To,
		Payload: ring.Seal(plain, aad(m.Channel, m.To)), CreatedAt: t0, NextAttemptAt: t0,
	}); err != nil {
		t.Fatal(err)
	}
	s := &Sender{Store: st, Ring: ring, Logger: newTestLogger(t), Now: clock.Now}
	if n := runOnce(t, s); n != 1 {
		t.Fatalf("RunOnce handled %d", n)
	}
	if row := onlyMessage(t, st); row.DeadAt == nil {
		t.Fatalf("row = %+v, want dead", row)
	}
}

// blinkingStore fails the first MarkMessagesSent calls, as a database that
// blinks right after a delivery would.
type blinkingStore struct {
	store.Store
	mu    sync.Mutex
	fails int
}

func (b *blinkingStore) MarkMessagesSent(ctx context.Context, ids []int64, now time.Time) error {
	b.mu.Lock()
	fail := b.fails > 0
	b.fails--
	b.mu.Unlock()
	if fail {
		return fmt.Errorf("%w: connection reset", store.ErrUnavailable)
	}
	return b.Store.MarkMessagesSent(ctx, ids, now)
}

func TestDeliveredMessageIsMarkedThroughADatabaseBlink(t *testing.T) {
	db := openStore(t, storetest.SQLiteURL(t))
	st := &blinkingStore{Store: db, fails: 2}
	ring := newRing(t)
	project := newProject(t, st)
	srv := newSMTPServer(t, tlsNone, "", "")
	clock := newClock()
	s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), Logger: newTestLogger(t), Now: clock.Now}
	enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "login"), t0)

	if n := runOnce(t, s); n != 1 {
		t.Fatalf("RunOnce handled %d", n)
	}
	if row := onlyMessage(t, st); row.SentAt == nil {
		t.Fatalf("row = %+v, want sent", row)
	}
	clock.Advance(time.Hour)
	runOnce(t, s)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server received %d messages, want 1", n)
	}
}

// recording is a Transport that keeps what it is handed.
type recording struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recording) Deliver(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recording) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// TestAfterANodeDiesMidHandOffEmailIsResentWithTheSameMessageIDAndSMSIsNot:
// a node claims two messages, records their hand-off, hands the email to
// SMTP and the SMS to Twilio, and dies before recording either outcome (as
// kill -9 does). Once the lease ends, the next node sends the email again
// with the same Message-ID (a receiver drops the repeat) and does not send
// the SMS again (Twilio cannot drop one): it is marked dead, outcome
// unknown.
func TestAfterANodeDiesMidHandOffEmailIsResentWithTheSameMessageIDAndSMSIsNot(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ring := newRing(t)
		project := newProject(t, st)
		srv := newSMTPServer(t, tlsNone, "", "")
		clock := newClock()
		enqueue(t, st, ring, project, MagicLinkEmail("Acme", "ada@example.com", testLink, "login"), t0)
		enqueue(t, st, ring, project, OTPText(store.ChannelSMS, "Acme", "+15555550100", "402911", 2*time.Minute), t0)

		// The node that dies.
		ctx := context.Background()
		claimed, err := st.ClaimMessages(ctx, t0, t0.Add(time.Minute), 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		for _, om := range claimed {
			if err := st.MarkMessageHandedOff(ctx, om.ID, t0); err != nil {
				t.Fatal(err)
			}
			m, err := Open(ring, om)
			if err != nil {
				t.Fatal(err)
			}
			m.Key = messageKey(om)
			if om.Channel == store.ChannelEmail {
				if err := srv.transport(t).Deliver(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}

		// The node after it, once the lease has ended.
		sms := &recording{}
		s := &Sender{Store: st, Ring: ring, Email: srv.transport(t), SMS: sms, Logger: newTestLogger(t), Now: clock.Now}
		clock.Advance(2 * time.Minute)
		if n := runOnce(t, s); n != 2 {
			t.Fatalf("RunOnce handled %d, want 2", n)
		}
		got := srv.Messages()
		if len(got) != 2 {
			t.Fatalf("the email was sent %d times in all, want 2 (once by each node)", len(got))
		}
		first, second := parseEmail(t, got[0].Data).Header.Get("Message-Id"), parseEmail(t, got[1].Data).Header.Get("Message-Id")
		if first == "" || first != second {
			t.Fatalf("Message-IDs %q and %q: a receiver cannot drop the repeat", first, second)
		}
		if sms.count() != 0 {
			t.Fatal("the SMS whose hand-off had no outcome was sent again")
		}
		ms, err := st.ListMessages(ctx, "+15555550100", 1)
		if err != nil || len(ms) != 1 || ms[0].DeadAt == nil || !strings.Contains(ms[0].LastError, "outcome unknown") {
			t.Fatalf("the SMS row: %+v %v", ms, err)
		}
		// Nothing is left to send.
		clock.Advance(time.Hour)
		if n := runOnce(t, s); n != 0 {
			t.Fatalf("RunOnce handled %d more", n)
		}
	})
}

// TestDeliveriesFinishingTogetherAreRecordedInOneWrite: while one "sent"
// write is in flight, the deliveries that finish queue, and the next write
// records them all; each learns the outcome of the write that took it.
func TestDeliveriesFinishingTogetherAreRecordedInOneWrite(t *testing.T) {
	var m sentMarks
	var mu sync.Mutex
	var writes [][]int64
	inFirst, releaseFirst := make(chan struct{}), make(chan struct{})
	write := func(ids []int64) error {
		mu.Lock()
		writes = append(writes, ids)
		n := len(writes)
		mu.Unlock()
		if n == 1 {
			close(inFirst)
			<-releaseFirst
			return nil
		}
		return fmt.Errorf("%w: disk full", store.ErrUnavailable)
	}
	errs := make(chan error, 8)
	go func() { errs <- m.mark(1, write) }()
	<-inFirst
	for id := int64(2); id <= 8; id++ {
		go func() { errs <- m.mark(id, write) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for queued := 0; queued < 7; { // until the seven wait behind the first write
		m.mu.Lock()
		queued = len(m.pending)
		m.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%d marks queued behind the first write, want 7: they did not wait for it", queued)
		}
		runtime.Gosched()
	}
	close(releaseFirst)
	var failed int
	for range 8 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if len(writes) != 2 || len(writes[0]) != 1 || len(writes[1]) != 7 {
		t.Fatalf("writes: %v, want [1] then the other seven together", writes)
	}
	if failed != 7 {
		t.Fatalf("%d marks saw the failed second write, want its 7", failed)
	}
}
