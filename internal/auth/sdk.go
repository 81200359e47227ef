package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// The frontend SDK's errors.
var (
	// ErrUserUnauthenticated answers a route that needs a session when the
	// SDK sent none (its Basic password was the public token).
	ErrUserUnauthenticated = newErr(http.StatusUnauthorized, "user_unauthenticated", "Must have an active session to call this method. Have you logged in yet?")
	// ErrOriginNotAllowed answers a request from a page whose origin the
	// project has not authorized (latch project sdk-origins add).
	ErrOriginNotAllowed = newErr(http.StatusForbidden, "invalid_request_origin", "This origin is not authorized for the project's public token: add it with latch project sdk-origins add.")
	// ErrSDKNotSupported answers an /sdk/v1 route Latch does not serve.
	ErrSDKNotSupported = newErr(http.StatusNotFound, "feature_not_supported", "Latch does not serve this SDK method.")
	// ErrPKCERequired refuses an SDK magic link sent without a code_challenge
	// when the project's bootstrap says PKCE is required.
	ErrPKCERequired = newErr(http.StatusBadRequest, "pkce_required", "This project requires PKCE for email magic links sent from the SDK: pass a code_challenge.")
)

// sdkSendsPerIPPerMinute bounds the links and codes one IP address may ask
// a project to send through the SDK per minute, counted in the database
// (so across nodes) beside the per-recipient and per-project limits.
const sdkSendsPerIPPerMinute = 20

// PublicToken returns the project's public token, giving it one first if
// it has none (projects made before public tokens existed).
func (s *Service) PublicToken(ctx context.Context, p store.Project) (string, error) {
	t, err := s.store.GetPublicToken(ctx, p.ID)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", storeErr(err, "get public token")
	}
	t, err = s.store.EnsurePublicToken(ctx, p.ID, secret.ID("public-token", p.Live), s.Now())
	return t, storeErr(err, "create public token")
}

