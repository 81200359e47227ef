package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
)

// The prebuilt login UI of @stytch/vanilla-js asks a hidden iframe to parse
// and format phone numbers (Stytch serves it at
// js.stytch.com/clientside-services/index.html). Latch serves its own, so
// that a page pointing the SDK's endpoints.clientsideServicesIframeURL here
// loads nothing from Stytch. The page is public, the same for every project,
// holds no secret and talks only to its parent through a MessagePort.

//go:embed sdk_clientside.html
var clientsideServicesPage []byte

// clientsideServicesCSP lets the page run its one inline script and
// nothing else: no fetch, no other script, no form, no plugin. Any page
// may frame it (frame-ancestors is left open: the page does not know the
// project, and it answers only its parent's questions about numbers).
var clientsideServicesCSP = func() string {
	open := []byte("<script>")
	i := bytes.Index(clientsideServicesPage, open) + len(open)
	j := bytes.Index(clientsideServicesPage, []byte("</script>"))
	sum := sha256.Sum256(clientsideServicesPage[i:j])
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'"
}()

func init() {
	sdkPages = append(sdkPages, struct {
		Pattern string
		Handler http.HandlerFunc
	}{"GET " + sdkPrefix + "/clientside-services/index.html", serveClientsideServices})
}

func serveClientsideServices(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", clientsideServicesCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	w.Write(clientsideServicesPage)
}
