package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// selfSigned writes a certificate for 127.0.0.1 and latch.test and its key
// to dir, and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "latch.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"latch.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// latch serve --tls-cert/--tls-key (here from $LATCH_TLS_CERT and
// $LATCH_TLS_KEY) serves HTTPS, which the frontend SDK requires; its first
// project prints a public token and authorizes http://localhost:3000.
func TestServeSpeaksHTTPSWithTheGivenCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	addr := freeAddr(t)
	stdout, stderr := latchtest.NewProcessOutput(t), latchtest.NewProcessOutput(t)
	cmd := exec.Command(latchBin, "serve", "--addr", addr)
	cmd.Dir = dir
	cmd.Env = latchtest.Environ("LATCH_TLS_CERT="+certFile, "LATCH_TLS_KEY="+keyFile)
	cmd.Stdout, cmd.Stderr = stdout.File(), stderr.File()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("latch serve exited: %s", stderr)
		default:
		}
		res, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS on %s: %v\n%s", addr, err, stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling for a process to come up
	}
	out := stdout.String()
	tok := regexpFind(t, out, `public_token: (public-token-test-\S+)`)
	if !strings.Contains(out, "https://"+addr+"/v1/sessions/jwks/") {
		t.Fatalf("the first start's hint does not name https://%s:\n%s", addr, out)
	}
	// Plain HTTP gets no answer of the API.
	if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200")
		}
	}
	// The SDK's preflight and bootstrap from the default origin.
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/sdk/v1/projects/bootstrap/"+tok, nil)
	req.SetBasicAuth(tok, tok)
	req.Header.Set("Origin", "http://localhost:3000")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Fatalf("bootstrap over HTTPS: %d %v", res.StatusCode, res.Header)
	}
}

func TestServeRefusesHalfATLSConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := latch(t, dir, nil, "serve", "--addr", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "cert.pem"))
	if r.code == 0 || !strings.Contains(r.stderr, "--tls-cert and --tls-key go together") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	r = latch(t, dir, nil, "serve", "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8, proxy.example")
	if r.code != 2 || !strings.Contains(r.stderr, `"proxy.example" is neither an address nor a CIDR`) {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// project create --sdk-origin and project sdk-origins add|list|remove keep
// origins in the form a browser sends (lower case, no default port, no
// slash); project list shows the public token create printed.
func TestProjectSDKOriginsAreKeptAsBrowsersSendThem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	r := mustLatch(t, dir, nil, "project", "create", "--database", db, "--json", "--sdk-origin", "HTTP://LocalHost:3000/")
	var created map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || !strings.HasPrefix(created["public_token"], "public-token-test-") {
		t.Fatalf("create: %v %s", err, r.stdout)
	}
	id := created["project_id"]
	origins := func() string {
		return mustLatch(t, dir, nil, "project", "sdk-origins", "list", "--database", db, "--project", id).stdout
	}
	if got := origins(); got != "http://localhost:3000\n" {
		t.Fatalf("list: %q", got)
	}
	if out := mustLatch(t, dir, nil, "project", "sdk-origins", "add", "--database", db, "--project", id, "https://App.Example:443", "http://[::1]:8080").stdout; out != "added https://app.example\nadded http://[::1]:8080\n" {
		t.Fatalf("add: %q", out)
	}
	for _, bad := range []string{"https://app.example/login", "null", "*.example.com", "ftp://x.example", "https://u@x.example"} {
		if r := latch(t, dir, nil, "project", "sdk-origins", "add", "--database", db, "--project", id, bad); r.code == 0 {
			t.Fatalf("add %q: accepted", bad)
		}
	}
	mustLatch(t, dir, nil, "project", "sdk-origins", "remove", "--database", db, "--project", id, "http://localhost:3000")
	if got := sortedLines(origins()); got != "http://[::1]:8080 https://app.example" {
		t.Fatalf("after remove: %q", got)
	}
	if r := latch(t, dir, nil, "project", "sdk-origins", "remove", "--database", db, "--project", id, "http://localhost:3000"); r.code == 0 {
		t.Fatal("removing an origin not there succeeded")
	}
	if out := mustLatch(t, dir, nil, "project", "sdk-settings", "--database", db, "--project", id).stdout; out != "pkce_required: true\n" {
		t.Fatalf("sdk-settings: %q", out)
	}
	if out := mustLatch(t, dir, nil, "project", "sdk-settings", "--database", db, "--project", id, "--pkce-required", "false").stdout; out != "pkce_required: false\n" {
		t.Fatalf("sdk-settings --pkce-required false: %q", out)
	}
	if r := latch(t, dir, nil, "project", "sdk-settings", "--database", db, "--project", id, "--pkce-required", "maybe"); r.code != 2 {
		t.Fatalf("--pkce-required maybe: exit %d", r.code)
	}
	var listed []struct {
		ProjectID   string   `json:"project_id"`
		PublicToken string   `json:"public_token"`
		SDKOrigins  []string `json:"sdk_origins"`
	}
	if err := json.Unmarshal([]byte(mustLatch(t, dir, nil, "project", "list", "--database", db, "--json").stdout), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].PublicToken != created["public_token"] || sortedLines(strings.Join(listed[0].SDKOrigins, "\n")) != "http://[::1]:8080 https://app.example" {
		t.Fatalf("list: %+v", listed)
	}
}

func regexpFind(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, s)
	}
	return m[1]
}

func sortedLines(s string) string {
	ls := strings.Fields(s)
	slices.Sort(ls)
	return strings.Join(ls, " ")
}
