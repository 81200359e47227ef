package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// The prebuilt UI's phone field frames this page (the SDK option
// endpoints.clientsideServicesIframeURL); the browser suite drives it for
// real. Here: it is served to anyone, as HTML whose only permitted script
// is its own inline one.
func TestThePhoneFieldsHelperPageIsServedWithOnlyItsOwnScript(t *testing.T) {
	l := latchtest.Start(t, latchtest.Options{NoDelivery: true})
	resp, err := http.Get(l.URL + "/sdk/v1/clientside-services/index.html")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("X-Frame-Options %q: the SDK frames this page", resp.Header.Get("X-Frame-Options"))
	}
	page := string(body)
	i, j := strings.Index(page, "<script>")+len("<script>"), strings.Index(page, "</script>")
	if i < len("<script>") || j < i || !strings.Contains(page[i:j], "parsedPhoneNumber") {
		t.Fatalf("no phone script in the page:\n%s", page)
	}
	sum := sha256.Sum256([]byte(page[i:j]))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Errorf("Content-Security-Policy %q does not allow exactly the page's script", csp)
	}
}
