// Command bench measures Latch against a same-run baseline (issue 7).
//
//	go run ./bench -sessions 10000 [-backend sqlite|postgres|both] [-duration 10s]
//	    [-connections 32] [-scenarios token,extend,jwt,login,otp,userget]
//	    [-cpuprofile-dir DIR]
//
// For each backend it builds latch and the baseline (bench/baseline), makes
// a fresh store (a temporary SQLite file, or a new schema on
// LATCH_TEST_POSTGRES_URL dropped at the end), runs `latch migrate` and
// `latch project create`, bulk-inserts N users with N live sessions, starts
// `latch serve` and the baseline side by side, and loads them in turn
// (baseline, latch, baseline, latch) for each scenario. It prints one
// Markdown table: throughput, p50/p99/p99.9 latency, server CPU per 1,000
// operations and peak RSS, Latch's figures also as ratios to the baseline.
//
// Load generators: wrk (closed loop: 2 threads, -connections connections;
// latencies without coordinated-omission correction) for the one-request
// scenarios; a Go closed-loop driver for the logins, which need the token or
// code from the outbox between their two requests. The baseline of a driven
// scenario is measured through the same Go driver.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// defaultPostgresURL is used when LATCH_TEST_POSTGRES_URL is not set.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// scenario is one kind of load.
type scenario struct {
	name   string
	title  string
	driven bool // by the Go driver (two requests and an outbox read) rather than wrk
	signs  bool // every answer mints a session JWT: also run against the signing baseline
}

var scenarios = []scenario{
	{"token", "sessions/authenticate by token", false, true},
	{"extend", "sessions/authenticate by token + session_duration_minutes", false, true},
	{"jwt", "sessions/authenticate by JWT (a pool of -jwts JWTs of active sessions, fetched through the API first)", false, true},
	{"login", "magic link login_or_create + authenticate (a full login)", true, false},
	{"otp", "email OTP login_or_create + authenticate (a full login)", true, false},
	{"userget", "users/get", false, false},
}

func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

