// Package clientaddr reads who a request came from: the client's address
// (behind trusted reverse proxies, from X-Forwarded-For) and its user
// agent, bounded. The frontend SDK's routes and the console read them the
// same way.
package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// IP is the address r came from: the connection's, or, when that is one
// of the trusted proxies, the rightmost address of X-Forwarded-For that is
// not one (each proxy appends the address it saw; only the trusted ones'
// additions are believed).
func IP(r *http.Request, trusted []netip.Prefix) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip := ap.Addr().Unmap()
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0 && contains(trusted, ip); i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		ip = a.Unmap()
	}
	return ip.String()
}

func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// UserAgent is r's User-Agent cut to 512 bytes of valid UTF-8 without NUL.
func UserAgent(r *http.Request) string {
	ua := strings.ReplaceAll(strings.ToValidUTF8(r.UserAgent(), ""), "\x00", "")
	for len(ua) > 512 {
		_, size := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-size]
	}
	return ua
}
