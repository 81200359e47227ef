package main

// These tests build the latch binary once and run it as real processes:
// serve on a free loopback port, the management commands against the same
// SQLite file while the server runs, signals, environment variables.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/store/storetest"
)

const testVersion = "v9.9.9-test"

var latchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latch-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	latchBin, err = latchtest.BuildLatch(dir, "-ldflags", "-X main.version="+testVersion)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build latch:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// latch runs the binary to completion (at most 60 s) in dir.
func latch(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, latchBin, args...)
	cmd.Dir, cmd.Env = dir, latchtest.Environ(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("latch %v: %v", args, err)
	}
	return res
}

// mustLatch runs the binary and fails the test unless it exits 0.
func mustLatch(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := latch(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("latch %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// server is a running `latch serve`.
type server struct {
	cmd            *exec.Cmd
	addr           string
	stdout, stderr *latchtest.ProcessOutput
	done           chan struct{}
	err            error // the exit error, once done is closed
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startServer starts `latch serve` with args (and --addr on a free port unless
// the caller chose the address through addr) and waits until /healthz
// answers 200.
func startServer(t *testing.T, dir string, env []string, addr string, args ...string) *server {
	t.Helper()
	if addr == "" {
		addr = freeAddr(t)
		args = append([]string{"--addr", addr}, args...)
	}
	s := &server{addr: addr, stdout: latchtest.NewProcessOutput(t), stderr: latchtest.NewProcessOutput(t), done: make(chan struct{})}
	s.cmd = exec.Command(latchBin, append([]string{"serve"}, args...)...)
	s.cmd.Dir, s.cmd.Env = dir, latchtest.Environ(env...)
	// Files, not buffers: what the server printed before /healthz answered
	// is readable at once (a pipe's copier may lag on a busy machine).
	s.cmd.Stdout, s.cmd.Stderr = s.stdout.File(), s.stderr.File()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
			return
		default:
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("latch serve exited early: %v\nstdout: %s\nstderr: %s", s.err, s.stdout, s.stderr)
		default:
		}
		res, err := http.Get(s.url("/healthz"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("latch serve did not come up on %s: %v\nstderr: %s", addr, err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling for a process to come up
	}
}

// stop sends SIGTERM and returns the exit code (failing after 25 s).
func (s *server) stop(t *testing.T) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return s.wait(t)
}

func (s *server) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(25 * time.Second):
		t.Fatalf("latch serve did not exit after SIGTERM\nstderr: %s", s.stderr)
	}
	if s.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatal(s.err)
	return -1
}

var (
	printedProjectID = regexp.MustCompile(`(?m)^\s*project_id:\s+(project-test-\S+)$`)
	printedSecret    = regexp.MustCompile(`(?m)^\s*secret:\s+(secret-test-\S+)$`)
	uuidRE           = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	testCreateJSON   = regexp.MustCompile(`^\{"project_id":"project-test-` + uuidRE + `","secret":"secret-test-[A-Za-z0-9_-]{43}","public_token":"public-token-test-` + uuidRE + `"\}\n$`)
	liveCreateJSON   = regexp.MustCompile(`^\{"project_id":"project-live-` + uuidRE + `","secret":"secret-live-[A-Za-z0-9_-]{43}","public_token":"public-token-live-` + uuidRE + `"\}\n$`)
)

// firstProject reads the credentials a first start printed.
func (s *server) firstProject(t *testing.T) (id, secret string) {
	t.Helper()
	out := s.stdout.String()
	m1, m2 := printedProjectID.FindStringSubmatch(out), printedSecret.FindStringSubmatch(out)
	if m1 == nil || m2 == nil {
		t.Fatalf("the first start printed no project:\n%s", out)
	}
	return m1[1], m2[1]
}

type reply struct {
	status int
	body   map[string]any
	raw    string
}

// call sends a JSON request with HTTP Basic credentials.
func call(t *testing.T, method, url, id, secret, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %s", method, url, res.StatusCode, raw)
	}
	return r
}

// createUser creates a user with the credentials and fails unless 200.
func createUser(t *testing.T, s *server, id, secret, email string) reply {
	t.Helper()
	r := call(t, "POST", s.url("/v1/users"), id, secret, `{"email":"`+email+`"}`)
	if r.status != 200 {
		t.Fatalf("create user with %s: %d %s", id, r.status, r.raw)
	}
	return r
}

// refused fails unless the credentials get 401 unauthorized_credentials.
func refused(t *testing.T, s *server, id, secret string) {
	t.Helper()
	r := call(t, "POST", s.url("/v1/users/search"), id, secret, `{}`)
	if r.status != 401 || r.body["error_type"] != "unauthorized_credentials" {
		t.Fatalf("want 401 unauthorized_credentials for %s, got %d %s", id, r.status, r.raw)
	}
}

// accepted fails unless the credentials work.
func accepted(t *testing.T, s *server, id, secret string) {
	t.Helper()
	r := call(t, "POST", s.url("/v1/users/search"), id, secret, `{}`)
	if r.status != 200 {
		t.Fatalf("want 200 for %s, got %d %s", id, r.status, r.raw)
	}
}

type listedProject struct {
	ProjectID    string   `json:"project_id"`
	Name         string   `json:"name"`
	Live         bool     `json:"live"`
	SecretIDs    []string `json:"secret_ids"`
	RedirectURLs []string `json:"redirect_urls"`
}

func listProjects(t *testing.T, dir string, env []string, args ...string) map[string]listedProject {
	t.Helper()
	r := mustLatch(t, dir, env, append([]string{"project", "list", "--json"}, args...)...)
	var ps []listedProject
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil {
		t.Fatalf("project list --json: %v: %s", err, r.stdout)
	}
	out := map[string]listedProject{}
	for _, p := range ps {
		out[p.ProjectID] = p
	}
	return out
}

// filesContain reports whether any file under dir holds s.
func filesContain(t *testing.T, dir, s string) string {
	t.Helper()
	var found string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(s)) {
			found = path
		}
		return nil
	})
	return found
}

