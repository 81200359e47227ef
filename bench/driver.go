package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// histogram records latencies in microseconds, log-linear with 128
// sub-buckets per power of two (under 1 % error), as HdrHistogram does.
type histogram struct {
	counts []uint64
	n      uint64
}

const subBuckets = 128

func newHistogram() *histogram { return &histogram{counts: make([]uint64, 48*subBuckets)} }

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 8 // keep the top 8 bits: 128…255
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

func bucketValue(b int) uint64 {
	if b < subBuckets {
		return uint64(b)
	}
	shift := b/subBuckets - 1
	return uint64(b%subBuckets+subBuckets) << shift
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	b := min(bucketOf(us), len(h.counts)-1)
	h.counts[b]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// percentile returns the latency at p (0–100).
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := uint64(float64(h.n)*p/100 + 0.5)
	want = max(want, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= want {
			return time.Duration(bucketValue(b)) * time.Microsecond
		}
	}
	return time.Duration(bucketValue(len(h.counts)-1)) * time.Microsecond
}

// client is an HTTP client of one server with the project's credentials.
type client struct {
	base  string
	basic string
	http  *http.Client
}

func newClient(addr, basic string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &client{base: "http://" + addr, basic: basic, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// call sends a request with a JSON body (nil for none) and decodes a 200
// reply into out (when not nil).
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.basic)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %.300s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// op is one operation of a driven scenario; worker and seq make it unique.
type op func(ctx context.Context, worker, seq int) error

// drive runs op from conns workers in a closed loop for d and records the
// latency of each whole operation.
func drive(ctx context.Context, conns int, d time.Duration, fn op) (load, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      = newHistogram()
		errs     atomic.Int64
		firstErr error
	)
	start := time.Now()
	stop := start.Add(d)
	for w := range conns {
		wg.Go(func() {
			h := newHistogram()
			for seq := 0; time.Now().Before(stop); seq++ {
				t0 := time.Now()
				err := fn(ctx, w, seq)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				h.record(time.Since(t0))
			}
			mu.Lock()
			all.merge(h)
			mu.Unlock()
		})
	}
	wg.Wait()
	l := load{ops: int64(all.n), errors: errs.Load(), elapsed: time.Since(start),
		p50: all.percentile(50), p99: all.percentile(99), p999: all.percentile(99.9)}
	if l.errors > 0 && l.ops == 0 {
		return l, fmt.Errorf("every operation failed; the first: %w", firstErr)
	}
	if firstErr != nil {
		fmt.Printf("  (%d of %d operations failed; the first: %v)\n", l.errors, l.errors+l.ops, firstErr)
	}
	return l, nil
}

// outbox reads the newest message to a recipient from the database, as
// the person receiving it would, and opens it with the master key.
type outbox struct {
	db   *sqlstore.DB
	ring *secret.Keyring
}

func (o *outbox) newest(ctx context.Context, to string) (deliver.Message, error) {
	ms, err := o.db.ListMessages(ctx, to, 1)
	if err != nil {
		return deliver.Message{}, err
	}
	if len(ms) == 0 {
		return deliver.Message{}, fmt.Errorf("no message to %s in the outbox", to)
	}
	return deliver.Open(o.ring, ms[0])
}

var (
	linkToken = regexp.MustCompile(`[?&]token=([^&\s"<>]+)`)
	otpCode   = regexp.MustCompile(`code is (\d{6})`)
)

// loginOp is a full magic-link login of a new user: login_or_create, the
// email read from the outbox, then authenticate with a session.
func loginOp(c *client, ob *outbox, run string) op {
	return func(ctx context.Context, w, seq int) error {
		to := fmt.Sprintf("bench-login-%s-%d-%d@bench.example", run, w, seq)
		if err := c.call(ctx, "POST", "/v1/magic_links/email/login_or_create", map[string]any{"email": to}, nil); err != nil {
			return err
		}
		m, err := ob.newest(ctx, to)
		if err != nil {
			return err
		}
		mt := linkToken.FindStringSubmatch(m.Text)
		if mt == nil {
			return fmt.Errorf("no token in the email to %s", to)
		}
		tok, err := url.QueryUnescape(mt[1])
		if err != nil {
			return err
		}
		var res struct {
			SessionToken string `json:"session_token"`
		}
		if err := c.call(ctx, "POST", "/v1/magic_links/authenticate",
			map[string]any{"token": tok, "session_duration_minutes": 60}, &res); err != nil {
			return err
		}
		if res.SessionToken == "" {
			return fmt.Errorf("magic link authenticate gave no session_token")
		}
		return nil
	}
}

// otpOp is a full email passcode login of a new user: send (with
// login_or_create), the code read from the outbox, then authenticate.
func otpOp(c *client, ob *outbox, run string) op {
	return func(ctx context.Context, w, seq int) error {
		to := fmt.Sprintf("bench-otp-%s-%d-%d@bench.example", run, w, seq)
		var sent struct {
			EmailID string `json:"email_id"`
		}
		if err := c.call(ctx, "POST", "/v1/otps/email/login_or_create", map[string]any{"email": to}, &sent); err != nil {
			return err
		}
		m, err := ob.newest(ctx, to)
		if err != nil {
			return err
		}
		mc := otpCode.FindStringSubmatch(m.Text)
		if mc == nil {
			return fmt.Errorf("no code in the email to %s", to)
		}
		var res struct {
			SessionToken string `json:"session_token"`
		}
		if err := c.call(ctx, "POST", "/v1/otps/authenticate",
			map[string]any{"method_id": sent.EmailID, "code": mc[1], "session_duration_minutes": 60}, &res); err != nil {
			return err
		}
		if res.SessionToken == "" {
			return fmt.Errorf("otp authenticate gave no session_token")
		}
		return nil
	}
}

// tokenOp authenticates a random seeded session by token: what the Go
// driver sends the baseline, so that a driven scenario has a baseline
// measured through the same client.
func tokenOp(c *client, tokens []string) op {
	return func(ctx context.Context, w, seq int) error {
		return c.call(ctx, "POST", "/v1/sessions/authenticate", map[string]string{"session_token": tokens[rand.IntN(len(tokens))]}, nil)
	}
}
