package attack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// latchBinary builds cmd/latch once per test process.
func latchBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "latch-attack-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath, buildErr = latchtest.BuildLatch(dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is one `latch serve` process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *latchtest.LockedBuffer
}

var listening = regexp.MustCompile(`latch listening.* addr=(127\.0\.0\.1:[0-9]+)`)

func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	s := &server{stderr: &latchtest.LockedBuffer{}}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = latchtest.Environ()
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if m := listening.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = "http://" + m[1]
			return s
		}
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			t.Fatalf("latch serve did not start:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sessionState is what the load knows of one session: the last expiry (or
// revocation) answered 200, and what was in flight when the server died.
type sessionState struct {
	token      string
	acked      string // expires_at of the last 200
	revoked    bool   // a revoke answered 200
	pending    string // "extend" or "revoke" sent without an answer
	pendingMin int    // the pending extension's minutes
}

// Test09Crash (issue 8, point 9): under a load of logins, extensions,
// revocations and sends, the real `latch serve` process is killed with
// SIGKILL, twice, and restarted on the same database: every session whose
// creation or extension was answered 200 authenticates with that expiry,
// every revocation answered 200 holds, every message answered 200 is
// delivered. On SQLite the database is opened with synchronous=FULL in WAL
// mode (a kill -9 alone does not lose what the OS has buffered; FULL is
// what keeps a 200 through a power cut), which is checked too.
func Test09Crash(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		bin := latchBinary(t)
		db := latchtest.DatabaseURL(t, backend)
		key := base64.StdEncoding.EncodeToString(secret.Bytes(32))
		mail, sms := latchtest.NewMailServer(t), latchtest.NewTwilioDouble(t)
		common := []string{"--database", db, "--master-key", key}
		out, err := exec.Command(bin, append([]string{"project", "create", "--json", "--name", "crash", "--redirect-url", latchtest.DefaultRedirect}, common...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("project create: %v\n%s", err, out)
		}
		var cp struct{ ProjectID, Secret string }
		if err := json.Unmarshal(out, &struct {
			ProjectID *string `json:"project_id"`
			Secret    *string `json:"secret"`
		}{&cp.ProjectID, &cp.Secret}); err != nil {
			t.Fatalf("project create: %s", out)
		}
		serveArgs := append(common, "--smtp", "smtp://"+mail.Addr, "--email-from", "Latch <login@latch.test>",
			"--twilio-url", sms.URL, "--twilio-account-sid", latchtest.TwilioSID, "--twilio-auth-token", latchtest.TwilioToken,
			"--twilio-from", latchtest.TwilioFrom)

		if backend == "sqlite" {
			st, err := sqlstore.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			var sync int
			var mode string
			st.SQL().QueryRow("PRAGMA synchronous").Scan(&sync)
			st.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
			st.Close()
			attacksTried.Add(1)
			if sync != 2 || mode != "wal" {
				t.Errorf("SQLite opened with synchronous=%d journal_mode=%s, want 2 (FULL) and wal", sync, mode)
			}
		}

		var mu sync.Mutex
		var sessions []*sessionState
		var sent []string
		const workers = 6
		for round := range 2 {
			srv := startServer(t, bin, serveArgs...)
			p := latchtest.Project{ID: cp.ProjectID, Secret: cp.Secret, URL: srv.url}
			// Before the load: the sessions that survived the previous crash.
			verifyCrash(t, p, backend, sessions, nil, nil)

			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					uid := ""
					var cur *sessionState
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						minutes := 60 + (round*100000+w*10000+i)%500000
						if uid == "" {
							r, err := exchange(p, http.MethodPost, "/v1/users", map[string]any{"email": email("crash")})
							if err != nil {
								return
							}
							uid = r.Str("user_id")
							continue
						}
						switch {
						case i%5 == 4:
							addr := email("crash-send")
							r, err := exchange(p, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addr})
							if err != nil {
								return
							}
							if r.Status == http.StatusOK {
								mu.Lock()
								sent = append(sent, addr)
								mu.Unlock()
							}
						case cur == nil || cur.revoked || i%5 == 0:
							r, err := exchange(p, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": uid})
							if err != nil {
								return
							}
							r, err = exchange(p, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": r.Str("token"), "session_duration_minutes": minutes})
							if err != nil || r.Status != http.StatusOK {
								return // the server died: this session was never answered
							}
							cur = &sessionState{token: r.Str("session_token"), acked: r.Str("session.expires_at")}
							mu.Lock()
							sessions = append(sessions, cur)
							mu.Unlock()
						case i%5 == 3:
							mu.Lock()
							cur.pending = "revoke"
							mu.Unlock()
							r, err := exchange(p, http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_token": cur.token})
							if err != nil {
								return
							}
							mu.Lock()
							cur.pending, cur.revoked = "", r.Status == http.StatusOK
							mu.Unlock()
						default:
							mu.Lock()
							cur.pending, cur.pendingMin = "extend", minutes
							mu.Unlock()
							r, err := exchange(p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": cur.token, "session_duration_minutes": minutes})
							if err != nil {
								return
							}
							mu.Lock()
							cur.pending = ""
							if r.Status == http.StatusOK {
								cur.acked = r.Str("session.expires_at")
							}
							mu.Unlock()
						}
					}
				})
			}
			time.Sleep(1500 * time.Millisecond)
			if err := srv.cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			srv.cmd.Wait()
			faultsInjected.Add(1)
			close(stop)
			wg.Wait()
		}
		srv := startServer(t, bin, serveArgs...)
		p := latchtest.Project{ID: cp.ProjectID, Secret: cp.Secret, URL: srv.url}
		verifyCrash(t, p, backend, sessions, mail, sent)
		t.Logf("%s: 2 kills; %d sessions and %d messages answered 200, all there", backend, len(sessions), len(sent))
	})
}