func TestFirstStartCreatesTheDatabaseAndPrintsATestProjectOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dataDir, "latch.db")
	s := startServer(t, dir, nil, "", "--database", db)
	id, secret := s.firstProject(t)
	if !regexp.MustCompile(`^project-test-`+uuidRE+`$`).MatchString(id) || !regexp.MustCompile(`^secret-test-[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("printed credentials have the wrong shape: %q %q", id, secret)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "latch.db")); err != nil {
		t.Fatalf("the database was not created: %v", err)
	}
	// The README's two variables, ready to paste.
	if want := "\n  export P=" + id + " S=" + secret + "\n"; !strings.Contains(s.stdout.String(), want) {
		t.Fatalf("the first start does not print %q:\n%s", want, s.stdout)
	}
	// The curl line it prints reaches this server.
	if want := "http://" + s.addr + "/v1/sessions/jwks/"; !strings.Contains(s.stdout.String(), want) {
		t.Fatalf("the first start's hint does not name %s:\n%s", want, s.stdout)
	}
	// /healthz needs no credentials.
	res, err := http.Get(s.url("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	// The printed credentials work at once.
	u := createUser(t, s, id, secret, "first@example.com")
	if !strings.HasPrefix(u.body["user_id"].(string), "user-test-") {
		t.Fatalf("user: %s", u.raw)
	}
	if strings.Contains(s.stderr.String(), secret) {
		t.Fatal("the secret is in the log")
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\nstderr: %s", code, s.stderr)
	}
	// Stored only as a hash: the secret is nowhere in the data folder.
	if f := filesContain(t, dataDir, secret); f != "" {
		t.Fatalf("the project secret is stored in plain text in %s", f)
	}

	// A second start finds the project: it prints none, and the old
	// credentials still work.
	s2 := startServer(t, dir, nil, "", "--database", db)
	if out := s2.stdout.String(); strings.Contains(out, "project_id") || strings.Contains(out, "secret") {
		t.Fatalf("a second start printed credentials again:\n%s", out)
	}
	r := call(t, "GET", s2.url("/v1/users/"+u.body["user_id"].(string)), id, secret, "")
	if r.status != 200 {
		t.Fatalf("after restart: %d %s", r.status, r.raw)
	}
	if ps := listProjects(t, dir, nil, "--database", db); len(ps) != 1 {
		t.Fatalf("want the one first project, got %v", ps)
	}
	if code := s2.stop(t); code != 0 {
		t.Fatalf("second SIGTERM: exit %d", code)
	}
}

func TestServeDefaultsToLatchDataAndReadsTheEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	// No flags at all: the address comes from LATCH_ADDR, the database is
	// the default sqlite:latch-data/latch.db under the working folder.
	s := startServer(t, dir, []string{"LATCH_ADDR=" + addr}, addr)
	id, secret := s.firstProject(t)
	createUser(t, s, id, secret, "env@example.com")
	if _, err := os.Stat(filepath.Join(dir, "latch-data", "latch.db")); err != nil {
		t.Fatalf("default database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "latch-data", "master.key")); err != nil {
		t.Fatalf("default master key: %v", err)
	}
	// The management commands default to the same database.
	if ps := listProjects(t, dir, nil); ps[id].ProjectID != id {
		t.Fatalf("project list with the default database: %v", ps)
	}
	// LATCH_DATABASE points a command elsewhere; the flag beats it.
	other := t.TempDir()
	envDB := "LATCH_DATABASE=sqlite:" + filepath.Join(dir, "latch-data", "latch.db")
	if ps := listProjects(t, other, []string{envDB}); ps[id].ProjectID != id {
		t.Fatalf("project list with LATCH_DATABASE: %v", ps)
	}
	elsewhere := filepath.Join(other, "empty.db")
	if r := latch(t, other, []string{envDB}, "project", "list", "--database", "sqlite:"+elsewhere); r.code != 1 || !strings.Contains(r.stderr, "no database at "+elsewhere) {
		t.Fatalf("--database must win over LATCH_DATABASE: exit %d %q", r.code, r.stderr)
	}
	// LATCH_LOG_FORMAT=json makes the log JSON.
	s.stop(t)
	s2 := startServer(t, dir, []string{"LATCH_LOG_FORMAT=json"}, "")
	call(t, "GET", s2.url("/healthz"), "", "", "")
	s2.stop(t)
	if !strings.Contains(s2.stderr.String(), `{"time":`) {
		t.Fatalf("LATCH_LOG_FORMAT=json: the log is not JSON:\n%s", s2.stderr)
	}
}

func TestProjectCreateWorksWhileTheServerRunsAndTheServerSeesItAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "data", "latch.db")
	s := startServer(t, dir, nil, "", "--database", db)

	r := mustLatch(t, dir, nil, "project", "create", "--database", db, "--name", "Acme", "--json")
	if !testCreateJSON.MatchString(r.stdout) {
		t.Fatalf("project create --json printed %q", r.stdout)
	}
	var p struct{ ProjectID, Secret string }
	var m map[string]string
	json.Unmarshal([]byte(r.stdout), &m)
	p.ProjectID, p.Secret = m["project_id"], m["secret"]
	createUser(t, s, p.ProjectID, p.Secret, "acme@example.com")

	r = mustLatch(t, dir, nil, "project", "create", "--database", db, "--name", "Acme Live", "--live", "--json")
	if !liveCreateJSON.MatchString(r.stdout) {
		t.Fatalf("project create --live --json printed %q", r.stdout)
	}
	json.Unmarshal([]byte(r.stdout), &m)
	u := createUser(t, s, m["project_id"], m["secret"], "acme@example.com")
	if !strings.HasPrefix(u.body["user_id"].(string), "user-live-") || !strings.HasPrefix(u.body["request_id"].(string), "request-id-live-") {
		t.Fatalf("a live project's ids: %s", u.raw)
	}
	// The live secret does not open the test project, nor the reverse.
	refused(t, s, p.ProjectID, m["secret"])
	refused(t, s, m["project_id"], p.Secret)
	live := m["project_id"]

	// Without --json: plain lines; --redirect-url repeats, in order.
	r = mustLatch(t, dir, nil, "project", "create", "--database", db, "--name", "Links",
		"--redirect-url", "https://a.example/auth", "--redirect-url", "http://localhost:3000/cb")
	pid := regexp.MustCompile(`(?m)^project_id:\s+(project-test-\S+)$`).FindStringSubmatch(r.stdout)
	sec := regexp.MustCompile(`(?m)^secret:\s+(secret-test-\S+)$`).FindStringSubmatch(r.stdout)
	if pid == nil || sec == nil {
		t.Fatalf("project create printed %q", r.stdout)
	}
	accepted(t, s, pid[1], sec[1])

	ps := listProjects(t, dir, nil, "--database", db)
	if len(ps) != 4 {
		t.Fatalf("want 4 projects (first, Acme, Acme Live, Links): %v", ps)
	}
	if got := ps[pid[1]]; got.Name != "Links" || strings.Join(got.RedirectURLs, " ") != "https://a.example/auth http://localhost:3000/cb" || len(got.SecretIDs) != 1 {
		t.Fatalf("Links: %+v", got)
	}
	if got := ps[p.ProjectID]; got.Name != "Acme" || got.Live || len(got.RedirectURLs) != 0 {
		t.Fatalf("Acme: %+v", got)
	}
	if !ps[live].Live {
		t.Fatalf("Acme Live: %+v", ps[live])
	}
	// No secret is in the list, nor in the database files.
	list := mustLatch(t, dir, nil, "project", "list", "--database", db)
	for _, secret := range []string{p.Secret, m["secret"], sec[1]} {
		if strings.Contains(list.stdout, secret) {
			t.Fatal("project list shows a secret")
		}
		if f := filesContain(t, filepath.Join(dir, "data"), secret); f != "" {
			t.Fatalf("a secret is stored in plain text in %s", f)
		}
	}
	if !strings.Contains(list.stdout, "Links") || !strings.Contains(list.stdout, pid[1]) {
		t.Fatalf("project list (text): %s", list.stdout)
	}

	// A bad redirect URL fails the command and creates nothing.
	bad := latch(t, dir, nil, "project", "create", "--database", db, "--name", "Bad", "--redirect-url", "javascript:alert(1)")
	if bad.code == 0 || !strings.Contains(bad.stderr, "redirect URL") {
		t.Fatalf("bad redirect URL: exit %d, stderr %q", bad.code, bad.stderr)
	}
	if ps := listProjects(t, dir, nil, "--database", db); len(ps) != 4 {
		t.Fatalf("a failed create left a project behind: %v", ps)
	}
}

func TestRotatedAndRevokedSecretsTakeEffectAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	s := startServer(t, dir, nil, "", "--database", db)
	id, oldSecret := s.firstProject(t)
	oldIDs := listProjects(t, dir, nil, "--database", db)[id].SecretIDs
	if len(oldIDs) != 1 {
		t.Fatalf("want one secret id: %v", oldIDs)
	}

	r := mustLatch(t, dir, nil, "project", "rotate-secret", "--database", db, "--project", id, "--json")
	var rot map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rot); err != nil {
		t.Fatalf("rotate-secret --json: %q", r.stdout)
	}
	newSecret := rot["secret"]
	if rot["project_id"] != id || !strings.HasPrefix(rot["secret_id"], "secret-test-") || !regexp.MustCompile(`^secret-test-[A-Za-z0-9_-]{43}$`).MatchString(newSecret) || newSecret == oldSecret {
		t.Fatalf("rotate-secret: %v", rot)
	}
	// Both work at once.
	accepted(t, s, id, newSecret)
	accepted(t, s, id, oldSecret)
	ids := listProjects(t, dir, nil, "--database", db)[id].SecretIDs
	if len(ids) != 2 {
		t.Fatalf("want two secret ids after rotation: %v", ids)
	}

	// A second project cannot revoke the first's secret.
	other := mustLatch(t, dir, nil, "project", "create", "--database", db, "--json")
	var op map[string]string
	json.Unmarshal([]byte(other.stdout), &op)
	if r := latch(t, dir, nil, "project", "rotate-secret", "--database", db, "--project", op["project_id"], "--revoke-secret", rot["secret_id"]); r.code == 0 {
		t.Fatalf("revoked another project's secret: %s", r.stdout)
	}
	accepted(t, s, id, newSecret)

	// Revoking the old one shuts it out at once; the new one still works.
	mustLatch(t, dir, nil, "project", "rotate-secret", "--database", db, "--project", id, "--revoke-secret", oldIDs[0])
	refused(t, s, id, oldSecret)
	accepted(t, s, id, newSecret)
	if ids := listProjects(t, dir, nil, "--database", db)[id].SecretIDs; len(ids) != 1 || ids[0] != rot["secret_id"] {
		t.Fatalf("after revoke: %v", ids)
	}
	// Unknown secret id or project: the command fails.
	if r := latch(t, dir, nil, "project", "rotate-secret", "--database", db, "--project", id, "--revoke-secret", oldIDs[0]); r.code == 0 {
		t.Fatal("revoking a revoked secret succeeded")
	}
	if r := latch(t, dir, nil, "project", "rotate-secret", "--database", db, "--project", "project-test-nobody"); r.code == 0 {
		t.Fatal("rotating an unknown project succeeded")
	}
	if f := filesContain(t, dir, newSecret); f != "" {
		t.Fatalf("the rotated secret is stored in plain text in %s", f)
	}
}

func TestSIGTERMLetsInFlightRequestsFinishAndExitsZero(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir, nil, "", "--database", "sqlite:"+filepath.Join(dir, "latch.db"))
	id, secret := s.firstProject(t)

	// Several requests whose bodies arrive in two halves: the first half
	// is sent before SIGTERM, the second after the listener has closed.
	const n = 5
	type half struct {
		w    *io.PipeWriter
		rest string
	}
	halves := make([]half, n)
	results := make(chan reply, n)
	// With Expect: 100-continue the transport sends the body only once the
	// handler starts reading it, so a returned first write means the
	// request is accepted and its handler is running.
	tr := &http.Transport{ExpectContinueTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"email":"drain-%d@example.com"}`, i)
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", s.url("/v1/users"), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		req.SetBasicAuth(id, secret)
		halves[i] = half{pw, body[len(body)/2:]}
		go func() {
			res, err := tr.RoundTrip(req)
			if err != nil {
				results <- reply{status: -1, raw: err.Error()}
				return
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			r := reply{status: res.StatusCode, raw: string(raw)}
			json.Unmarshal(raw, &r.body)
			results <- r
		}()
		// The write returns once the transport has taken the first half.
		if _, err := io.WriteString(pw, body[:len(body)/2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun when the listener refuses new connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener is still open 10 s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond) // polling for the process to react
	}
	select {
	case <-s.done:
		t.Fatalf("latch exited with requests in flight: %v\nstderr: %s", s.err, s.stderr)
	default:
	}
	for _, h := range halves {
		io.WriteString(h.w, h.rest)
		h.w.Close()
	}
	for i := 0; i < n; i++ {
		r := <-results
		if r.status != 200 || !strings.HasPrefix(fmt.Sprint(r.body["user_id"]), "user-test-") {
			t.Fatalf("an in-flight request did not complete: %d %s", r.status, r.raw)
		}
	}
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\nstderr: %s", code, s.stderr)
	}
	// The log says when shutdown began and when it ended.
	for _, line := range []string{"latch shutting down", "latch stopped"} {
		if !strings.Contains(s.stderr.String(), line) {
			t.Fatalf("no %q in the log at shutdown:\n%s", line, s.stderr)
		}
	}
	// The drained writes are durable.
	if ps := listProjects(t, dir, nil, "--database", "sqlite:"+filepath.Join(dir, "latch.db")); len(ps) != 1 {
		t.Fatalf("projects: %v", ps)
	}
	s2 := startServer(t, dir, nil, "", "--database", "sqlite:"+filepath.Join(dir, "latch.db"))
	r := call(t, "POST", s2.url("/v1/users/search"), id, secret, `{}`)
	if r.status != 200 || r.body["results_metadata"].(map[string]any)["total"] != float64(n) {
		t.Fatalf("after restart: %s", r.raw)
	}
}

