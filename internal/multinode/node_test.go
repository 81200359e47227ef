package multinode

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// latchBin is the latch binary TestMain builds once for the package.
var latchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latch-multinode-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "multinode:", err)
		os.Exit(1)
	}
	latchBin, err = latchtest.BuildLatch(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "multinode: build latch:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is several `latch serve` processes on one fresh PostgreSQL
// schema, with one master key, one SMTP server and one Twilio double.
type cluster struct {
	Database  string
	MasterKey string
	Mail      *latchtest.MailServer
	SMS       *latchtest.TwilioDouble
	Nodes     []*node
	dir       string // working directory of the processes
}

// node is one running `latch serve` process.
type node struct {
	Name       string
	URL        string
	MetricsURL string
	cmd        *exec.Cmd
	logs       *latchtest.LockedBuffer
	done       chan struct{} // closed when the process has exited
}

// startCluster starts n nodes at the same time (so their migrations race)
// and returns once every one answers GET /healthz. They are stopped when
// the test ends, before its schema is dropped.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{
		Database:  storetest.PostgresURL(t),
		MasterKey: base64.StdEncoding.EncodeToString(secret.Bytes(secret.MasterKeySize)),
		Mail:      latchtest.NewMailServer(t),
		SMS:       latchtest.NewTwilioDouble(t),
		dir:       t.TempDir(),
	}
	type started struct {
		i   int
		n   *node
		err error
	}
	ch := make(chan started, n)
	c.Nodes = make([]*node, n)
	for i := range n {
		go func() {
			nd, err := c.start(string(rune('A' + i)))
			ch <- started{i, nd, err}
		}()
	}
	var errs []error
	for range n {
		s := <-ch
		c.Nodes[s.i] = s.n
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			if nd != nil {
				nd.stop()
			}
		}
		if t.Failed() {
			for _, nd := range c.Nodes {
				if nd != nil {
					t.Logf("log of node %s:\n%s", nd.Name, nd.logs.Tail(16<<10))
				}
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs `latch serve` on a free loopback port and waits (up to 20 s)
// for it to be healthy.
func (c *cluster) start(name string) (*node, error) {
	nd := &node{Name: name, logs: &latchtest.LockedBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(latchBin, "serve",
		"--addr", "127.0.0.1:0",
		"--database", c.Database,
		"--master-key", c.MasterKey,
		"--log-format", "json",
		"--smtp", "smtp://"+c.Mail.Addr,
		"--email-from", "Latch <login@latch.test>",
		"--twilio-url", c.SMS.URL,
		"--twilio-account-sid", latchtest.TwilioSID,
		"--twilio-auth-token", latchtest.TwilioToken,
		"--twilio-from", latchtest.TwilioFrom,
		"--twilio-whatsapp-from", latchtest.TwilioWhatsAppFrom,
	)
	cmd.Env = latchtest.Environ()
	cmd.Dir = c.dir // nothing lands in the source tree
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdout = nd.logs
	addr := make(chan [2]string, 1)
	cmd.Stderr = &logScanner{logs: nd.logs, addr: addr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %s: start: %w", name, err)
	}
	nd.cmd = cmd
	go func() { cmd.Wait(); close(nd.done) }()

	deadline := time.After(20 * time.Second)
	select {
	case a := <-addr:
		nd.URL, nd.MetricsURL = "http://"+a[0], "http://"+a[1]
	case <-nd.done:
		return nd, fmt.Errorf("node %s exited before listening:\n%s", name, nd.logs.Tail(4<<10))
	case <-deadline:
		return nd, fmt.Errorf("node %s did not listen within 20 s:\n%s", name, nd.logs.Tail(4<<10))
	}
	for {
		res, err := http.Get(nd.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nd, nil
			}
		}
		select {
		case <-nd.done:
			return nd, fmt.Errorf("node %s exited:\n%s", name, nd.logs.Tail(4<<10))
		case <-deadline:
			return nd, fmt.Errorf("node %s not healthy within 20 s (last: %v):\n%s", name, err, nd.logs.Tail(4<<10))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop asks the node to shut down (SIGTERM) and kills it after 10 s.
func (nd *node) stop() {
	if nd.cmd == nil || nd.cmd.Process == nil {
		return
	}
	select {
	case <-nd.done:
		return
	default:
	}
	nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.done:
	case <-time.After(10 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.done
	}
}

// cli runs a latch management command against the cluster's database and
// returns its standard output.
func (c *cluster) cli(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, latchBin, args...)
	cmd.Dir = c.dir
	// Through the environment: flags after a positional argument (a URL)
	// would not be parsed.
	cmd.Env = append(latchtest.Environ(), "LATCH_DATABASE="+c.Database, "LATCH_MASTER_KEY="+c.MasterKey)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("latch %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// newProject creates a project with the CLI (a third process) and returns
// its credentials pointed at node A.
func (c *cluster) newProject(t *testing.T, redirects ...string) latchtest.Project {
	t.Helper()
	if len(redirects) == 0 {
		redirects = []string{latchtest.DefaultRedirect}
	}
	args := []string{"project", "create", "--name", "Multinode", "--json"}
	for _, r := range redirects {
		args = append(args, "--redirect-url", r)
	}
	var created struct {
		ProjectID string `json:"project_id"`
		Secret    string `json:"secret"`
	}
	out := c.cli(t, args...)
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ProjectID == "" || created.Secret == "" {
		t.Fatalf("project create: %v: %q", err, out)
	}
	return latchtest.Project{ID: created.ProjectID, Secret: created.Secret, URL: c.Nodes[0].URL}
}

// on points p at node i.
func (c *cluster) on(p latchtest.Project, i int) latchtest.Project {
	p.URL = c.Nodes[i%len(c.Nodes)].URL
	return p
}

// reply is one answer of a request made off the test goroutine.
type reply struct {
	Status    int
	ErrorType string
	Body      map[string]any
	Err       error
}

// client allows many requests in flight to each node at once.
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
}

// post sends a JSON request with p's credentials. Unlike Project.Do it may
// run on any goroutine: it returns failures instead of ending the test.
func post(p latchtest.Project, path string, body any) reply {
	js, err := json.Marshal(body)
	if err != nil {
		return reply{Err: err}
	}
	req, err := http.NewRequest(http.MethodPost, p.URL+path, bytes.NewReader(js))
	if err != nil {
		return reply{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(p.ID, p.Secret)
	res, err := client.Do(req)
	if err != nil {
		return reply{Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{Err: err}
	}
	r := reply{Status: res.StatusCode}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		return reply{Status: res.StatusCode, Err: fmt.Errorf("reply is not JSON: %q", raw)}
	}
	r.ErrorType, _ = r.Body["error_type"].(string)
	return r
}

// get fetches a path without credentials and returns the status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, b
}

// logScanner copies a node's JSON log into logs and sends, once, the
// API and metrics addresses of its "latch listening" line to addr.
type logScanner struct {
	logs    *latchtest.LockedBuffer
	addr    chan<- [2]string
	partial []byte
	sent    bool
}

func (s *logScanner) Write(p []byte) (int, error) {
	s.logs.Write(p)
	if s.sent {
		return len(p), nil
	}
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := s.partial[:i]
		s.partial = s.partial[i+1:]
		var rec struct {
			Msg         string `json:"msg"`
			Addr        string `json:"addr"`
			MetricsAddr string `json:"metrics_addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "latch listening" && rec.Addr != "" {
			s.addr <- [2]string{rec.Addr, rec.MetricsAddr}
			s.sent, s.partial = true, nil
			return len(p), nil
		}
	}
}
