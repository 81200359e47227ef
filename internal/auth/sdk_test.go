package auth_test

import (
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

// An authorized origin is kept as a browser serializes it in Origin, so
// that exact matching is the Fetch standard's.
func TestOriginsAreKeptAsBrowsersSendThem(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:3000":      "http://localhost:3000",
		"HTTP://LocalHost:3000/":     "http://localhost:3000",
		"https://app.example:443":    "https://app.example",
		"http://app.example:80":      "http://app.example",
		"https://app.example:8443":   "https://app.example:8443",
		"http://[::1]:8080":          "http://[::1]:8080",
		"http://[::1]":               "http://[::1]",
		"HTTP://[::1]:80/":           "http://[::1]",
		"https://[2001:DB8::1]:443":  "https://[2001:db8::1]",
		"http://127.0.0.1":           "http://127.0.0.1",
		" https://xn--bcher-kva.de ": "https://xn--bcher-kva.de",
		"https://app.example:443/":   "https://app.example",
		"https://APP.example":        "https://app.example",
		"http://app.example:0080":    "http://app.example",
		"http://app.example:08080":   "http://app.example:8080",
	} {
		got, err := auth.NormalizeOrigin(in)
		if err != nil || got != want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "null", "localhost:3000", "app.example", "https://app.example/login", "https://app.example?x=1",
		"https://app.example#x", "https://u:p@app.example", "ftp://app.example", "https://*.app.example", "file:///etc", "https://", "javascript:alert(1)", "http://app.example:65536", "http://app.example:0", "http://app.example:-1",
		"http://[fe80::1%25eth0]:8080", "http://[fe80::1%25eth0]"} {
		if got, err := auth.NormalizeOrigin(bad); err == nil {
			t.Errorf("NormalizeOrigin(%q) = %q, want an error", bad, got)
		}
	}
}