func TestAClientThatNeverFinishesItsHeadersIsDisconnected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir, nil, "", "--database", "sqlite:"+filepath.Join(dir, "latch.db"))
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/users HTTP/1.1\r\nHost: x\r\nX-Slow: aaaa"); err != nil {
		t.Fatal(err)
	}
	// ReadHeaderTimeout is 5 s; allow 15 s of real time before calling it a hang.
	conn.SetReadDeadline(start.Add(15 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a half-sent header held the connection for %s", time.Since(start))
	}
	t.Logf("disconnected after %s (err %v)", time.Since(start).Round(time.Millisecond), err)
	// The server still serves others.
	res, err := http.Get(s.url("/healthz"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz after a slow client: %v", err)
	}
	res.Body.Close()
}

func TestOutboxShowsTheMessagesAServerQueued(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	mustLatch(t, dir, nil, "migrate", "--database", db)
	empty := mustLatch(t, dir, nil, "outbox", "--database", db)
	if !strings.Contains(empty.stdout, "(the outbox is empty)") {
		t.Fatalf("empty outbox: %q", empty.stdout)
	}
	// Without SMTP, a passcode stays in the outbox for the developer.
	s := startServer(t, dir, nil, "", "--database", db)
	id, secret := s.firstProject(t)
	r := call(t, "POST", s.url("/v1/otps/email/login_or_create"), id, secret, `{"email":"Dev@Example.com"}`)
	if r.status != 200 {
		t.Fatalf("send: %d %s", r.status, r.raw)
	}
	out := mustLatch(t, dir, nil, "outbox", "--database", db, "--json", "--to", "DEV@example.com")
	var msgs []struct {
		ProjectID string `json:"project_id"`
		Channel   string `json:"channel"`
		To        string `json:"to"`
		Text      string `json:"text"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &msgs); err != nil {
		t.Fatalf("outbox --json: %q", out.stdout)
	}
	if len(msgs) != 1 || msgs[0].To != "dev@example.com" || msgs[0].Channel != "email" || msgs[0].ProjectID != id ||
		!regexp.MustCompile(`\b\d{6}\b`).MatchString(msgs[0].Text) {
		t.Fatalf("outbox: %+v", msgs)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(msgs[0].Text)
	a := call(t, "POST", s.url("/v1/otps/authenticate"), id, secret, `{"method_id":"`+r.body["email_id"].(string)+`","code":"`+code+`"}`)
	if a.status != 200 {
		t.Fatalf("the outbox code does not log in: %d %s", a.status, a.raw)
	}
	text := mustLatch(t, dir, nil, "outbox", "--database", db)
	if !strings.Contains(text.stdout, "dev@example.com") || !strings.Contains(text.stdout, code) {
		t.Fatalf("outbox text: %s", text.stdout)
	}
	if o := mustLatch(t, dir, nil, "outbox", "--database", db, "--to", "nobody@example.com"); !strings.Contains(o.stdout, "(the outbox is empty)") {
		t.Fatalf("outbox --to filters: %s", o.stdout)
	}
}

func TestHelpExplainsEveryFlagAndItsEnvironmentVariable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flagLine := regexp.MustCompile(`(?m)^  --([a-z-]+)(?:   \$(LATCH_[A-Z_]+))?\n\s+(\S.*)$`)
	for _, c := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"serve"}, []string{"addr", "database", "master-key", "master-key-file", "smtp", "email-from", "twilio-url", "twilio-account-sid", "twilio-auth-token", "twilio-from", "twilio-whatsapp-from", "log-format", "metrics-addr", "console-addr", "console-url", "max-connections", "tls-cert", "tls-key", "trusted-proxies", "breached-passwords-dir"}},
		{[]string{"project", "create"}, []string{"database", "master-key", "master-key-file", "name", "live", "redirect-url", "sdk-origin", "json"}},
		{[]string{"project", "list"}, []string{"database", "json"}},
		{[]string{"project", "rotate-secret"}, []string{"database", "master-key", "master-key-file", "project", "revoke-secret", "json"}},
		{[]string{"outbox"}, []string{"database", "master-key", "master-key-file", "to", "limit", "json"}},
		{[]string{"migrate"}, []string{"database"}},
	} {
		r := latch(t, dir, nil, append(c.args, "--help")...)
		if r.code != 0 {
			t.Errorf("latch %v --help: exit %d", c.args, r.code)
		}
		help := r.stdout + r.stderr
		if !strings.Contains(help, "Usage: latch "+strings.Join(c.args, " ")) {
			t.Fatalf("latch %v --help has no usage line:\n%s", c.args, help)
		}
		seen := map[string]bool{}
		for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
			// The deployment's flags name their variable; the others none.
			want := ""
			if envFlags[m[1]] {
				want = "LATCH_" + strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))
			}
			if m[2] != want {
				t.Fatalf("--%s is documented with $%s, want $%s", m[1], m[2], want)
			}
			if len(m[3]) < 8 {
				t.Fatalf("--%s is not explained: %q", m[1], m[3])
			}
			seen[m[1]] = true
		}
		for _, f := range c.flags {
			if !seen[f] {
				t.Fatalf("latch %v --help does not explain --%s:\n%s", c.args, f, help)
			}
		}
		if len(seen) != len(c.flags) {
			t.Fatalf("latch %v --help: flags %v, want %v", c.args, seen, c.flags)
		}
	}
	serveHelp := latch(t, dir, nil, "serve", "--help")
	for _, def := range []string{`"127.0.0.1:8080"`, `"sqlite:latch-data/latch.db"`} {
		if !strings.Contains(serveHelp.stderr+serveHelp.stdout, def) {
			t.Fatalf("serve --help does not show the default %s", def)
		}
	}
	top := mustLatch(t, dir, nil, "--help")
	for _, cmd := range []string{"serve", "project create", "project rotate-secret", "outbox", "migrate", "version"} {
		if !strings.Contains(top.stdout, cmd) {
			t.Fatalf("latch --help does not list %q:\n%s", cmd, top.stdout)
		}
	}
	// No command, or an unknown one, is an error that shows the usage.
	for _, args := range [][]string{{}, {"frobnicate"}, {"project", "frobnicate"}} {
		r := latch(t, dir, nil, args...)
		if r.code == 0 {
			t.Fatalf("latch %v exited 0", args)
		}
	}
}

// The deployment's flags (database, keys, transports, listeners) come from
// the environment as well; a flag that says what one command does does not:
// a stray LATCH_NAME must not rename a project.
func TestDeploymentFlagsComeFromTheEnvironmentAndCommandChoicesDoNot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	stray := []string{"LATCH_NAME=Oops", "LATCH_LIVE=true", "LATCH_JSON=0", "LATCH_REDIRECT_URL=https://stray.example/"}
	r := mustLatch(t, dir, append([]string{"LATCH_DATABASE=" + db}, stray...), "project", "create", "--name", "Acme", "--json")
	if !testCreateJSON.MatchString(r.stdout) {
		t.Fatalf("LATCH_LIVE or LATCH_JSON was read: %q", r.stdout)
	}
	var m map[string]string
	json.Unmarshal([]byte(r.stdout), &m)
	got := listProjects(t, dir, []string{"LATCH_DATABASE=" + db})[m["project_id"]]
	if got.Name != "Acme" || got.Live || strings.Contains(strings.Join(got.RedirectURLs, " "), "stray") {
		t.Fatalf("a command choice came from the environment: %+v", got)
	}
	// `project settings` with only --project shows the settings: LATCH_NAME
	// does not rename the project.
	mustLatch(t, dir, append([]string{"LATCH_DATABASE=" + db}, stray...), "project", "settings", "--project", m["project_id"])
	if got := listProjects(t, dir, []string{"LATCH_DATABASE=" + db})[m["project_id"]]; got.Name != "Acme" {
		t.Fatalf("LATCH_NAME renamed the project: %+v", got)
	}
	// --help names the variables of the deployment's flags only.
	h := mustLatch(t, dir, nil, "project", "create", "--help").stdout
	if !strings.Contains(h, "$LATCH_DATABASE") || strings.Contains(h, "$LATCH_NAME") {
		t.Fatalf("project create --help:\n%s", h)
	}
	// A malformed value names its variable.
	bad := latch(t, dir, []string{"LATCH_DATABASE=" + db, "LATCH_MAX_CONNECTIONS=many"}, "serve", "--addr", "127.0.0.1:0")
	if bad.code != 2 || !strings.Contains(bad.stderr, "LATCH_MAX_CONNECTIONS") {
		t.Fatalf("LATCH_MAX_CONNECTIONS=many: exit %d %q", bad.code, bad.stderr)
	}
}

func TestVersionAndMigrate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := mustLatch(t, dir, nil, args...); r.stdout != "latch "+testVersion+"\n" {
			t.Fatalf("latch %v printed %q", args, r.stdout)
		}
	}
	db := "sqlite:" + filepath.Join(dir, "m.db")
	for i := 0; i < 2; i++ { // idempotent
		if r := mustLatch(t, dir, nil, "migrate", "--database", db); !strings.Contains(r.stdout, "migrations applied") {
			t.Fatalf("migrate #%d: %q", i+1, r.stdout)
		}
	}
	if ps := listProjects(t, dir, nil, "--database", db); len(ps) != 0 {
		t.Fatalf("a migrated database has no project: %v", ps)
	}
	if r := latch(t, dir, nil, "migrate", "--database", "mysql://nope"); r.code == 0 || !strings.Contains(r.stderr, "unsupported database") {
		t.Fatalf("migrate with an unknown scheme: exit %d %q", r.code, r.stderr)
	}
}

func TestTheBinaryWorksOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := storetest.PostgresURL(t)
	mustLatch(t, dir, nil, "migrate", "--database", db)
	// PostgreSQL has no data folder: the master key file is given.
	key := "LATCH_MASTER_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	s := startServer(t, dir, []string{key}, "", "--database", db)
	id, secret := s.firstProject(t)
	r := mustLatch(t, dir, []string{key}, "project", "create", "--database", db, "--json")
	var m map[string]string
	json.Unmarshal([]byte(r.stdout), &m)
	createUser(t, s, m["project_id"], m["secret"], "pg@example.com")
	createUser(t, s, id, secret, "pg@example.com")
	rot := mustLatch(t, dir, []string{key}, "project", "rotate-secret", "--database", db, "--project", id, "--json")
	var rm map[string]string
	json.Unmarshal([]byte(rot.stdout), &rm)
	accepted(t, s, id, rm["secret"])
	old := ""
	for _, sid := range listProjects(t, dir, nil, "--database", db)[id].SecretIDs {
		if sid != rm["secret_id"] {
			old = sid
		}
	}
	mustLatch(t, dir, []string{key}, "project", "rotate-secret", "--database", db, "--project", id, "--revoke-secret", old)
	refused(t, s, id, secret)
	// A command with another master key (here a new key file made in this
	// folder) refuses the database rather than sealing data no node can open.
	if r := latch(t, dir, nil, "project", "rotate-secret", "--database", db, "--project", id); r.code != 1 || !strings.Contains(r.stderr, "master key does not open") {
		t.Fatalf("a command with the wrong master key: exit %d %q", r.code, r.stderr)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestTheFirstStartHintPointsCurlAtALocalAddress(t *testing.T) {
	for addr, want := range map[*net.TCPAddr]string{
		{IP: net.IPv4zero, Port: 9000}:          "http://127.0.0.1:9000",
		{IP: net.IPv6unspecified, Port: 9000}:   "http://127.0.0.1:9000",
		{IP: net.IPv4(10, 1, 2, 3), Port: 8080}: "http://10.1.2.3:8080",
		{IP: net.IPv6loopback, Port: 8080}:      "http://[::1]:8080",
	} {
		if got := baseURL("http", addr); got != want {
			t.Errorf("baseURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestProjectSettingsChangeTheSendLimitOfARunningServer(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "")
	id, secret := s.firstProject(t)
	r := mustLatch(t, dir, nil, "project", "settings", "--project", id, "--recipient-sends-per-minute", "2", "--lock-threshold", "3")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("settings output %q: %v", r.stdout, err)
	}
	if got["recipient_sends_per_minute"] != float64(2) || got["lock_threshold"] != float64(3) || got["project_sends_per_minute"] != float64(100000) { // unset: the default, as applied
		t.Fatalf("settings: %v", got)
	}
	// This server has not read the project since it started (nothing
	// authenticated yet), so it applies the new limit to the first send.
	body := `{"email":"limit@example.com"}`
	for n := 1; n <= 2; n++ {
		if rep := call(t, "POST", s.url("/v1/magic_links/email/login_or_create"), id, secret, body); rep.status != 200 {
			t.Fatalf("send %d: %d %s", n, rep.status, rep.raw)
		}
	}
	if rep := call(t, "POST", s.url("/v1/magic_links/email/login_or_create"), id, secret, body); rep.status != 429 || rep.body["error_type"] != "too_many_requests" {
		t.Fatalf("third send in a minute with a limit of 2: %d %s", rep.status, rep.raw)
	}
	if r := latch(t, dir, nil, "project", "settings", "--project", id, "--lock-threshold", "0"); r.code == 0 {
		t.Fatal("a lock threshold of 0 was accepted")
	}
}

func TestServeWarnsAtStartWhenLiveProjectsHaveNoTransport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "data", "latch.db")
	quiet := startServer(t, dir, nil, "", "--database", db) // only the test project: no warning
	quiet.stop(t)
	if strings.Contains(quiet.stderr.String(), "live projects cannot send") {
		t.Fatalf("warned without a live project:\n%s", quiet.stderr)
	}
	r := mustLatch(t, dir, nil, "project", "create", "--database", db, "--name", "Live", "--live", "--json")
	var m map[string]string
	json.Unmarshal([]byte(r.stdout), &m)

	s := startServer(t, dir, nil, "", "--database", db, "--smtp", "smtp://127.0.0.1:1", "--email-from", "x@example.com")
	log := s.stderr.String()
	for _, ch := range []string{"sms", "whatsapp"} {
		if !regexp.MustCompile(`level=WARN msg="live projects cannot send ` + ch + `[^\n]*` + m["project_id"]).MatchString(log) {
			t.Errorf("no warning for %s naming %s:\n%s", ch, m["project_id"], log)
		}
	}
	if strings.Contains(log, "live projects cannot send email") {
		t.Errorf("warned about email, which has SMTP:\n%s", log)
	}
}

