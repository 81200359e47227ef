package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/clientaddr"
	"github.com/latch-auth/latch/internal/store"
)

// The frontend SDK's API (@stytch/vanilla-js 6.3.0) at /sdk/v1, over the
// same auth services as the backend API. Its caller proves only the
// project (the public token in the Basic user name) and, once logged in,
// a session (the session token in the Basic password): every handler acts
// on that session and its user alone, and takes from the body only the
// fields the SDK sends, never a user_id, a session or an attribute.

// sdkCall is what the SDK's credentials and page proved.
type sdkCall struct {
	p       store.Project
	token   string // the public token (the Basic user name)
	session string // the Basic password when it is not the public token
}

const sdkPrefix = "/sdk/v1"

func (s *Server) sdkRoutes() {
	s.handle("OPTIONS "+sdkPrefix+"/", s.sdkPreflight)
	s.handle("GET "+sdkPrefix+"/projects/bootstrap/{public_token}", s.sdk(s.sdkBootstrap))

	s.handle("POST "+sdkPrefix+"/magic_links/email/login_or_create", s.sdk(s.sdkMagicLinkSend(true, false)))
	s.handle("POST "+sdkPrefix+"/magic_links/email/send/primary", s.sdk(s.sdkMagicLinkSend(false, false)))
	s.handle("POST "+sdkPrefix+"/magic_links/email/send/secondary", s.sdk(s.sdkMagicLinkSend(false, true)))
	s.handle("POST "+sdkPrefix+"/magic_links/authenticate", s.sdk(s.sdkMagicLinkAuthenticate))

	for _, ch := range []string{store.ChannelSMS, store.ChannelWhatsApp, store.ChannelEmail} {
		s.handle("POST "+sdkPrefix+"/otps/"+ch+"/login_or_create", s.sdk(s.sdkOTPSend(ch, true, false)))
		s.handle("POST "+sdkPrefix+"/otps/"+ch+"/send/primary", s.sdk(s.sdkOTPSend(ch, false, false)))
		s.handle("POST "+sdkPrefix+"/otps/"+ch+"/send/secondary", s.sdk(s.sdkOTPSend(ch, false, true)))
	}
	s.handle("POST "+sdkPrefix+"/otps/authenticate", s.sdk(s.sdkOTPAuthenticate))

	s.handle("POST "+sdkPrefix+"/sessions/authenticate", s.sdk(s.sdkSessionAuthenticate))
	s.handle("POST "+sdkPrefix+"/sessions/revoke", s.sdk(s.sdkSessionRevoke))

	s.handle("GET "+sdkPrefix+"/users/me", s.sdk(s.sdkGetMe))
	s.handle("PUT "+sdkPrefix+"/users/me", s.sdk(s.sdkUpdateMe))
	s.handle("DELETE "+sdkPrefix+"/users/emails/{email_id}", s.sdk(s.sdkDeleteEmail))
	s.handle("DELETE "+sdkPrefix+"/users/phone_numbers/{phone_id}", s.sdk(s.sdkDeletePhone))

	s.handle("POST "+sdkPrefix+"/events", s.sdkEvents)
	for _, pg := range sdkPages {
		s.handle(pg.Pattern, pg.Handler)
	}
	// Every other SDK path and method: the SDK's error, never a hang. Not
	// in Routes: like the router's own 404, it is no route of its own.
	s.mux.HandleFunc(sdkPrefix+"/", s.sdkNotSupported)
}

// sdkPages are public pages the SDK loads from Latch (with no credentials),
// added by other files of the package in init: a pattern and its handler.
var sdkPages []struct {
	Pattern string
	Handler http.HandlerFunc
}

// pageOrigin is the calling page's origin: the browser's Origin header, or,
// on a same-origin GET that carries none, the X-SDK-Parent-Host the SDK
// sets to window.location.origin. Neither proves anything to a caller that
// is not a browser; both keep other sites' pages out.
func pageOrigin(r *http.Request) string {
	if vs := r.Header.Values("Origin"); len(vs) > 0 {
		if len(vs) > 1 {
			return "null"
		}
		return vs[0]
	}
	return r.Header.Get("X-SDK-Parent-Host")
}

