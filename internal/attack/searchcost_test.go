package attack

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/latchtest"
)

// Test13SearchLoadLeavesOtherTenantsServed (issue 13, point 1): project A
// runs its most expensive legal search (every operand an OR'd fuzzy name of
// the longest length, beside the longest id list) from several clients at
// once while project B authenticates a session. Every one of B's requests
// succeeds; A's searches answer 200, or 429 past the per-project cap, never
// a 5xx. B's p99 under A's load against B's p99 idle in the same run is
// logged, not asserted (wall-clock figures on a shared machine).
func Test13SearchLoadLeavesOtherTenantsServed(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		l := latchtest.Start(t, latchtest.Options{Backend: backend})
		pa, pb := l.NewProject(t, "searcher"), l.NewProject(t, "bystander")
		const users = 300
		if err := parallel(8, func(i int) error {
			for j := i; j < users; j += 8 {
				r, err := exchange(pa, http.MethodPost, "/v1/users", map[string]any{"email": email("searched"),
					"name": map[string]any{"first_name": fmt.Sprintf("Name%d", j), "last_name": "Searched"}})
				if err != nil {
					return err
				}
				if r.Status != http.StatusOK {
					return fmt.Errorf("create user: %d %s", r.Status, r.Raw)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sess := newLogin(t, pb)

		ids := make([]string, auth.MaxSearchFilterValues)
		for i := range ids {
			ids[i] = fmt.Sprintf("user-test-%d", i)
		}
		ops := []any{map[string]any{"filter_name": "user_id", "filter_value": ids}}
		for i := 1; len(ops) < auth.MaxSearchOperands; i++ {
			v := fmt.Sprintf("%d", i) + strings.Repeat("x", auth.MaxFuzzyLength-4)
			ops = append(ops, map[string]any{"filter_name": "full_name_fuzzy", "filter_value": v})
		}
		heaviest := map[string]any{"limit": auth.MaxSearchLimit, "query": map[string]any{"operator": "OR", "operands": ops}}

		authB := func(n int) ([]time.Duration, error) {
			lat := make([]time.Duration, 0, n)
			for range n {
				r, err := exchange(pb, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": sess.Token})
				if err != nil {
					return lat, err
				}
				if r.Status != http.StatusOK {
					return lat, fmt.Errorf("B's authenticate under load: %d %.300s", r.Status, r.Raw)
				}
				lat = append(lat, r.Latency)
			}
			return lat, nil
		}
		const samples = 200
		idle, err := authB(samples)
		if err != nil {
			t.Fatal(err)
		}

		stop := make(chan struct{})
		var searches, busy atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 6 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := exchange(pa, http.MethodPost, "/v1/users/search", heaviest)
					if err != nil {
						errs <- err
						return
					}
					attacksTried.Add(1)
					switch r.Status {
					case http.StatusOK:
						searches.Add(1)
					case http.StatusTooManyRequests:
						busy.Add(1)
					default:
						errs <- fmt.Errorf("A's search: %d %.300s", r.Status, r.Raw)
						return
					}
				}
			})
		}
		loaded, err := authB(samples)
		close(stop)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if err != nil {
			t.Fatal(err)
		}
		if searches.Load() == 0 {
			t.Fatal("none of A's searches ran")
		}
		p99 := func(d []time.Duration) time.Duration {
			s := slices.Clone(d)
			slices.Sort(s)
			return s[len(s)*99/100]
		}
		pi, pl := p99(idle), p99(loaded)
		t.Logf("%s: B's sessions/authenticate p99 idle %v, under A's search load %v (%.1f×); A: %d searches answered, %d refused 429 (cap %d per project)",
			backend, pi, pl, float64(pl)/float64(pi), searches.Load(), busy.Load(), auth.SearchesPerProject)
	})
}