// TestARestartOnSQLiteSendsAtOnceWhatTheKilledProcessHadClaimed: a message
// the killed process had claimed (its SMTP server never answered) is sent
// by the next start as soon as it is up, not when the dead process's
// one-minute lease runs out: on SQLite only one process serves the file.
func TestARestartOnSQLiteSendsAtOnceWhatTheKilledProcessHadClaimed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	dialled := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			dialled <- c
		}
	}()
	s := startServer(t, dir, nil, "", "--database", db, "--smtp", "smtp://"+silent.Addr().String(), "--email-from", "x@example.com")
	id, secret := s.firstProject(t)
	const addr = "claimed@example.com"
	if r := call(t, "POST", s.url("/v1/magic_links/email/login_or_create"), id, secret, `{"email":"`+addr+`"}`); r.status != 200 {
		t.Fatalf("login_or_create: %d %s", r.status, r.raw)
	}
	select {
	case <-dialled: // claimed, and in the hands of a transport that hangs
	case <-time.After(10 * time.Second):
		t.Fatal("the sender never dialled the SMTP server")
	}
	s.cmd.Process.Kill()
	s.wait(t)

	mail := latchtest.NewMailServer(t)
	s2 := startServer(t, dir, nil, "", "--database", db, "--smtp", "smtp://"+mail.Addr, "--email-from", "x@example.com")
	mail.WaitFor(t, addr, 1) // within 10 s: well inside the lease
	s2.stop(t)
}

