package auth

import (
	"context"
	"net/url"
	"strings"

	"github.com/latch-auth/latch/internal/store"
)

// redirectKey reduces a URL to what the allow-list compares: scheme, host
// with port, and path, exactly as written (no case folding, no
// normalisation of dot segments or escapes). The query is not compared, so
// apps may carry their own state; user info, fragments, backslashes and
// control characters make a URL unacceptable.
func redirectKey(raw string) (string, bool) {
	if raw == "" || strings.ContainsAny(raw, "\\\x00\r\n\t ") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Fragment != "" || u.Host == "" {
		return "", false
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", false
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath(), true
}

// resolveRedirect returns the URL a link of this kind goes to: the caller's
// URL if it is on the project's allow-list, else the project's default (the
// oldest entry). noDefault is the error when neither exists.
//
// st is the caller's store: inside a transaction it must be the
// transaction's, or the read would wait for a second connection.
func (s *Service) resolveRedirect(ctx context.Context, st store.Store, p store.Project, given string, noDefault *Error) (string, error) {
	urls, err := st.ListRedirectURLs(ctx, p.ID)
	if err != nil {
		return "", storeErr(err, "list redirect urls")
	}
	if given == "" {
		if len(urls) == 0 {
			return "", noDefault
		}
		return urls[0].URL, nil
	}
	key, ok := redirectKey(given)
	if !ok {
		return "", ErrRedirectNotAllowed
	}
	for _, r := range urls {
		if k, ok := redirectKey(r.URL); ok && k == key {
			return given, nil
		}
	}
	return "", ErrRedirectNotAllowed
}

// checkRedirects refuses a call that gives any URL outside the allow-list,
// whether or not the call ends up using it: a login URL is ignored for a new
// user and a signup URL for an active one, so checking only the URL used
// would tell the caller whether the address has a user.
func (s *Service) checkRedirects(ctx context.Context, st store.Store, p store.Project, given ...string) error {
	for _, g := range given {
		if g == "" {
			continue
		}
		if _, err := s.resolveRedirect(ctx, st, p, g, ErrRedirectNotAllowed); err != nil {
			return err
		}
	}
	return nil
}

// magicLinkURL appends stytch_token_type and token to the redirect URL.
func magicLinkURL(redirect, token string) string { return tokenURL(redirect, "magic_links", token) }

// tokenURL appends stytch_token_type=tokenType and token to the redirect URL.
func tokenURL(redirect, tokenType, token string) string {
	u, err := url.Parse(redirect)
	if err != nil {
		return redirect
	}
	q := u.Query()
	q.Set("stytch_token_type", tokenType)
	q.Set("token", token)
	u.RawQuery = q.Encode()
	return u.String()
}
