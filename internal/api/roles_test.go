package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// toStrings turns a decoded JSON array into strings.
func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestASessionCarriesTheUsersRolesAfterStytchUser(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "roles")
		p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": "root@example.com", "roles": []string{"admin", "billing"}})
		r := sessLogin(t, l, p, "root@example.com", 60)
		want := []string{"stytch_user", "admin", "billing"}
		if got := toStrings(r.Get("session.roles")); !slices.Equal(got, want) {
			t.Fatalf("session roles %v, want %v", got, want)
		}
		claim := jwtPayload(t, r.Str("session_jwt"))["https://stytch.com/session"].(map[string]any)
		if got := toStrings(claim["roles"]); !slices.Equal(got, want) {
			t.Fatalf("JWT roles %v, want %v", got, want)
		}
	})
}

func TestARefusedRedirectURLDoesNotCountAgainstTheSendLimit(t *testing.T) {
	sessBackends(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "limits")
		for range 8 {
			p.Fail(t, http.MethodPost, "/v1/magic_links/email/login_or_create",
				map[string]any{"email": "eve@example.com", "login_magic_link_url": "https://evil.example/x"},
				http.StatusBadRequest, "no_match_for_provided_magic_link_url")
		}
		// Still under the 5-a-minute limit: the refused calls sent nothing.
		p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "eve@example.com"})
		for range 4 {
			p.OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "eve@example.com"})
		}
		p.Fail(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": "eve@example.com"},
			http.StatusTooManyRequests, "too_many_requests")
	})
}