type config struct {
	sessions    int
	backends    []string
	duration    time.Duration
	connections int
	threads     int
	scenarios   []scenario
	profileDir  string
	jwtPool     int
	active      int
	keep        bool
	postgresURL string
	revision    string // what was built: commit, and whether the tree differed
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	backend := flag.String("backend", "both", "sqlite, postgres or both")
	names := flag.String("scenarios", "token,extend,jwt,login,otp,userget", "comma-separated scenarios")
	flag.IntVar(&cfg.sessions, "sessions", 10000, "users and live sessions to seed")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each timed run (whole seconds)")
	flag.IntVar(&cfg.connections, "connections", 32, "concurrent connections (wrk -c; Go driver workers)")
	flag.IntVar(&cfg.threads, "threads", runtime.NumCPU(), "wrk threads")
	flag.StringVar(&cfg.profileDir, "cpuprofile-dir", "", "after the table's runs, run each scenario once more against latch with a CPU profile (bench/profserve) and write DIR/latch-BACKEND-SCENARIO.pprof")
	flag.IntVar(&cfg.active, "active", 10000, "active sessions: the one-request scenarios draw from this many of the seeded sessions, chosen at random (the rest stay live and idle); at most -sessions")
	flag.IntVar(&cfg.jwtPool, "jwts", 2000, "session JWTs fetched through the API for the jwt scenario (at most -sessions)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary folder (databases, logs, token files)")
	flag.Parse()

	switch *backend {
	case "both":
		cfg.backends = []string{sqlstore.BackendSQLite, sqlstore.BackendPostgres}
	case sqlstore.BackendSQLite, sqlstore.BackendPostgres:
		cfg.backends = []string{*backend}
	default:
		return fmt.Errorf("-backend: want sqlite, postgres or both, got %q", *backend)
	}
	for _, n := range strings.Split(*names, ",") {
		s, ok := scenarioNamed(strings.TrimSpace(n))
		if !ok {
			return fmt.Errorf("-scenarios: unknown %q", n)
		}
		cfg.scenarios = append(cfg.scenarios, s)
	}
	if cfg.sessions < 1 || cfg.connections < 1 || cfg.threads < 1 || cfg.duration < time.Second {
		return errors.New("-sessions, -connections and -threads must be positive, -duration at least 1s")
	}
	cfg.threads = min(cfg.threads, cfg.connections)
	cfg.active = max(1, min(cfg.active, cfg.sessions))
	cfg.jwtPool = max(1, min(cfg.jwtPool, cfg.active))
	cfg.postgresURL = os.Getenv("LATCH_TEST_POSTGRES_URL")
	if cfg.postgresURL == "" {
		cfg.postgresURL = defaultPostgresURL
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
		abs, err := filepath.Abs(cfg.profileDir)
		if err != nil {
			return err
		}
		cfg.profileDir = abs
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	wrk, err := ensureWrk()
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "latch-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	pkgs := []string{"./cmd/latch", "./bench/baseline"}
	if cfg.profileDir != "" {
		pkgs = append(pkgs, "./bench/profserve")
	}
	progress("building %s", strings.Join(pkgs, ", "))
	if err := build(root, tmp, pkgs...); err != nil {
		return err
	}
	master := secret.Bytes(secret.MasterKeySize)
	ring, err := secret.NewKeyring(master)
	if err != nil {
		return err
	}
	e := &env{cfg: cfg, tmp: tmp, wrk: wrk, masterB64: base64.StdEncoding.EncodeToString(master), ring: ring}

	cfg.revision = revision(root)
	started, load0 := time.Now(), loadAverage()
	var rows []row
	for _, b := range cfg.backends {
		rs, err := e.runBackend(ctx, b)
		rows = append(rows, rs...)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
	}
	report(os.Stdout, cfg, rows, time.Since(started), load0, loadAverage())
	return nil
}

// revision names the code under test: the commit, and how many tracked
// files differed from it when it was built.
func revision(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	rev := "commit " + strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if t := strings.TrimSpace(string(st)); t != "" {
			rev += fmt.Sprintf(" with uncommitted changes to %d files", strings.Count(t, "\n")+1)
		}
	}
	return rev
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// env is what every backend's run shares.
type env struct {
	cfg       config
	tmp       string
	wrk       string
	masterB64 string
	ring      *secret.Keyring
}

func (e *env) bin(name string) string { return filepath.Join(e.tmp, name) }

// prepareDatabase returns the database URL for backend and a function that
// drops it (PostgreSQL: a fresh schema).
func (e *env) prepareDatabase(ctx context.Context, backend, dir string) (string, func(), error) {
	if backend == sqlstore.BackendSQLite {
		return "sqlite:" + filepath.Join(dir, "latch.db"), func() {}, nil
	}
	admin, err := sql.Open("pgx", e.cfg.postgresURL)
	if err != nil {
		return "", nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := admin.PingContext(pctx); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("PostgreSQL at LATCH_TEST_POSTGRES_URL does not answer: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "latch_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(pctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, err
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(dctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			progress("drop schema %s: %v", schema, err)
		}
		admin.Close()
	}
	u, err := url.Parse(e.cfg.postgresURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// runBackend seeds one store, starts latch and the baseline beside it and
// runs every scenario against both.
func (e *env) runBackend(ctx context.Context, backend string) (rows []row, err error) {
	dir := filepath.Join(e.tmp, backend)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dbURL, drop, err := e.prepareDatabase(ctx, backend, dir)
	if err != nil {
		return nil, err
	}
	defer drop()

	progress("%s: latch migrate; latch project create", backend)
	if _, err := runTool(e.bin("latch"), "migrate", "--database", dbURL); err != nil {
		return nil, err
	}
	out, err := runTool(e.bin("latch"), "project", "create", "--database", dbURL, "--master-key", e.masterB64,
		"--name", "Bench", "--redirect-url", "https://bench.example/auth", "--json")
	if err != nil {
		return nil, err
	}
	var proj struct {
		ProjectID string `json:"project_id"`
		Secret    string `json:"secret"`
	}
	if err := json.Unmarshal(out, &proj); err != nil {
		return nil, fmt.Errorf("project create printed %q: %w", out, err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(proj.ProjectID+":"+proj.Secret))

	t0 := time.Now()
	seed, err := seedStore(ctx, dbURL, proj.ProjectID, e.ring, e.cfg.sessions, time.Now())
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	progress("%s: seeded %d users, emails and sessions in %.1f s", backend, e.cfg.sessions, time.Since(t0).Seconds())
	seed.chooseActive(e.cfg.active)
	if err := seed.writeFiles(dir); err != nil {
		return nil, err
	}

	latchAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	latch, err := startProc("latch", e.bin("latch"), latchAddr, filepath.Join(dir, "latch.log"),
		"serve", "--addr", latchAddr, "--database", dbURL, "--master-key", e.masterB64, "--metrics-addr", "")
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := latch.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	baseAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base, err := startProc("baseline", e.bin("baseline"), baseAddr, filepath.Join(dir, "baseline.log"),
		"--addr", baseAddr, "--sessions", filepath.Join(dir, "sessions.tsv"), "--project", proj.ProjectID, "--secret", proj.Secret)
	if err != nil {
		return nil, err
	}
	defer base.stop()
	signAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	signBase, err := startProc("baseline+sign", e.bin("baseline"), signAddr, filepath.Join(dir, "baseline-sign.log"),
		"--addr", signAddr, "--sessions", filepath.Join(dir, "sessions.tsv"), "--project", proj.ProjectID, "--secret", proj.Secret, "--sign")
	if err != nil {
		return nil, err
	}
	defer signBase.stop()

	// The Go driver reads the outbox through the store, as `latch outbox` does.
	obURL := dbURL
	if backend == sqlstore.BackendPostgres {
		obURL += "&pool_max_conns=8"
	}
	obDB, err := sqlstore.Open(ctx, obURL)
	if err != nil {
		return nil, err
	}
	defer obDB.Close()

	b := &backendRun{
		env: e, backend: backend, dir: dir, basic: basic, seed: seed, latch: latch, base: base, signBase: signBase,
		latchClient: newClient(latchAddr, basic, e.cfg.connections),
		baseClient:  newClient(baseAddr, basic, e.cfg.connections),
		outbox:      &outbox{db: obDB, ring: e.ring},
		dbURL:       dbURL,
	}
	progress("%s: warming up both servers", backend)
	for _, p := range []*proc{base, signBase, latch} {
		if _, err := runWrk(ctx, e.wrk, dir, "token", basic, "http://"+p.addr+"/v1/sessions/authenticate",
			filepath.Join(dir, "active-tokens.txt"), e.cfg.threads, e.cfg.connections, 2*time.Second); err != nil {
			return nil, err
		}
	}
	for _, sc := range e.cfg.scenarios {
		r, err := b.scenario(ctx, sc)
		if err != nil {
			if ctx.Err() != nil {
				return rows, ctx.Err()
			}
			// One broken scenario is a finding, not the end of the run.
			progress("%s: %s: FAILED: %v (latch's log: %s)", backend, sc.name, err, filepath.Join(dir, "latch.log"))
			r.err = err
		}
		rows = append(rows, r)
	}
	if e.cfg.profileDir != "" {
		if err := latch.stop(); err != nil {
			return rows, err
		}
		latch = nil
		for _, sc := range e.cfg.scenarios {
			if err := b.profile(ctx, sc); err != nil {
				return rows, fmt.Errorf("profile %s: %w", sc.name, err)
			}
		}
	}
	return rows, nil
}

// backendRun is one backend's servers and data.
type backendRun struct {
	*env
	backend     string
	dir         string
	basic       string
	seed        *seeded
	latch, base *proc
	signBase    *proc // the baseline that mints a JWT per request
	latchClient *client
	baseClient  *client
	outbox      *outbox
	dbURL       string
	runID       int
}

// items returns the file of request items a wrk scenario draws from,
// preparing it first where needed (JWTs are fetched through the API).
func (b *backendRun) items(ctx context.Context, sc scenario) (string, error) {
	switch sc.name {
	case "userget":
		return filepath.Join(b.dir, "active-users.txt"), nil
	case "jwt":
		path := filepath.Join(b.dir, "jwts.txt")
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		t0 := time.Now()
		jwts, err := b.fetchJWTs(ctx, b.latchClient, b.cfg.jwtPool)
		if err != nil {
			return "", err
		}
		progress("%s: fetched %d session JWTs in %.1f s", b.backend, len(jwts), time.Since(t0).Seconds())
		return path, os.WriteFile(path, []byte(strings.Join(jwts, "\n")+"\n"), 0o600)
	default:
		return filepath.Join(b.dir, "active-tokens.txt"), nil
	}
}

// fetchJWTs authenticates the first n active sessions by token and keeps
// their JWTs.
func (b *backendRun) fetchJWTs(ctx context.Context, c *client, n int) ([]string, error) {
	jwts := make([]string, n)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				var res struct {
					SessionJWT string `json:"session_jwt"`
				}
				err := c.call(ctx, "POST", "/v1/sessions/authenticate", map[string]string{"session_token": b.seed.tokens[b.seed.active[i]]}, &res)
				if err == nil && res.SessionJWT == "" {
					err = errors.New("no session_jwt in the reply")
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					continue
				}
				jwts[i] = res.SessionJWT
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return jwts, nil
}

// check sends one request of the scenario to latch and fails unless it
// succeeds, so that a broken scenario is not timed.
func (b *backendRun) check(ctx context.Context, sc scenario, items string) error {
	switch sc.name {
	case "login":
		return loginOp(b.latchClient, b.outbox, "check")(ctx, 0, 0)
	case "otp":
		return otpOp(b.latchClient, b.outbox, "check")(ctx, 0, 0)
	}
	data, err := os.ReadFile(items)
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	switch sc.name {
	case "token":
		return b.latchClient.call(ctx, "POST", "/v1/sessions/authenticate", map[string]any{"session_token": first}, nil)
	case "extend":
		return b.latchClient.call(ctx, "POST", "/v1/sessions/authenticate", map[string]any{"session_token": first, "session_duration_minutes": 60}, nil)
	case "jwt":
		return b.latchClient.call(ctx, "POST", "/v1/sessions/authenticate", map[string]any{"session_jwt": first}, nil)
	case "userget":
		return b.latchClient.call(ctx, "GET", "/v1/users/"+first, nil, nil)
	}
	return fmt.Errorf("no check for %s", sc.name)
}

// scenario runs baseline, latch, baseline, latch (with the signing
// baseline before each latch run where answers carry a JWT) and returns the
// means.
func (b *backendRun) scenario(ctx context.Context, sc scenario) (row, error) {
	items, err := b.items(ctx, sc)
	if err != nil {
		return row{backend: b.backend, scenario: sc}, err
	}
	r := row{backend: b.backend, scenario: sc}
	if err := b.check(ctx, sc, items); err != nil {
		return r, fmt.Errorf("check request failed: %w", err)
	}
	order := []*proc{b.base, b.latch, b.base, b.latch}
	if sc.signs {
		order = []*proc{b.base, b.signBase, b.latch, b.base, b.signBase, b.latch}
	}
	for i, target := range order {
		isBase := target != b.latch
		progress("%s: %s: run %d of %d (%s)", b.backend, sc.name, i+1, len(order), target.name)
		m, err := b.measure(ctx, sc, target, isBase, items)
		if err != nil {
			return r, err
		}
		switch target {
		case b.base:
			r.base = append(r.base, m)
		case b.signBase:
			r.sign = append(r.sign, m)
		default:
			r.latch = append(r.latch, m)
		}
	}
	return r, nil
}

// measure runs one timed load against target and reads its CPU and RSS.
func (b *backendRun) measure(ctx context.Context, sc scenario, target *proc, isBase bool, items string) (measure, error) {
	pid := target.pid()
	resetPeakRSS(pid)
	pg := b.backend == sqlstore.BackendPostgres && !isBase
	var db0 map[int]time.Duration
	if pg {
		db0 = postgresCPU()
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return measure{}, err
	}
	var l load
	switch {
	case sc.driven && isBase:
		l, err = drive(ctx, b.cfg.connections, b.cfg.duration, tokenOp(b.baseClient, b.seed.tokens))
	case sc.driven:
		b.runID++
		run := fmt.Sprintf("%d%d", time.Now().Unix()%100000, b.runID)
		fn := loginOp(b.latchClient, b.outbox, run)
		if sc.name == "otp" {
			fn = otpOp(b.latchClient, b.outbox, run)
		}
		l, err = drive(ctx, b.cfg.connections, b.cfg.duration, fn)
	default:
		mode, file, path := sc.name, items, "/v1/sessions/authenticate"
		if isBase {
			mode, file = "token", filepath.Join(b.dir, "active-tokens.txt")
		} else if sc.name == "userget" {
			path = "/"
		}
		l, err = runWrk(ctx, b.wrk, b.dir, mode, b.basic, "http://"+target.addr+path, file, b.cfg.threads, b.cfg.connections, b.cfg.duration)
	}
	if err != nil {
		return measure{}, err
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return measure{}, err
	}
	rss, err := peakRSS(pid)
	if err != nil {
		return measure{}, err
	}
	m := measure{load: l, cpu: cpu1 - cpu0, rss: rss}
	if pg {
		m.dbCPU = postgresCPUSince(db0)
	}
	if l.errors > 0 {
		progress("%s: %s: %s: %d of %d requests failed", b.backend, sc.name, target.name, l.errors, l.errors+l.ops)
	}
	return m, nil
}

// profile runs a wrk scenario once against bench/profserve (latch with a
// CPU profile) and writes the profile to the profile folder.
func (b *backendRun) profile(ctx context.Context, sc scenario) error {
	items, err := b.items(ctx, sc)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	out := filepath.Join(b.cfg.profileDir, "latch-"+b.backend+"-"+sc.name+".pprof")
	args := []string{"--addr", addr, "--database", b.dbURL, "--master-key", b.masterB64, "--cpuprofile", out, "--wait"}
	p, err := startProc("latch (profiled)", b.bin("profserve"), addr, filepath.Join(b.dir, "profserve.log"), args...)
	if err != nil {
		return err
	}
	path := "/v1/sessions/authenticate"
	if sc.name == "userget" {
		path = "/"
	}
	if err := syscall.Kill(p.pid(), syscall.SIGUSR1); err != nil {
		p.stop()
		return err
	}
	progress("%s: %s: profiling latch for %s", b.backend, sc.name, b.cfg.duration)
	var werr error
	if sc.driven {
		c := newClient(addr, b.basic, b.cfg.connections)
		fn := loginOp(c, b.outbox, "profile")
		if sc.name == "otp" {
			fn = otpOp(c, b.outbox, "profile")
		}
		_, werr = drive(ctx, b.cfg.connections, b.cfg.duration, fn)
	} else {
		_, werr = runWrk(ctx, b.wrk, b.dir, sc.name, b.basic, "http://"+addr+path, items, b.cfg.threads, b.cfg.connections, b.cfg.duration)
	}
	if err := p.stop(); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	progress("wrote %s", out)
	return nil
}