func TestProjectSettingsSetTheLUDSPasswordPolicy(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "")
	id, secret := s.firstProject(t)
	r := mustLatch(t, dir, nil, "project", "settings", "--project", id, "--password-policy", "luds", "--luds-min-length", "12", "--luds-complexity", "4")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("settings output %q: %v", r.stdout, err)
	}
	if got["password_policy"] != "luds" || got["luds_min_length"] != float64(12) || got["luds_complexity"] != float64(4) {
		t.Fatalf("settings: %v", got)
	}
	rep := call(t, "POST", s.url("/v1/passwords/strength_check"), id, secret, `{"password":"abcDEF123"}`)
	if rep.status != 200 || rep.body["strength_policy"] != "luds" || rep.body["valid_password"] != false {
		t.Fatalf("strength_check under LUDS 12/4: %d %s", rep.status, rep.raw)
	}
	for _, bad := range [][]string{{"--password-policy", "nist"}, {"--luds-min-length", "7"}, {"--luds-complexity", "5"}} {
		if r := latch(t, dir, nil, append([]string{"project", "settings", "--project", id}, bad...)...); r.code == 0 {
			t.Fatalf("%v was accepted", bad)
		}
	}
}

var sqliteCommitMetric = regexp.MustCompile(`(?m)^latch_sqlite_(commits|writes)_total (\d+)$`)

