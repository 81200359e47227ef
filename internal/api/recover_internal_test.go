package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// newTestServer builds the real router over a SQLite file, logging to buf.
func newTestServer(t *testing.T, buf *syncBuffer) *Server {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ring, err := secret.NewKeyring(secret.Bytes(secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(buf, nil))
	svc := auth.New(auth.Config{Store: db, Keys: keys.New(db, ring, time.Now), Ring: ring, Logger: logger})
	return New(svc, logger)
}

func TestAPanicIsA500WithTheDetailOnlyInTheLog(t *testing.T) {
	var logs syncBuffer
	s := newTestServer(t, &logs)
	const detail = "the launch codes are 0000"
	s.mux.HandleFunc("GET /v1/boom", func(http.ResponseWriter, *http.Request) { panic(detail) })
	s.mux.HandleFunc("GET /v1/boom-after-write", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		panic(detail)
	})
	srv := httptest.NewServer(s)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/v1/boom")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	raw := new(bytes.Buffer)
	raw.ReadFrom(res.Body)
	res.Body.Close()
	if err := json.Unmarshal(raw.Bytes(), &body); err != nil {
		t.Fatalf("500 reply is not JSON: %s", raw)
	}
	if res.StatusCode != 500 || body["error_type"] != "internal_server_error" || body["status_code"] != 500.0 {
		t.Fatalf("panic: %d %s", res.StatusCode, raw)
	}
	for _, f := range []string{"request_id", "error_message", "error_url"} {
		if s, _ := body[f].(string); s == "" {
			t.Fatalf("500 lacks %s: %s", f, raw)
		}
	}
	if strings.Contains(raw.String(), detail) || strings.Contains(raw.String(), "goroutine") {
		t.Fatalf("the reply leaks the panic: %s", raw)
	}
	id := body["request_id"].(string)
	var line string
	for _, ln := range strings.Split(logs.String(), "\n") {
		if strings.Contains(ln, "request_id="+id) {
			line = ln
		}
	}
	if line == "" {
		t.Fatalf("no log line for %s:\n%s", id, logs.String())
	}
	for _, want := range []string{detail, "status=500", `route="GET /v1/boom"`, "level=ERROR"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the log line lacks %q: %s", want, line)
		}
	}

	// A panic after the header went out cannot change the status, but the
	// server survives and logs it.
	res, err = http.Get(srv.URL + "/v1/boom-after-write")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("after write: %d", res.StatusCode)
	}
	if strings.Count(logs.String(), detail) < 2 {
		t.Fatal("the second panic is not logged")
	}
	res, err = http.Get(srv.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the server is gone after a panic: %v", err)
	}
	res.Body.Close()
}
