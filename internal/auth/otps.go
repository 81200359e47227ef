package auth

import (
	"context"
	"errors"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Passcode rules (Stytch: https://stytch.com/docs/api/send-otp-by-sms).
const (
	defaultOTPMinutes = 2
	minOTPMinutes     = 1
	maxOTPMinutes     = 10
	// MaxCodeAttempts is Latch's own rule: a code dies after 5 wrong tries.
	MaxCodeAttempts = 5
)

var (
	textLocales = []string{"", "en", "es", "pt-br", "fr", "it", "de-DE", "zh-Hans", "ca-ES", "ja", "ru", "nl", "pl", "tr", "fa", "vi", "cs"}
	sixDigits   = regexp.MustCompile(`^[0-9]{6}$`)
)

// OTPSendRequest is send and login_or_create on every channel; Email is
// used by the email channel, PhoneNumber by SMS and WhatsApp.
type OTPSendRequest struct {
	PhoneNumber         string      `json:"phone_number"`
	Email               string      `json:"email"`
	ExpirationMinutes   *int        `json:"expiration_minutes"`
	Attributes          *Attributes `json:"attributes"`
	Locale              string      `json:"locale"`
	CreateUserAsPending bool        `json:"create_user_as_pending"`
	LoginTemplateID     string      `json:"login_template_id"`
	SignupTemplateID    string      `json:"signup_template_id"`
	UserID              string      `json:"user_id"`
	SessionToken        string      `json:"session_token"`
	SessionJWT          string      `json:"session_jwt"`
}

// OTPSent answers a send: MethodID is the phone_id or email_id.
type OTPSent struct {
	UserID      string
	MethodID    string
	UserCreated bool
}

func otpTTL(v *int) (time.Duration, error) {
	if v == nil || *v == 0 {
		return defaultOTPMinutes * time.Minute, nil
	}
	if *v < minOTPMinutes || *v > maxOTPMinutes {
		return 0, ErrInvalidExpirationOTP
	}
	return time.Duration(*v) * time.Minute, nil
}

// SendOTP sends a passcode on channel (sms, whatsapp, email). With create
// set it is login_or_create: an unknown phone or email makes a new user.
// Otherwise the method must exist, unless the request names a user (by id
// or session) to attach it to, unverified.
func (s *Service) SendOTP(ctx context.Context, p store.Project, channel string, create bool, r OTPSendRequest) (OTPSent, error) {
	if err := s.checkTransport(p, channel); err != nil {
		return OTPSent{}, err
	}
	ttl, err := otpTTL(r.ExpirationMinutes)
	if err != nil {
		return OTPSent{}, err
	}
	var recipient string
	if channel == store.ChannelEmail {
		if recipient, err = NormalizeEmail(r.Email); err != nil {
			return OTPSent{}, err
		}
		if !slices.Contains(emailLocales, r.Locale) {
			return OTPSent{}, ErrInvalidLocale
		}
		if err := checkTemplates(r.LoginTemplateID, r.SignupTemplateID); err != nil {
			return OTPSent{}, err
		}
	} else {
		if recipient, err = NormalizePhone(r.PhoneNumber); err != nil {
			return OTPSent{}, err
		}
		if !slices.Contains(textLocales, r.Locale) {
			return OTPSent{}, ErrInvalidLocale
		}
	}
	if !p.Live && (recipient == SandboxPhone || recipient == SandboxEmail) {
		method := sandboxPhoneID
		if channel == store.ChannelEmail {
			method = sandboxEmailID
		}
		return OTPSent{UserID: SandboxUserID, MethodID: method}, nil
	}
	if err := s.limitSend(ctx, p, recipient); err != nil {
		return OTPSent{}, err
	}
	var out OTPSent
	err = s.store.InTx(ctx, func(tx store.Store) error {
		var target sendTarget
		var err error
		if create {
			target.user, target.methodID, out.UserCreated, err = s.ownerOrNew(ctx, tx, p, channel, recipient, r.CreateUserAsPending)
		} else {
			target, err = s.methodOwner(ctx, tx, p, channel, recipient, r.UserID, r.SessionToken, r.SessionJWT)
		}
		if err != nil {
			return err
		}
		u, methodID := target.user, target.methodID
		now := s.Now()
		code := secret.OTPCode()
		expires := target.expiry(now, ttl)
		o := store.OTP{ID: secret.ID("otp", p.Live), ProjectID: p.ID, UserID: u.ID, MethodID: methodID, Channel: channel, CreatedAt: now, ExpiresAt: expires}
		o.CodeHash = s.ring.CodeHash(o.ID, code)
		if r.Attributes != nil {
			o.IPAddress, o.UserAgent = r.Attributes.IPAddress, r.Attributes.UserAgent
		}
		if err := tx.CreateOTP(ctx, o, now); err != nil {
			return err
		}
		var msg deliver.Message
		switch left := expires.Sub(now); {
		case target.attachUntil != nil && channel == store.ChannelEmail:
			msg = deliver.AttachOTPEmail(p.Name, recipient, code, left)
		case target.attachUntil != nil:
			msg = deliver.AttachOTPText(channel, p.Name, recipient, code, left)
		case channel == store.ChannelEmail:
			msg = deliver.OTPEmail(p.Name, recipient, code, left)
		default:
			msg = deliver.OTPText(channel, p.Name, recipient, code, left)
		}
		if err := deliver.Enqueue(ctx, tx, s.ring, p.ID, msg, now); err != nil {
			return err
		}
		out.UserID, out.MethodID = u.ID, methodID
		return nil
	})
	if err != nil {
		return OTPSent{}, storeErr(err, "send otp")
	}
	s.notify()
	return out, nil
}

// ownerOrNew finds the owner of a phone or email, or creates a user with it.
func (s *Service) ownerOrNew(ctx context.Context, tx store.Store, p store.Project, channel, recipient string, pending bool) (store.User, string, bool, error) {
	u, err := userByMethod(ctx, tx, p, channel, recipient)
	if err == nil {
		return u, methodOf(u, channel, recipient), false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, "", false, err
	}
	u = s.newUser(p, pending)
	if channel == store.ChannelEmail {
		u.Emails = []store.Email{{ID: secret.ID("email", p.Live), ProjectID: p.ID, UserID: u.ID, Address: recipient, CreatedAt: u.CreatedAt}}
	} else {
		u.Phones = []store.Phone{{ID: secret.ID("phone-number", p.Live), ProjectID: p.ID, UserID: u.ID, Number: recipient, CreatedAt: u.CreatedAt}}
	}
	if err := tx.CreateUser(ctx, u); err != nil {
		again, aerr := createdMeanwhile(ctx, tx, p, err, channel, recipient)
		if aerr != nil {
			return store.User{}, "", false, aerr
		}
		return again, methodOf(again, channel, recipient), false, nil
	}
	return u, methodOf(u, channel, recipient), true, nil
}

// createdMeanwhile answers a login_or_create that lost a race: its insert
// met the address or number that a concurrent request has just committed
// (PostgreSQL makes the insert wait for that commit; the savepoint keeps
// this transaction usable). The user made meanwhile is logged in instead of
// the caller getting duplicate_email or duplicate_phone_number for its own
// address. Any other write error is returned as it is.
func createdMeanwhile(ctx context.Context, tx store.Store, p store.Project, werr error, channel, recipient string) (store.User, error) {
	if !errors.Is(werr, duplicateOf(channel)) {
		return store.User{}, userWriteErr(werr)
	}
	u, err := userByMethod(ctx, tx, p, channel, recipient)
	if err != nil {
		return store.User{}, userWriteErr(werr)
	}
	return u, nil
}

func methodOf(u store.User, channel, recipient string) string {
	if channel == store.ChannelEmail {
		return emailOf(u, recipient).ID
	}
	for _, ph := range u.Phones {
		if ph.Number == recipient {
			return ph.ID
		}
	}
	return ""
}

// userByMethod finds the user owning an email (channel email) or a phone
// number (sms, whatsapp).
func userByMethod(ctx context.Context, tx store.Store, p store.Project, channel, recipient string) (store.User, error) {
	if channel == store.ChannelEmail {
		return tx.GetUserByEmail(ctx, p.ID, recipient)
	}
	return tx.GetUserByPhone(ctx, p.ID, recipient)
}

func duplicateOf(channel string) error {
	if channel == store.ChannelEmail {
		return store.ErrDuplicateEmail
	}
	return store.ErrDuplicatePhone
}

// sendTarget is whom a send (not login_or_create) goes to.
type sendTarget struct {
	user     store.User
	methodID string
	// attachUntil is set when the method is pending on user, attached by
	// this send: the code or link must be used before then.
	attachUntil *time.Time
}

// expiry is when a code or link of ttl sent now to t ends: never after
// the method's attach window.
func (t sendTarget) expiry(now time.Time, ttl time.Duration) time.Time {
	end := now.Add(ttl)
	if t.attachUntil != nil && t.attachUntil.Before(end) {
		return *t.attachUntil
	}
	return end
}

// methodOwner finds the user a send (not login_or_create) goes to, and the
// method's id.
//
// Only identities count here: an address or number pending on a user (an
// earlier attach not yet verified) owns nothing (CONTRACT-NOTES, "An
// unverified method is not an identity"). Without a user named by id or
// session, the email or phone must be an identity of some user (404
// email_not_found / phone_number_not_found). With one, it must be that
// user's or nobody's (400 duplicate_email / duplicate_phone_number); if
// nobody's, it is attached to that user, pending for attachWindow from
// now (a repeated send to the same pending method keeps its id and starts
// the window again).
func (s *Service) methodOwner(ctx context.Context, tx store.Store, p store.Project, channel, recipient, userID, token, jwt string) (sendTarget, error) {
	notFound, duplicate := ErrPhoneNotFound, ErrDuplicatePhone
	if channel == store.ChannelEmail {
		notFound, duplicate = ErrEmailNotFound, ErrDuplicateEmail
	}
	named, err := s.namedUser(ctx, tx, p, userID, token, jwt)
	if err != nil {
		return sendTarget{}, err
	}
	owner, err := userByMethod(ctx, tx, p, channel, recipient)
	switch {
	case err == nil:
		if named != nil && named.ID != owner.ID {
			return sendTarget{}, duplicate
		}
		id := methodOf(owner, channel, recipient)
		if id == "" {
			return sendTarget{}, notFound
		}
		return sendTarget{user: owner, methodID: id}, nil
	case !errors.Is(err, store.ErrNotFound):
		return sendTarget{}, err
	case named == nil:
		return sendTarget{}, notFound
	}
	now := s.Now()
	until := now.Add(attachWindow)
	// The named user's own pending method, if it has one.
	id := methodOf(*named, channel, recipient)
	if id == "" && unverified(named.Emails, named.Phones) >= maxUnverifiedFactors {
		return sendTarget{}, ErrTooManyUnverified
	}
	err = nil
	if id != "" {
		// Again with the same id and a new window: one row per user and
		// address, the store has no other way to move the window.
		err = deleteMethod(ctx, tx, p, channel, id)
	} else {
		id = secret.ID("email", p.Live)
		if channel != store.ChannelEmail {
			id = secret.ID("phone-number", p.Live)
		}
	}
	if err == nil {
		if channel == store.ChannelEmail {
			err = tx.AddEmail(ctx, store.Email{ID: id, ProjectID: p.ID, UserID: named.ID, Address: recipient, CreatedAt: now, PendingUntil: &until})
		} else {
			err = tx.AddPhone(ctx, store.Phone{ID: id, ProjectID: p.ID, UserID: named.ID, Number: recipient, CreatedAt: now, PendingUntil: &until})
		}
	}
	if err != nil {
		return sendTarget{}, userWriteErr(err)
	}
	return sendTarget{user: *named, methodID: id, attachUntil: &until}, nil
}

func deleteMethod(ctx context.Context, tx store.Store, p store.Project, channel, id string) error {
	if channel == store.ChannelEmail {
		return tx.DeleteEmail(ctx, p.ID, id)
	}
	return tx.DeletePhone(ctx, p.ID, id)
}

// verifyMethod verifies the email or phone a code or link was sent to. A
// method pending on its user whose window has ended is as good as gone
// (gone); one whose address another user has made an identity since it
// was sent is refused with 400 duplicate_email / duplicate_phone_number,
// and the caller's transaction (the code or link included) rolls back:
// whoever verifies an address first owns it.
func verifyMethod(ctx context.Context, tx store.Store, p store.Project, channel, id string, pendingUntil *time.Time, now time.Time, gone *Error) error {
	if pendingUntil != nil && !pendingUntil.After(now) {
		return gone
	}
	var err error
	if channel == store.ChannelEmail {
		err = tx.VerifyEmail(ctx, p.ID, id)
	} else {
		err = tx.VerifyPhone(ctx, p.ID, id)
	}
	switch {
	case errors.Is(err, store.ErrDuplicateEmail):
		return ErrDuplicateEmail.With("Another user has verified this email address since it was sent; nothing changed.")
	case errors.Is(err, store.ErrDuplicatePhone):
		return ErrDuplicatePhone.With("Another user has verified this phone number since it was sent; nothing changed.")
	case errors.Is(err, store.ErrNotFound):
		return gone
	}
	return err
}

// AuthenticateOTPRequest is POST /v1/otps/authenticate.
type AuthenticateOTPRequest struct {
	MethodID   string        `json:"method_id"`
	Code       string        `json:"code"`
	Attributes *Attributes   `json:"attributes"`
	Options    *MatchOptions `json:"options"`
	SessionOptions
}

// AuthenticateOTP checks the newest code of a method.
//
// Every try counts against the code, atomically in the database, before
// it is compared (so the code dies after MaxCodeAttempts tries even when
// they arrive at once). A wrong code is 404 otp_code_not_found and also
// counts against the user (who is locked at the project's threshold). A used,
// expired or dead code is 401 unable_to_auth_otp_code. A locked user is
// 429 user_lock_limit_reached even with the right code. An unknown
// method_id, or one of another project, is otp_code_not_found, so ids say
// nothing across tenants.
func (s *Service) AuthenticateOTP(ctx context.Context, p store.Project, r AuthenticateOTPRequest) (LoginResult, error) {
	if r.MethodID == "" {
		return LoginResult{}, ErrInvalidMethodID.With("method_id is required.")
	}
	if !sixDigits.MatchString(r.Code) {
		return LoginResult{}, ErrInvalidCode
	}
	if err := checkDuration(r.SessionDurationMinutes); err != nil {
		return LoginResult{}, err
	}
	if !p.Live && (r.MethodID == sandboxPhoneID || r.MethodID == sandboxEmailID) {
		if r.Code != SandboxCode {
			return LoginResult{}, ErrOTPCodeNotFound
		}
		return s.sandboxLogin(ctx, p, r.SessionOptions, "otp", r.MethodID)
	}
	o, err := s.store.GetLatestOTP(ctx, p.ID, r.MethodID)
	if errors.Is(err, store.ErrNotFound) {
		return LoginResult{}, ErrOTPCodeNotFound
	}
	if err != nil {
		return LoginResult{}, storeErr(err, "get otp")
	}
	u, err := s.store.GetUser(ctx, p.ID, o.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return LoginResult{}, ErrOTPCodeNotFound
	}
	if err != nil {
		return LoginResult{}, storeErr(err, "get user")
	}
	if err := s.checkLock(u); err != nil {
		return LoginResult{}, err
	}
	now := s.Now()
	if o.UsedAt != nil || !o.ExpiresAt.After(now) || o.Attempts >= MaxCodeAttempts {
		return LoginResult{}, ErrUnableToAuthOTP
	}
	// Count the try before comparing, in one atomic update: however many
	// guesses arrive at once, on however many nodes, at most
	// MaxCodeAttempts of them are ever compared with the code.
	tries, err := s.store.RecordOTPFailure(ctx, p.ID, o.ID)
	if err != nil {
		return LoginResult{}, storeErr(err, "count otp try")
	}
	if tries > MaxCodeAttempts {
		return LoginResult{}, ErrUnableToAuthOTP
	}
	// And against the user (reserveAttempt): a locked user's code is not
	// compared, and the right code gets the same 429 as a wrong one.
	admitted, err := s.reserveAttempt(ctx, p, u.ID)
	if err != nil {
		return LoginResult{}, err
	}
	if !secret.Equal(s.ring.CodeHash(o.ID, r.Code), o.CodeHash) {
		return LoginResult{}, ErrOTPCodeNotFound // counted by the reservation
	}
	if err := checkAttributes(o.IPAddress, o.UserAgent, r.Attributes, r.Options); err != nil {
		return LoginResult{}, err
	}
	var res LoginResult
	var sess *store.Session
	var token string
	err = s.store.InTx(ctx, func(tx store.Store) error {
		// This try was counted above and was within the limit: later
		// tries counted since must not take the right code's turn.
		if err := tx.RedeemOTP(ctx, p.ID, o.ID, now, math.MaxInt32); err != nil {
			if errors.Is(err, store.ErrConsumed) || errors.Is(err, store.ErrNotFound) {
				return ErrUnableToAuthOTP
			}
			return err
		}
		// Re-read the user inside the transaction. The lock is not checked
		// again: this attempt was admitted when it was reserved, and
		// succeed clears the count (and a lock that reservation set).
		u, err := tx.GetUser(ctx, p.ID, o.UserID)
		if err != nil {
			return err
		}
		f := store.Factor{Type: "otp", DeliveryMethod: o.Channel, LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now}
		if o.Channel == store.ChannelEmail {
			e, err := tx.GetEmail(ctx, p.ID, o.MethodID)
			if err != nil {
				return notFoundAs(err, ErrUnableToAuthOTP)
			}
			if err := passwordlessProved(ctx, tx, u, e); err != nil {
				return err
			}
			if err := verifyMethod(ctx, tx, p, o.Channel, e.ID, e.PendingUntil, now, ErrUnableToAuthOTP); err != nil {
				return err
			}
			f.EmailFactor = &store.EmailFactor{EmailID: e.ID, EmailAddress: e.Address}
		} else {
			ph, err := tx.GetPhone(ctx, p.ID, o.MethodID)
			if err != nil {
				return notFoundAs(err, ErrUnableToAuthOTP)
			}
			if err := verifyMethod(ctx, tx, p, o.Channel, ph.ID, ph.PendingUntil, now, ErrUnableToAuthOTP); err != nil {
				return err
			}
			f.PhoneNumberFactor = &store.PhoneNumberFactor{PhoneID: ph.ID, PhoneNumber: ph.Number}
		}
		if err := s.succeed(ctx, tx, u, admitted); err != nil {
			return err
		}
		sess, token, err = s.finishLogin(ctx, tx, loginInput{project: p, userID: u.ID, roles: u.Roles, factor: f, attrs: r.Attributes, opts: r.SessionOptions})
		return err
	})
	if err != nil {
		return LoginResult{}, storeErr(err, "authenticate otp")
	}
	sr, err := s.result(ctx, p, o.UserID, sess, token)
	if err != nil {
		return LoginResult{}, err
	}
	res.SessionResult, res.MethodID = sr, o.MethodID
	return res, nil
}

func notFoundAs(err error, e *Error) error {
	if errors.Is(err, store.ErrNotFound) {
		return e
	}
	return err
}
