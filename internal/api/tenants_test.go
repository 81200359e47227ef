package api_test

import (
	"net/http"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

func TestProjectBSeesNothingOfProjectA(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		a, b := l.NewProject(t, "A"), l.NewProject(t, "B")
		c := fndCreateUser(t, a, map[string]any{"email": "shared@example.com", "phone_number": "+12025550123",
			"external_id": "a-ext", "name": map[string]any{"first_name": "Alice"}, "trusted_metadata": map[string]any{"k": "v"}})
		userID, emailID, phoneID := c.Str("user_id"), c.Str("email_id"), c.Str("phone_id")

		for _, id := range []string{userID, "a-ext"} {
			b.Fail(t, http.MethodGet, "/v1/users/"+id, nil, 404, "user_not_found")
			b.Fail(t, http.MethodPut, "/v1/users/"+id, map[string]any{"name": map[string]any{"first_name": "Mallory"}, "trusted_metadata": map[string]any{"k": nil}}, 404, "user_not_found")
			b.Fail(t, http.MethodDelete, "/v1/users/"+id, nil, 404, "user_not_found")
		}
		b.Fail(t, http.MethodDelete, "/v1/users/emails/"+emailID, nil, 404, "email_not_found")
		b.Fail(t, http.MethodDelete, "/v1/users/phone_numbers/"+phoneID, nil, 404, "phone_number_not_found")

		// Search in B finds none of A's users, by any handle.
		for name, body := range map[string]map[string]any{
			"everything":    nil,
			"user_id":       fndQuery("AND", "user_id", []any{userID}),
			"email_address": fndQuery("AND", "email_address", []any{"shared@example.com"}),
			"email_id":      fndQuery("AND", "email_id", []any{emailID}),
			"phone_number":  fndQuery("AND", "phone_number", []any{"+12025550123"}),
			"phone_id":      fndQuery("AND", "phone_id", []any{phoneID}),
			"fuzzy name":    fndQuery("AND", "full_name_fuzzy", "alice"),
			"fuzzy email":   fndQuery("AND", "email_address_fuzzy", "shared"),
			"fuzzy phone":   fndQuery("AND", "phone_number_fuzzy", "5550123"),
			"OR":            fndQuery("OR", "status", "active", "email_verified", false),
		} {
			r := fndSearch(t, b, body)
			if len(fndIDs(t, r)) != 0 || fndTotal(t, r) != 0 {
				t.Fatalf("B's search %s sees A's user: %s", name, r.Raw)
			}
		}
		// A cursor made in A pages nothing of A's in B.
		fndCreateUser(t, a, map[string]any{"email": "second@example.com"})
		pa := fndSearch(t, a, map[string]any{"limit": 1})
		if cur, _ := pa.Get("results_metadata.next_cursor").(string); cur == "" {
			t.Fatalf("A has two users, a page of one needs a cursor: %s", pa.Raw)
		} else if r := fndSearch(t, b, map[string]any{"cursor": cur}); len(fndIDs(t, r)) != 0 {
			t.Fatalf("A's cursor shows A's users in B: %s", r.Raw)
		}

		// A's user is untouched by all of B's attempts.
		g := a.OK(t, http.MethodGet, "/v1/users/"+userID, nil)
		if g.Str("name.first_name") != "Alice" || g.Str("trusted_metadata.k") != "v" ||
			len(g.Get("emails").([]any)) != 1 || len(g.Get("phone_numbers").([]any)) != 1 {
			t.Fatalf("B changed A's user: %s", g.Raw)
		}
	})
}

func TestUniquenessIsPerProject(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		a, b := l.NewProject(t, "A"), l.NewProject(t, "B")
		body := map[string]any{"email": "same@example.com", "phone_number": "+12025550123", "external_id": "same-ext"}
		ua := fndCreateUser(t, a, body)
		ub := fndCreateUser(t, b, body)
		if ua.Str("user_id") == ub.Str("user_id") {
			t.Fatal("two projects share a user id")
		}
		// Each project resolves the external_id to its own user.
		if g := a.OK(t, http.MethodGet, "/v1/users/same-ext", nil); g.Str("user_id") != ua.Str("user_id") {
			t.Fatalf("A: %s", g.Raw)
		}
		if g := b.OK(t, http.MethodGet, "/v1/users/same-ext", nil); g.Str("user_id") != ub.Str("user_id") {
			t.Fatalf("B: %s", g.Raw)
		}
		// Deleting in B leaves A's user.
		b.OK(t, http.MethodDelete, "/v1/users/same-ext", nil)
		a.OK(t, http.MethodGet, "/v1/users/same-ext", nil)
		if r := fndSearch(t, a, fndQuery("AND", "email_address", []any{"same@example.com"})); fndTotal(t, r) != 1 {
			t.Fatalf("A lost its user: %s", r.Raw)
		}
		// A still refuses the duplicate in A.
		a.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": "SAME@example.com"}, 400, "duplicate_email")
	})
}