// TestSignupsAtOnceAreAllDurableAndTheMetricsCountTheirCommits: users
// created at once on a SQLite file are each readable once their 200 is
// back, and /metrics counts the writes and the commits that held them.
func TestSignupsAtOnceAreAllDurableAndTheMetricsCountTheirCommits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	metrics := freeAddr(t)
	s := startServer(t, dir, nil, "", "--database", "sqlite:"+filepath.Join(dir, "latch.db"), "--metrics-addr", metrics)
	id, secret := s.firstProject(t)
	const signups = 40
	ids := make([]string, signups)
	var wg sync.WaitGroup
	for i := range signups {
		wg.Go(func() {
			r := call(t, "POST", s.url("/v1/users"), id, secret, fmt.Sprintf(`{"email":"at-once-%d@example.com"}`, i))
			if r.status != 200 {
				t.Errorf("signup %d: %d %s", i, r.status, r.raw)
				return
			}
			ids[i], _ = r.body["user_id"].(string)
		})
	}
	wg.Wait()
	for i, uid := range ids {
		if r := call(t, "GET", s.url("/v1/users/"+uid), id, secret, ""); r.status != 200 {
			t.Errorf("user %d (%s) after its 200: %d %s", i, uid, r.status, r.raw)
		}
	}
	res, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	got := map[string]int{}
	for _, m := range sqliteCommitMetric.FindAllSubmatch(body, -1) {
		got[string(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	if got["writes"] < signups || got["commits"] < 1 || got["commits"] > got["writes"] {
		t.Fatalf("latch_sqlite_commits_total %d, latch_sqlite_writes_total %d after %d signups", got["commits"], got["writes"], signups)
	}
}