// AuthenticatePublicToken returns the project of a public token. A public
// token proves nothing but the project: every failure is the same 401.
func (s *Service) AuthenticatePublicToken(ctx context.Context, token string) (store.Project, error) {
	if _, ok := secret.IDEnv("public-token", token); !ok {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	id, err := s.store.ProjectIDByPublicToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	if err != nil {
		return store.Project{}, storeErr(err, "get public token")
	}
	p, err := s.project(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	if err != nil {
		return store.Project{}, storeErr(err, "get project")
	}
	return p, nil
}

// NormalizeOrigin turns an operator's origin into the serialization a
// browser sends in its Origin header (the Fetch standard's ASCII
// serialization): lower-case scheme and host, the port only when it is not
// the scheme's default, no path. Matching is then exact.
func NormalizeOrigin(raw string) (string, error) {
	bad := fmt.Errorf("origin %q must be http(s)://host[:port], with no path, query or user info", raw)
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return "", bad
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", bad
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.ContainsAny(host, "*%") {
		return "", bad
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", bad
		}
		port = strconv.Itoa(n)
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	h := host
	if strings.Contains(host, ":") {
		h = "[" + host + "]"
	}
	if port != "" {
		h = net.JoinHostPort(host, port)
	}
	return scheme + "://" + h, nil
}

// AddSDKOrigin authorizes an origin for the project's public token; one
// already there is not an error.
func (s *Service) AddSDKOrigin(ctx context.Context, projectID, origin string) (string, error) {
	o, err := NormalizeOrigin(origin)
	if err != nil {
		return "", err
	}
	if _, err := s.store.GetProject(ctx, projectID); err != nil {
		return "", err
	}
	err = s.store.AddSDKOrigin(ctx, store.SDKOrigin{ProjectID: projectID, Origin: o, CreatedAt: s.Now()})
	if errors.Is(err, store.ErrAlreadyExists) {
		err = nil
	}
	return o, err
}

// RemoveSDKOrigin withdraws an origin; ErrNotFound if it was not there.
func (s *Service) RemoveSDKOrigin(ctx context.Context, projectID, origin string) (string, error) {
	o, err := NormalizeOrigin(origin)
	if err != nil {
		return "", err
	}
	return o, s.store.DeleteSDKOrigin(ctx, projectID, o)
}

// SDKOrigins lists the project's authorized origins, oldest first.
func (s *Service) SDKOrigins(ctx context.Context, projectID string) ([]store.SDKOrigin, error) {
	return s.store.ListSDKOrigins(ctx, projectID)
}

// OriginAllowed reports whether the page's origin, exactly as the browser
// sent it, is one the project authorized. "null" never is.
func (s *Service) OriginAllowed(ctx context.Context, p store.Project, origin string) (bool, error) {
	if origin == "" || origin == "null" {
		return false, nil
	}
	os, err := s.store.ListSDKOrigins(ctx, p.ID)
	if err != nil {
		return false, storeErr(err, "list origins")
	}
	for _, o := range os {
		if o.Origin == origin {
			return true, nil
		}
	}
	return false, nil
}

// OriginKnown reports whether any project authorized the origin: what a
// CORS preflight, which carries no credentials, is answered by.
func (s *Service) OriginKnown(ctx context.Context, origin string) (bool, error) {
	if origin == "" || origin == "null" {
		return false, nil
	}
	ok, err := s.store.SDKOriginKnown(ctx, origin)
	return ok, storeErr(err, "find origin")
}

// SDKSession resolves the session the SDK named by its Basic password to
// the live session and its user; "" (the SDK sent its public token) is
// ErrUserUnauthenticated. The sandbox's fixed tokens name no one here.
func (s *Service) SDKSession(ctx context.Context, p store.Project, token string) (store.Session, store.User, error) {
	if token == "" {
		return store.Session{}, store.User{}, ErrUserUnauthenticated
	}
	return s.sessionWithUserFor(ctx, p, token, "")
}

// SDKAuthenticateSession is the SDK's sessions/authenticate: the session
// its Basic password names (as SDKSession resolves it, read once), then
// AuthenticateSession's check of a duration and its refresh.
func (s *Service) SDKAuthenticateSession(ctx context.Context, p store.Project, token string, minutes *int) (SessionResult, error) {
	sess, u, err := s.SDKSession(ctx, p, token)
	if err != nil {
		return SessionResult{}, err
	}
	if err := checkDuration(minutes); err != nil {
		return SessionResult{}, err
	}
	return s.refreshSession(ctx, p, sess, u, SessionOptions{SessionToken: token, SessionDurationMinutes: minutes})
}

// SDKRevokeSession ends the session the SDK's Basic password names (as
// SDKSession resolves it, read once), and no other.
func (s *Service) SDKRevokeSession(ctx context.Context, p store.Project, token string) error {
	sess, _, err := s.SDKSession(ctx, p, token)
	if err != nil {
		return err
	}
	err = s.store.DeleteSession(ctx, p.ID, sess.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrSessionNotFound
	}
	return storeErr(err, "revoke session")
}

// DeleteOwnEmail removes one of the user's own emails; another user's
// email is ErrEmailNotFound, as a missing one is.
func (s *Service) DeleteOwnEmail(ctx context.Context, p store.Project, userID, emailID string) (store.User, error) {
	e, err := s.store.GetEmail(ctx, p.ID, emailID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.UserID != userID) {
		return store.User{}, ErrEmailNotFound
	}
	if err != nil {
		return store.User{}, storeErr(err, "get email")
	}
	return s.DeleteEmail(ctx, p, emailID)
}

// DeleteOwnPhone removes one of the user's own phone numbers; another
// user's is ErrPhoneNotFound, as a missing one is.
func (s *Service) DeleteOwnPhone(ctx context.Context, p store.Project, userID, phoneID string) (store.User, error) {
	ph, err := s.store.GetPhone(ctx, p.ID, phoneID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ph.UserID != userID) {
		return store.User{}, ErrPhoneNotFound
	}
	if err != nil {
		return store.User{}, storeErr(err, "get phone")
	}
	return s.DeletePhone(ctx, p, phoneID)
}

// LimitSDKSend counts one send asked for by the IP address through the SDK
// and refuses it past sdkSendsPerIPPerMinute. The recipient and project
// limits are counted by the send itself, as for the backend API.
//
// An IPv6 address counts by its /64, the block one host usually holds
// whole (it could otherwise take a fresh address for every send).
func (s *Service) LimitSDKSend(ctx context.Context, p store.Project, ip string) error {
	key := ip
	if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is6() {
		key = netip.PrefixFrom(a, 64).Masked().String()
	}
	n, err := s.store.CountHit(ctx, p.ID, "sdk:ip:"+key, s.Now().Truncate(sendWindow))
	if err != nil {
		return storeErr(err, "count send")
	}
	if n > sdkSendsPerIPPerMinute {
		return ErrTooManyRequests.With("Too many messages asked for from this address; try again in a minute.")
	}
	return nil
}

// SDKPKCERequired reports whether the project's SDK magic links need PKCE
// (bootstrap's pkce_required_for_email_magic_links): on unless turned off.
func (s *Service) SDKPKCERequired(ctx context.Context, p store.Project) (bool, error) {
	required, err := s.store.SDKPKCERequired(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return required, storeErr(err, "get pkce setting")
}

// SetSDKPKCERequired turns PKCE for the project's SDK magic links on or
// off. Off, a link opens in any browser (another device's too), and
// whoever holds the link holds the login.
func (s *Service) SetSDKPKCERequired(ctx context.Context, p store.Project, required bool) error {
	if _, err := s.PublicToken(ctx, p); err != nil {
		return err
	}
	return s.store.SetSDKPKCERequired(ctx, p.ID, required)
}
