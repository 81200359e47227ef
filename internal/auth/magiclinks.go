package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Magic-link expiry bounds and defaults, in minutes (Stytch: https://stytch.com/docs/api/send-by-email).
const (
	minLinkMinutes     = 5
	maxLinkMinutes     = 10080
	defaultLoginLink   = 60
	defaultSignupLink  = 10080
	defaultInviteLink  = 60
	defaultEmbeddedMin = 60
)

var emailLocales = []string{"", "en", "es", "fr", "pt-br"}

// EmailLinkRequest is login_or_create and send.
type EmailLinkRequest struct {
	Email                   string      `json:"email"`
	LoginMagicLinkURL       string      `json:"login_magic_link_url"`
	SignupMagicLinkURL      string      `json:"signup_magic_link_url"`
	LoginExpirationMinutes  *int        `json:"login_expiration_minutes"`
	SignupExpirationMinutes *int        `json:"signup_expiration_minutes"`
	LoginTemplateID         string      `json:"login_template_id"`
	SignupTemplateID        string      `json:"signup_template_id"`
	Attributes              *Attributes `json:"attributes"`
	CreateUserAsPending     bool        `json:"create_user_as_pending"`
	CodeChallenge           string      `json:"code_challenge"`
	Locale                  string      `json:"locale"`
	// send only: attach the address to this user.
	UserID       string `json:"user_id"`
	SessionToken string `json:"session_token"`
	SessionJWT   string `json:"session_jwt"`
}

// LinkSent is the answer to every call that sends a link.
type LinkSent struct {
	UserID      string
	EmailID     string
	UserCreated bool
}

func linkMinutes(v *int, def int) (time.Duration, error) {
	if v == nil || *v == 0 {
		return time.Duration(def) * time.Minute, nil
	}
	if *v < minLinkMinutes || *v > maxLinkMinutes {
		return 0, ErrInvalidExpiration
	}
	return time.Duration(*v) * time.Minute, nil
}

func checkTemplates(ids ...string) error {
	for _, id := range ids {
		if id != "" {
			// Latch has no custom templates yet: every id is unknown.
			return ErrEmailTemplateNotFound.With("Email template %q could not be found.", id)
		}
	}
	return nil
}

func (r EmailLinkRequest) validate() error {
	if !slices.Contains(emailLocales, r.Locale) {
		return ErrInvalidLocale
	}
	if err := checkCodeChallenge(r.CodeChallenge); err != nil {
		return err
	}
	return checkTemplates(r.LoginTemplateID, r.SignupTemplateID)
}

// LoginOrCreateMagicLink emails a login link to a known address, or creates
// the user and emails a signup link. A pending user gets a signup link.
func (s *Service) LoginOrCreateMagicLink(ctx context.Context, p store.Project, r EmailLinkRequest) (LinkSent, error) {
	return s.emailLink(ctx, p, r, true)
}

// SendMagicLink emails a login link to an existing address. With user_id,
// session_token or session_jwt, a new address is attached to that user,
// unverified until the link is used (and removed if it never is).
func (s *Service) SendMagicLink(ctx context.Context, p store.Project, r EmailLinkRequest) (LinkSent, error) {
	return s.emailLink(ctx, p, r, false)
}

// emailLink is login_or_create (create set) and send: everything is
// checked and the send counted before one transaction finds (or makes) the
// user, stores the link and queues its email.
func (s *Service) emailLink(ctx context.Context, p store.Project, r EmailLinkRequest, create bool) (LinkSent, error) {
	if err := s.checkTransport(p, store.ChannelEmail); err != nil {
		return LinkSent{}, err
	}
	addr, err := NormalizeEmail(r.Email)
	if err != nil {
		return LinkSent{}, err
	}
	if err := r.validate(); err != nil {
		return LinkSent{}, err
	}
	loginTTL, err := linkMinutes(r.LoginExpirationMinutes, defaultLoginLink)
	if err != nil {
		return LinkSent{}, err
	}
	signupTTL, err := linkMinutes(r.SignupExpirationMinutes, defaultSignupLink)
	if err != nil {
		return LinkSent{}, err
	}
	if err := s.checkRedirects(ctx, s.store, p, r.LoginMagicLinkURL, r.SignupMagicLinkURL); err != nil {
		return LinkSent{}, err
	}
	if !p.Live && addr == SandboxEmail {
		return LinkSent{UserID: SandboxUserID, EmailID: sandboxEmailID}, nil
	}
	if err := s.limitSend(ctx, p, addr); err != nil {
		return LinkSent{}, err
	}
	var out LinkSent
	err = s.store.InTx(ctx, func(tx store.Store) error {
		var target sendTarget
		var created bool
		var err error
		if create {
			target.user, target.methodID, created, err = s.ownerOrNew(ctx, tx, p, store.ChannelEmail, addr, r.CreateUserAsPending)
		} else {
			target, err = s.methodOwner(ctx, tx, p, store.ChannelEmail, addr, r.UserID, r.SessionToken, r.SessionJWT)
		}
		if err != nil {
			return err
		}
		u := target.user
		email := store.Email{ID: target.methodID, Address: addr}
		kind, url, ttl, noDefault := store.MagicLinkLogin, r.LoginMagicLinkURL, loginTTL, ErrNoLoginRedirect
		if created || u.Status == store.UserPending {
			kind, url, ttl, noDefault = store.MagicLinkSignup, r.SignupMagicLinkURL, signupTTL, ErrNoSignupRedirect
		}
		link := linkToSend{userID: u.ID, email: email, kind: kind, given: url, noDefault: noDefault,
			expires: target.expiry(s.Now(), ttl), challenge: r.CodeChallenge, attrs: r.Attributes, attach: target.attachUntil != nil}
		if err := s.sendLink(ctx, tx, p, link); err != nil {
			return err
		}
		out = LinkSent{UserID: u.ID, EmailID: email.ID, UserCreated: created}
		return nil
	})
	if err != nil {
		return LinkSent{}, storeErr(err, "send magic link")
	}
	s.notify()
	return out, nil
}

// attachWindow is how long a method attached to an existing user by a send
// waits for its first authentication before it is removed (Stytch,
// https://stytch.com/docs/api/send-by-email: "If the user successfully authenticates within 5 minutes,
// the new email address will be marked as verified"). The link or code of
// that send expires with it, whatever its own expiry.
const attachWindow = 5 * time.Minute

// maxUnverifiedFactors bounds the unverified methods a user may hold.
const maxUnverifiedFactors = 5

func unverified(es []store.Email, ps []store.Phone) int {
	n := 0
	for _, e := range es {
		if !e.Verified {
			n++
		}
	}
	for _, p := range ps {
		if !p.Verified {
			n++
		}
	}
	return n
}

// namedUser resolves the user a send call names by user_id or session;
// nil when it names none.
func (s *Service) namedUser(ctx context.Context, tx store.Store, p store.Project, userID, token, jwt string) (*store.User, error) {
	n := 0
	for _, v := range []string{userID, token, jwt} {
		if v != "" {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	if n > 1 {
		return nil, ErrBadRequest.With("Pass at most one of user_id, session_token, session_jwt.")
	}
	if userID == "" {
		sess, err := s.sessionFor(ctx, tx, p, token, jwt)
		if err != nil {
			return nil, err
		}
		userID = sess.UserID
	}
	u, err := tx.GetUser(ctx, p.ID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func emailOf(u store.User, addr string) store.Email {
	for _, e := range u.Emails {
		if e.Address == addr {
			return e
		}
	}
	return store.Email{}
}

// linkToSend is one emailed link: for userID, to email.
type linkToSend struct {
	userID    string
	email     store.Email
	kind      string // store.MagicLink…
	given     string // the redirect URL asked for, "" = the default
	noDefault *Error // when there is no default
	expires   time.Time
	challenge string
	attrs     *Attributes
	// attach: the send adds email to an existing user; its message says
	// so rather than offering a login.
	attach bool
}

// sendLink stores a new link and queues its email in the caller's
// transaction: a magic link's, an attach link's or a password reset's.
func (s *Service) sendLink(ctx context.Context, tx store.Store, p store.Project, l linkToSend) error {
	redirect, err := s.resolveRedirect(ctx, tx, p, l.given, l.noDefault)
	if err != nil {
		return err
	}
	now := s.Now()
	token := secret.MagicLinkToken()
	ml := store.MagicLink{
		TokenHash: secret.Hash(token), ProjectID: p.ID, UserID: l.userID, EmailID: l.email.ID, Kind: l.kind,
		CodeChallenge: l.challenge, CreatedAt: now, ExpiresAt: l.expires,
	}
	if l.attrs != nil {
		ml.IPAddress, ml.UserAgent = l.attrs.IPAddress, l.attrs.UserAgent
	}
	if err := tx.CreateMagicLink(ctx, ml); err != nil {
		return err
	}
	var msg deliver.Message
	switch {
	case l.kind == store.MagicLinkResetPassword:
		msg = deliver.PasswordResetEmail(p.Name, l.email.Address, tokenURL(redirect, "reset_password", token), l.expires.Sub(now))
	case l.attach:
		msg = deliver.AttachLinkEmail(p.Name, l.email.Address, magicLinkURL(redirect, token), l.expires.Sub(now))
	default:
		msg = deliver.MagicLinkEmail(p.Name, l.email.Address, magicLinkURL(redirect, token), l.kind)
	}
	return deliver.Enqueue(ctx, tx, s.ring, p.ID, msg, now)
}

// InviteRequest is POST /v1/magic_links/email/invite.
type InviteRequest struct {
	Email                   string          `json:"email"`
	InviteMagicLinkURL      string          `json:"invite_magic_link_url"`
	InviteExpirationMinutes *int            `json:"invite_expiration_minutes"`
	InviteTemplateID        string          `json:"invite_template_id"`
	Name                    *Name           `json:"name"`
	Attributes              *Attributes     `json:"attributes"`
	Locale                  string          `json:"locale"`
	TrustedMetadata         json.RawMessage `json:"trusted_metadata"`
	UntrustedMetadata       json.RawMessage `json:"untrusted_metadata"`
}

// Invite creates a pending user (or re-invites one still pending) and
// emails an invite link. An address of an active user is a duplicate
// (open question 11): an invitation is for someone not yet in.
func (s *Service) Invite(ctx context.Context, p store.Project, r InviteRequest) (LinkSent, error) {
	if err := s.checkTransport(p, store.ChannelEmail); err != nil {
		return LinkSent{}, err
	}
	addr, err := NormalizeEmail(r.Email)
	if err != nil {
		return LinkSent{}, err
	}
	if !slices.Contains(emailLocales, r.Locale) {
		return LinkSent{}, ErrInvalidLocale
	}
	if err := checkTemplates(r.InviteTemplateID); err != nil {
		return LinkSent{}, err
	}
	ttl, err := linkMinutes(r.InviteExpirationMinutes, defaultInviteLink)
	if err != nil {
		return LinkSent{}, err
	}
	if err := s.checkRedirects(ctx, s.store, p, r.InviteMagicLinkURL); err != nil {
		return LinkSent{}, err
	}
	if err := s.limitSend(ctx, p, addr); err != nil {
		return LinkSent{}, err
	}
	var out LinkSent
	err = s.store.InTx(ctx, func(tx store.Store) error {
		u, err := tx.GetUserByEmail(ctx, p.ID, addr)
		switch {
		case err == nil && u.Status != store.UserPending:
			return ErrDuplicateEmail
		case errors.Is(err, store.ErrNotFound):
			u = s.newUser(p, true)
			u.Emails = []store.Email{{ID: secret.ID("email", p.Live), ProjectID: p.ID, UserID: u.ID, Address: addr, CreatedAt: u.CreatedAt}}
			applyName(&u, r.Name)
			if u.TrustedMetadata, err = mergeMetadata(u.TrustedMetadata, r.TrustedMetadata, "trusted_metadata"); err != nil {
				return err
			}
			if u.UntrustedMetadata, err = mergeMetadata(u.UntrustedMetadata, r.UntrustedMetadata, "untrusted_metadata"); err != nil {
				return err
			}
			if err := tx.CreateUser(ctx, u); err != nil {
				return userWriteErr(err)
			}
		case err != nil:
			return err
		}
		email := emailOf(u, addr)
		link := linkToSend{userID: u.ID, email: email, kind: store.MagicLinkInvite, given: r.InviteMagicLinkURL,
			noDefault: ErrNoInviteRedirect, expires: s.Now().Add(ttl), attrs: r.Attributes}
		if err := s.sendLink(ctx, tx, p, link); err != nil {
			return err
		}
		out = LinkSent{UserID: u.ID, EmailID: email.ID}
		return nil
	})
	if err != nil {
		return LinkSent{}, storeErr(err, "invite")
	}
	s.notify()
	return out, nil
}

// RevokeInvite cancels a pending invitation: the pending user and its links
// are deleted. An unknown address, or one of an active user, is 404
// email_not_found (open question 11).
func (s *Service) RevokeInvite(ctx context.Context, p store.Project, email string) error {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	u, err := s.store.GetUserByEmail(ctx, p.ID, addr)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Status != store.UserPending) {
		return ErrEmailNotFound
	}
	if err != nil {
		return storeErr(err, "revoke invite")
	}
	return storeErr(s.store.DeleteUser(ctx, p.ID, u.ID), "revoke invite")
}

// EmbeddableRequest is POST /v1/magic_links.
type EmbeddableRequest struct {
	UserID            string      `json:"user_id"`
	ExpirationMinutes *int        `json:"expiration_minutes"`
	Attributes        *Attributes `json:"attributes"`
}

// CreateEmbeddable returns a raw link token for the app to deliver itself.
// Authenticating it never verifies an email or phone.
func (s *Service) CreateEmbeddable(ctx context.Context, p store.Project, r EmbeddableRequest) (userID, token string, err error) {
	ttl, err := linkMinutes(r.ExpirationMinutes, defaultEmbeddedMin)
	if err != nil {
		return "", "", err
	}
	u, err := s.GetUser(ctx, p, r.UserID)
	if err != nil {
		return "", "", err
	}
	now := s.Now()
	token = secret.MagicLinkToken()
	ml := store.MagicLink{TokenHash: secret.Hash(token), ProjectID: p.ID, UserID: u.ID, Kind: store.MagicLinkEmbedded, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if r.Attributes != nil {
		ml.IPAddress, ml.UserAgent = r.Attributes.IPAddress, r.Attributes.UserAgent
	}
	if err := s.store.CreateMagicLink(ctx, ml); err != nil {
		return "", "", storeErr(err, "create embeddable link")
	}
	return u.ID, token, nil
}

// MatchOptions asks authenticate to compare attributes with send time.
type MatchOptions struct {
	IPMatchRequired        bool `json:"ip_match_required"`
	UserAgentMatchRequired bool `json:"user_agent_match_required"`
}

// AuthenticateMagicLinkRequest is POST /v1/magic_links/authenticate.
type AuthenticateMagicLinkRequest struct {
	Token        string        `json:"token"`
	Attributes   *Attributes   `json:"attributes"`
	Options      *MatchOptions `json:"options"`
	CodeVerifier string        `json:"code_verifier"`
	SessionOptions
}

// LoginResult is a successful factor authentication.
type LoginResult struct {
	SessionResult
	MethodID string
}

// AuthenticateMagicLink redeems a link once. The redemption, the email's
// verification, the user's activation and the session write are one
// transaction: a PKCE, attribute or lock failure leaves the link unused.
func (s *Service) AuthenticateMagicLink(ctx context.Context, p store.Project, r AuthenticateMagicLinkRequest) (LoginResult, error) {
	if r.Token == "" {
		return LoginResult{}, ErrBadRequest.With("token is required.")
	}
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return LoginResult{}, err
	}
	if !p.Live {
		switch r.Token {
		case sandboxLinkUsed:
			return LoginResult{}, ErrUnableToAuthMagicLink
		case sandboxLinkNotFound:
			return LoginResult{}, ErrMagicLinkNotFound
		case sandboxLinkOK:
			return s.sandboxLogin(ctx, p, r.SessionOptions, "magic_link", sandboxEmailID)
		}
	}
	if strings.Contains(r.Token, "%") { // no token has one: it was pasted from the link as is
		return LoginResult{}, ErrMagicLinkNotFound.With("Magic link could not be found. The token looks URL-encoded, as it is in the link: send it decoded (%%3D is =).")
	}
	var res LoginResult
	var sess *store.Session
	var token, userID string
	err := s.store.InTx(ctx, func(tx store.Store) error {
		ml, err := tx.RedeemMagicLink(ctx, p.ID, secret.Hash(r.Token), s.Now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ErrMagicLinkNotFound
		case errors.Is(err, store.ErrConsumed):
			return ErrUnableToAuthMagicLink
		case err != nil:
			return err
		}
		if ml.Kind == store.MagicLinkResetPassword {
			return ErrMagicLinkNotFound // a reset link logs nobody in (the redemption rolls back)
		}
		if err := checkPKCE(ml.CodeChallenge, r.CodeVerifier); err != nil {
			return err
		}
		if err := checkAttributes(ml.IPAddress, ml.UserAgent, r.Attributes, r.Options); err != nil {
			return err
		}
		u, err := tx.GetUser(ctx, p.ID, ml.UserID)
		if err != nil {
			return err
		}
		if err := s.checkLock(u); err != nil {
			return err
		}
		now := s.Now()
		f := store.Factor{Type: "magic_link", DeliveryMethod: "email", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now}
		if ml.Kind == store.MagicLinkEmbedded {
			f.DeliveryMethod = "embedded"
			f.EmbeddableMagicLinkFactor = &store.EmbeddableMagicLinkFactor{EmbeddedID: ml.UserID}
		} else {
			e, err := tx.GetEmail(ctx, p.ID, ml.EmailID)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return ErrUnableToAuthMagicLink // the address was deleted since
				}
				return err
			}
			if err := passwordlessProved(ctx, tx, u, e); err != nil {
				return err
			}
			if err := verifyMethod(ctx, tx, p, store.ChannelEmail, e.ID, e.PendingUntil, now, ErrUnableToAuthMagicLink); err != nil {
				return err
			}
			f.EmailFactor = &store.EmailFactor{EmailID: e.ID, EmailAddress: e.Address}
			res.MethodID = e.ID
		}
		if err := s.succeed(ctx, tx, u, time.Time{}); err != nil {
			return err
		}
		userID = u.ID
		sess, token, err = s.finishLogin(ctx, tx, loginInput{project: p, userID: u.ID, roles: u.Roles, factor: f, attrs: r.Attributes, opts: r.SessionOptions})
		return err
	})
	if err != nil {
		return LoginResult{}, storeErr(err, "authenticate magic link")
	}
	sr, err := s.result(ctx, p, userID, sess, token)
	if err != nil {
		return LoginResult{}, err
	}
	res.SessionResult = sr
	return res, nil
}

// checkPKCE requires base64url(SHA-256(verifier)) == challenge when the
// link was sent with a challenge. Only S256 exists.
// checkCodeChallenge refuses a PKCE code_challenge that no verifier could
// match: it is the unpadded base64url SHA-256 of the code_verifier (S256,
// RFC 7636 §4.2), 43 characters. "" is no PKCE.
func checkCodeChallenge(c string) error {
	if c == "" {
		return nil
	}
	if b, err := base64.RawURLEncoding.DecodeString(c); err != nil || len(b) != sha256.Size {
		return ErrBadRequest.With("code_challenge must be the unpadded base64url SHA-256 of the code_verifier (43 characters, RFC 7636 S256).")
	}
	return nil
}

func checkPKCE(challenge, verifier string) error {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return ErrPKCEUnexpectedVerifier
	case verifier == "":
		return ErrPKCEExpectedVerifier
	}
	sum := sha256.Sum256([]byte(verifier))
	if !secret.Equal([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) {
		return ErrPKCEMismatch
	}
	return nil
}

// checkAttributes enforces options.ip_match_required and
// user_agent_match_required. Open question 13: IPs compare as addresses
// (so "::ffff:1.2.3.4" equals "1.2.3.4"), user agents exactly; a send that
// recorded no value matches nothing (fail closed).
func checkAttributes(ip, ua string, got *Attributes, o *MatchOptions) error {
	if o == nil {
		return nil
	}
	var gotIP, gotUA string
	if got != nil {
		gotIP, gotUA = got.IPAddress, got.UserAgent
	}
	if o.IPMatchRequired {
		a, errA := netip.ParseAddr(ip)
		b, errB := netip.ParseAddr(gotIP)
		if errA != nil || errB != nil || a.Unmap() != b.Unmap() {
			return ErrAttributeMismatch.With("The IP address does not match the one the link was sent from.")
		}
	}
	if o.UserAgentMatchRequired && (ua == "" || ua != gotUA) {
		return ErrAttributeMismatch.With("The user agent does not match the one the link was sent from.")
	}
	return nil
}