// allowOrigin lets the page at origin read the answer (Fetch standard: the
// exact origin, with credentials, as the SDK fetches with credentials:
// 'include').
func allowOrigin(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
}

// sdkCORSForKnown lets a page read an error answered before its project is
// known, when some project authorizes its origin.
func (s *Server) sdkCORSForKnown(w http.ResponseWriter, r *http.Request, origin string) {
	if ok, err := s.svc.OriginKnown(r.Context(), origin); err == nil && ok {
		allowOrigin(w, origin)
	}
}

// sdk wraps every SDK handler: the public token, then the page's origin,
// checked before the body is read or anything is done. A page of an origin
// the project has not authorized gets 403 without CORS headers: its
// browser shows it nothing, and nothing was sent or changed.
func (s *Server) sdk(h func(http.ResponseWriter, *http.Request, sdkCall)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := pageOrigin(r)
		token, pass, ok := basicAuth(r)
		if !ok {
			s.sdkCORSForKnown(w, r, origin)
			writeError(w, r, auth.ErrUnauthorizedCredentials)
			return
		}
		p, err := s.svc.AuthenticatePublicToken(r.Context(), token)
		if err != nil {
			s.sdkCORSForKnown(w, r, origin)
			writeError(w, r, err)
			return
		}
		info(r).project = p.ID
		allowed, err := s.svc.OriginAllowed(r.Context(), p, origin)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if !allowed {
			writeError(w, r, auth.ErrOriginNotAllowed)
			return
		}
		allowOrigin(w, origin)
		c := sdkCall{p: p, token: token}
		if pass != token {
			c.session = pass
		}
		h(w, r, c)
	}
}