// verifyCrash checks every session and message answered 200 so far.
func verifyCrash(t *testing.T, p latchtest.Project, backend string, sessions []*sessionState, mail *latchtest.MailServer, sent []string) {
	t.Helper()
	for _, s := range sessions {
		r := do(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": s.token})
		got := r.Str("session.expires_at")
		switch {
		case s.revoked:
			if r.Status != http.StatusNotFound {
				lost.Add(1)
				t.Errorf("a revocation answered 200 did not hold: %d %s", r.Status, r.Raw)
			}
		case r.Status == http.StatusOK && got == s.acked:
		case s.pending == "revoke" && r.Status == http.StatusNotFound:
			s.revoked = true // the unanswered revocation was applied
		case s.pending == "extend" && r.Status == http.StatusOK && extendedBy(got, s.pendingMin):
			s.acked = got // the unanswered extension was applied
		default:
			lost.Add(1)
			t.Errorf("session answered 200 with expiry %s (pending %q): now %d %s", s.acked, s.pending, r.Status, got)
		}
		s.pending = ""
	}
	if mail == nil {
		return
	}
	// On PostgreSQL a message the dead process had claimed stays leased to
	// it for the sender's lease (1 min): another node may be alive and
	// sending it. On SQLite the restarted process, which holds the file's
	// lock, releases every lease at start, so it goes out at once.
	wait := 75 * time.Second
	if backend == "sqlite" {
		wait = 20 * time.Second
	}
	deadline := time.Now().Add(wait)
	late := 0
	for _, addr := range sent {
		for mailTo(mail, addr) == 0 {
			if time.Now().After(deadline) {
				lost.Add(1)
				t.Errorf("the message to %s, answered 200, was never delivered", addr)
				break
			}
			late++
			time.Sleep(100 * time.Millisecond)
		}
	}
	dup := 0
	for _, addr := range sent {
		if mailTo(mail, addr) > 1 {
			dup++
		}
	}
	t.Logf("%d messages answered 200: all delivered (%d sent twice: a kill between delivery and its record), after waiting %v for leases",
		len(sent), dup, time.Duration(late)*100*time.Millisecond)
}

func mailTo(m *latchtest.MailServer, addr string) int {
	n := 0
	for _, msg := range m.Messages() {
		if strings.EqualFold(msg.To, addr) {
			n++
		}
	}
	return n
}

// extendedBy reports whether expiry is about now + minutes (the unanswered
// extension, applied just before the kill).
func extendedBy(expiry string, minutes int) bool {
	e, err := time.Parse(time.RFC3339, expiry)
	if err != nil {
		return false
	}
	d := time.Until(e) - time.Duration(minutes)*time.Minute
	return d > -time.Minute && d < time.Minute
}
