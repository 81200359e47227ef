package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Helpers for the foundation tests (users, envelope, tenants). Their names
// start with "fnd" so they do not collide with other test files of the
// package.

// fndOnEveryBackend runs f as a subtest on a fresh node of each backend.
func fndOnEveryBackend(t *testing.T, f func(t *testing.T, l *latchtest.Latch)) {
	t.Helper()
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, latchtest.Start(t, latchtest.Options{Backend: b}))
		})
	}
}

var fndSeq atomic.Int64

// fndEmail returns an address no other test uses.
func fndEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@example.com", prefix, fndSeq.Add(1))
}

// fndCreateUser creates a user and returns the create response.
func fndCreateUser(t *testing.T, p latchtest.Project, body map[string]any) latchtest.Response {
	t.Helper()
	return p.OK(t, http.MethodPost, "/v1/users", body)
}

// fndSearch runs a user search and returns the response.
func fndSearch(t *testing.T, p latchtest.Project, body map[string]any) latchtest.Response {
	t.Helper()
	return p.OK(t, http.MethodPost, "/v1/users/search", body)
}

// fndIDs returns the user_ids of a search page.
func fndIDs(t *testing.T, r latchtest.Response) []string {
	t.Helper()
	res, ok := r.Get("results").([]any)
	if !ok {
		t.Fatalf("results is not an array: %s", r.Raw)
	}
	ids := make([]string, 0, len(res))
	for _, u := range res {
		ids = append(ids, u.(map[string]any)["user_id"].(string))
	}
	return ids
}

// fndTotal returns results_metadata.total.
func fndTotal(t *testing.T, r latchtest.Response) int {
	t.Helper()
	v, ok := r.Get("results_metadata.total").(float64)
	if !ok {
		t.Fatalf("results_metadata.total missing: %s", r.Raw)
	}
	return int(v)
}

// fndSameSet fails unless got and want hold the same ids, in any order.
func fndSameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g := map[string]int{}
	for _, id := range got {
		g[id]++
	}
	w := map[string]int{}
	for _, id := range want {
		w[id]++
	}
	if len(g) != len(w) || len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for id, n := range w {
		if g[id] != n {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// fndQuery builds a search body with one operator and the operands given
// as name, value pairs.
func fndQuery(operator string, pairs ...any) map[string]any {
	ops := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		ops = append(ops, map[string]any{"filter_name": pairs[i], "filter_value": pairs[i+1]})
	}
	return map[string]any{"query": map[string]any{"operator": operator, "operands": ops}}
}

// fndMessageNames fails unless the error message mentions every word.
func fndMessageNames(t *testing.T, r latchtest.Response, words ...string) {
	t.Helper()
	msg := r.Str("error_message")
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Fatalf("error_message %q does not name %q", msg, w)
		}
	}
}