// sdkPreflight answers a CORS preflight. It carries no credentials, so it
// is answered by whether any project authorizes the origin; the request
// itself is then held to its own project's origins.
func (s *Server) sdkPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	origin := r.Header.Get("Origin")
	known, err := s.svc.OriginKnown(r.Context(), origin)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !known || r.Header.Get("Access-Control-Request-Method") == "" {
		writeError(w, r, auth.ErrOriginNotAllowed)
		return
	}
	allowOrigin(w, origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-SDK-Client, X-SDK-Parent-Host")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// writeSDK writes the SDK's success envelope: the body under "data" (the
// SDK returns resp.data), with request_id and status_code in both.
func writeSDK(w http.ResponseWriter, r *http.Request, body any) {
	writeJSON(w, http.StatusOK, struct {
		envelope
		Data any `json:"data"`
	}{ok(r), body})
}

func (s *Server) sdkNotSupported(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	s.sdkCORSForKnown(w, r, pageOrigin(r))
	writeError(w, r, auth.ErrSDKNotSupported)
}

// sdkEvents accepts the SDK's telemetry batches (sent without credentials)
// and drops them.
func (s *Server) sdkEvents(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	s.sdkCORSForKnown(w, r, pageOrigin(r))
	_, _ = io.Copy(io.Discard, r.Body)
	writeSDK(w, r, struct{}{})
}

// bootstrapBody is the project's settings as BootstrapDataManager maps
// them; Latch offers no captcha, watermark, CNAME, DFP or RBAC policy.
type bootstrapBody struct {
	envelope
	ProjectName         string `json:"project_name"`
	DisableSDKWatermark bool   `json:"disable_sdk_watermark"`
	CaptchaSettings     struct {
		Enabled bool `json:"enabled"`
	} `json:"captcha_settings"`
	CnameDomain                    *string   `json:"cname_domain"`
	EmailDomains                   []string  `json:"email_domains"`
	PKCERequiredForEmailMagicLinks bool      `json:"pkce_required_for_email_magic_links"`
	PKCERequiredForPasswordResets  bool      `json:"pkce_required_for_password_resets"`
	PKCERequiredForOAuth           bool      `json:"pkce_required_for_oauth"`
	PKCERequiredForSSO             bool      `json:"pkce_required_for_sso"`
	SlugPattern                    *string   `json:"slug_pattern"`
	CreateOrganizationEnabled      bool      `json:"create_organization_enabled"`
	PasswordConfig                 *struct{} `json:"password_config"`
	DFPProtectedAuthEnabled        bool      `json:"dfp_protected_auth_enabled"`
	DFPProtectedAuthMode           *string   `json:"dfp_protected_auth_mode"`
	RBACPolicy                     *struct{} `json:"rbac_policy"`
	SIWERequiredForCryptoWallets   bool      `json:"siwe_required_for_crypto_wallets"`
	Vertical                       string    `json:"vertical"`
}

func (s *Server) sdkBootstrap(w http.ResponseWriter, r *http.Request, c sdkCall) {
	if r.PathValue("public_token") != c.token {
		writeError(w, r, auth.ErrUnauthorizedCredentials)
		return
	}
	pkce, err := s.svc.SDKPKCERequired(r.Context(), c.p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeSDK(w, r, bootstrapBody{
		envelope: ok(r), ProjectName: c.p.Name, DisableSDKWatermark: true,
		EmailDomains: []string{}, PKCERequiredForEmailMagicLinks: pkce, Vertical: "CONSUMER",
	})
}

// sdkSessionUser resolves the session the SDK named to its session and
// user; without one, user_unauthenticated.
func (s *Server) sdkSessionUser(r *http.Request, c sdkCall) (store.Session, store.User, error) {
	return s.svc.SDKSession(r.Context(), c.p, c.session)
}

// liveSessionToken is the SDK's session token when it names a live session
// of the project, else "": a login with a stale cookie starts afresh
// rather than failing on a session that is gone.
func (s *Server) liveSessionToken(r *http.Request, c sdkCall) (string, error) {
	if c.session == "" {
		return "", nil
	}
	_, _, err := s.sdkSessionUser(r, c)
	if errors.Is(err, auth.ErrSessionNotFound) {
		return "", nil
	}
	return c.session, err
}

// clientIP is the address the SDK's sends are counted under and its
// sessions record (clientaddr.IP, behind the trusted proxies).
func (s *Server) clientIP(r *http.Request) string { return clientaddr.IP(r, s.TrustedProxies) }

// sdkAttributes are the browser's address and user agent, recorded on the
// sessions its logins start (as Stytch's SDK sessions carry them). The
// user agent is cut to 512 bytes of valid UTF-8 without NUL.
func (s *Server) sdkAttributes(r *http.Request) *auth.Attributes {
	return &auth.Attributes{IPAddress: s.clientIP(r), UserAgent: clientaddr.UserAgent(r)}
}

// sdkMagicLinkRequest is what the SDK's magic-link sends may set.
type sdkMagicLinkRequest struct {
	Email                   string `json:"email"`
	LoginMagicLinkURL       string `json:"login_magic_link_url"`
	SignupMagicLinkURL      string `json:"signup_magic_link_url"`
	LoginExpirationMinutes  *int   `json:"login_expiration_minutes"`
	SignupExpirationMinutes *int   `json:"signup_expiration_minutes"`
	LoginTemplateID         string `json:"login_template_id"`
	SignupTemplateID        string `json:"signup_template_id"`
	CodeChallenge           string `json:"code_challenge"`
	Locale                  string `json:"locale"`
}

// sdkMagicLinkSend is login_or_create (create), send/primary (a link to
// an existing user) and send/secondary (attach the email to the
// signed-in user).
func (s *Server) sdkMagicLinkSend(create, attach bool) func(http.ResponseWriter, *http.Request, sdkCall) {
	return func(w http.ResponseWriter, r *http.Request, c sdkCall) {
		var in sdkMagicLinkRequest
		if err := decode(r, &in); err != nil {
			writeError(w, r, err)
			return
		}
		if in.CodeChallenge == "" {
			required, err := s.svc.SDKPKCERequired(r.Context(), c.p)
			if err != nil {
				writeError(w, r, err)
				return
			}
			if required {
				writeError(w, r, auth.ErrPKCERequired)
				return
			}
		}
		req := auth.EmailLinkRequest{
			Email: in.Email, LoginMagicLinkURL: in.LoginMagicLinkURL, SignupMagicLinkURL: in.SignupMagicLinkURL,
			LoginExpirationMinutes: in.LoginExpirationMinutes, SignupExpirationMinutes: in.SignupExpirationMinutes,
			LoginTemplateID: in.LoginTemplateID, SignupTemplateID: in.SignupTemplateID,
			CodeChallenge: in.CodeChallenge, Locale: in.Locale,
		}
		tok, err := s.sdkSendSession(r, c, attach)
		if err != nil {
			writeError(w, r, err)
			return
		}
		req.SessionToken = tok
		if create {
			_, err = s.svc.LoginOrCreateMagicLink(r.Context(), c.p, req)
		} else {
			_, err = s.svc.SendMagicLink(r.Context(), c.p, req)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeSDK(w, r, ok(r))
	}
}

// sdkSendSession is every SDK send's gate: with attach, a live session
// (its token returned, naming the user to attach to); then the send limit.
func (s *Server) sdkSendSession(r *http.Request, c sdkCall, attach bool) (string, error) {
	var tok string
	if attach {
		if _, _, err := s.sdkSessionUser(r, c); err != nil {
			return "", err
		}
		tok = c.session
	}
	if err := s.svc.LimitSDKSend(r.Context(), c.p, s.clientIP(r)); err != nil {
		return "", err
	}
	return tok, nil
}

// sdkLogin writes an SDK login's answer: the backend's, which the SDK
// stores (session, user, tokens).
func sdkLogin(w http.ResponseWriter, r *http.Request, res auth.LoginResult) {
	writeSDK(w, r, loginBodyOf(r, res))
}

func (s *Server) sdkMagicLinkAuthenticate(w http.ResponseWriter, r *http.Request, c sdkCall) {
	var in struct {
		Token                  string `json:"token"`
		CodeVerifier           string `json:"code_verifier"`
		SessionDurationMinutes *int   `json:"session_duration_minutes"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	tok, err := s.liveSessionToken(r, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.AuthenticateMagicLink(r.Context(), c.p, auth.AuthenticateMagicLinkRequest{
		Token: in.Token, CodeVerifier: in.CodeVerifier, Attributes: s.sdkAttributes(r),
		SessionOptions: auth.SessionOptions{SessionToken: tok, SessionDurationMinutes: in.SessionDurationMinutes},
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	sdkLogin(w, r, res)
}

func (s *Server) sdkOTPSend(channel string, create, attach bool) func(http.ResponseWriter, *http.Request, sdkCall) {
	return func(w http.ResponseWriter, r *http.Request, c sdkCall) {
		var in struct {
			PhoneNumber       string `json:"phone_number"`
			Email             string `json:"email"`
			ExpirationMinutes *int   `json:"expiration_minutes"`
			Locale            string `json:"locale"`
			LoginTemplateID   string `json:"login_template_id"`
			SignupTemplateID  string `json:"signup_template_id"`
		}
		if err := decode(r, &in); err != nil {
			writeError(w, r, err)
			return
		}
		req := auth.OTPSendRequest{ExpirationMinutes: in.ExpirationMinutes, Locale: in.Locale}
		if channel == store.ChannelEmail {
			req.Email, req.LoginTemplateID, req.SignupTemplateID = in.Email, in.LoginTemplateID, in.SignupTemplateID
		} else {
			req.PhoneNumber = in.PhoneNumber
		}
		tok, err := s.sdkSendSession(r, c, attach)
		if err != nil {
			writeError(w, r, err)
			return
		}
		req.SessionToken = tok
		res, err := s.svc.SendOTP(r.Context(), c.p, channel, create, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeSDK(w, r, struct {
			envelope
			MethodID string `json:"method_id"`
		}{ok(r), res.MethodID})
	}
}

func (s *Server) sdkOTPAuthenticate(w http.ResponseWriter, r *http.Request, c sdkCall) {
	var in struct {
		Token                  string `json:"token"` // the SDK's name for the code
		MethodID               string `json:"method_id"`
		SessionDurationMinutes *int   `json:"session_duration_minutes"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	tok, err := s.liveSessionToken(r, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.AuthenticateOTP(r.Context(), c.p, auth.AuthenticateOTPRequest{
		MethodID: in.MethodID, Code: in.Token, Attributes: s.sdkAttributes(r),
		SessionOptions: auth.SessionOptions{SessionToken: tok, SessionDurationMinutes: in.SessionDurationMinutes},
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	sdkLogin(w, r, res)
}

// sdkSessionAuthenticate is the SDK's session check and refresh: the
// session named by the Basic password, optionally extended.
func (s *Server) sdkSessionAuthenticate(w http.ResponseWriter, r *http.Request, c sdkCall) {
	var in struct {
		SessionDurationMinutes *int `json:"session_duration_minutes"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.SDKAuthenticateSession(r.Context(), c.p, c.session, in.SessionDurationMinutes)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeSDK(w, r, sessionBody{ok(r), renderSession(res.Session), res.Token, res.JWT, renderUser(res.User)})
}

// sdkSessionRevoke ends the session named by the Basic password, and no
// other.
func (s *Server) sdkSessionRevoke(w http.ResponseWriter, r *http.Request, c sdkCall) {
	if err := s.svc.SDKRevokeSession(r.Context(), c.p, c.session); err != nil {
		writeError(w, r, err)
		return
	}
	writeSDK(w, r, ok(r))
}

func (s *Server) sdkGetMe(w http.ResponseWriter, r *http.Request, c sdkCall) {
	_, u, err := s.sdkSessionUser(r, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeSDK(w, r, struct {
		envelope
		userJSON
	}{ok(r), renderUser(u)})
}

// sdkUserBody answers a change to the signed-in user: the fields of the
// SDK's UserUpdateResponse and __user, the user the SDK stores.
type sdkUserBody struct {
	envelope
	UserID        string      `json:"user_id"`
	Emails        []emailJSON `json:"emails"`
	PhoneNumbers  []phoneJSON `json:"phone_numbers"`
	CryptoWallets []struct{}  `json:"crypto_wallets"`
	User          userJSON    `json:"__user"`
}

func writeSDKUser(w http.ResponseWriter, r *http.Request, u store.User) {
	ru := renderUser(u)
	writeSDK(w, r, sdkUserBody{ok(r), u.ID, ru.Emails, ru.PhoneNumbers, ru.CryptoWallets, ru})
}

// sdkUpdateMe changes the signed-in user's name and untrusted metadata;
// nothing else is the browser's to change.
func (s *Server) sdkUpdateMe(w http.ResponseWriter, r *http.Request, c sdkCall) {
	var in struct {
		Name              *auth.Name      `json:"name"`
		UntrustedMetadata json.RawMessage `json:"untrusted_metadata"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	_, u, err := s.sdkSessionUser(r, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err = s.svc.UpdateUser(r.Context(), c.p, u.ID, auth.UpdateUserRequest{Name: in.Name, UntrustedMetadata: in.UntrustedMetadata})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeSDKUser(w, r, u)
}

func (s *Server) sdkDeleteEmail(w http.ResponseWriter, r *http.Request, c sdkCall) {
	_, u, err := s.sdkSessionUser(r, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err = s.svc.DeleteOwnEmail(r.Context(), c.p, u.ID, r.PathValue("email_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeSDKUser(w, r, u)
}

func (s *Server) sdkDeletePhone(w http.ResponseWriter, r *http.Request, c sdkCall) {
	_, u, err := s.sdkSessionUser(r, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err = s.svc.DeleteOwnPhone(r.Context(), c.p, u.ID, r.PathValue("phone_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeSDKUser(w, r, u)
}

// IsSDKRoute reports whether a served pattern is the frontend SDK's
// (covered by the browser suite, not the backend conformance suite).
func IsSDKRoute(pattern string) bool {
	_, path, _ := strings.Cut(pattern, " ")
	if path == "" {
		path = pattern
	}
	return strings.HasPrefix(path, sdkPrefix+"/")
}
