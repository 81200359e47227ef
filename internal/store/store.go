// Package store holds Latch's persistent model and the Store interface that
// every database backend implements. The store knows SQL and nothing about
// the rules: expiry, single use and counting are expressed as conditional
// writes whose conditions the caller passes in (usually "now").
//
// Every method that reads or writes tenant data takes the project id that the
// caller's credentials proved; no method reads a row of a project it was not
// told about.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap or return them directly; callers test with errors.Is.
var (
	ErrNotFound          = errors.New("store: not found")
	ErrDuplicateEmail    = errors.New("store: duplicate email")
	ErrDuplicatePhone    = errors.New("store: duplicate phone number")
	ErrDuplicateExternal = errors.New("store: duplicate external id")
	ErrAlreadyExists     = errors.New("store: already exists")
	// ErrConsumed is returned by single-use redemptions when the row exists
	// but was already used or has expired.
	ErrConsumed = errors.New("store: already used or expired")
	// ErrUnavailable wraps failures to reach the database at all.
	ErrUnavailable = errors.New("store: database unavailable")
)

// Project is a tenant.
type Project struct {
	ID        string // project-test-<uuid> | project-live-<uuid>
	Name      string
	Live      bool
	CreatedAt time.Time
	// LockThreshold is the number of consecutive failed authentications
	// after which a user is locked (Stytch default 10, range 1–100).
	LockThreshold int
	// LockTTL is how long a lock lasts (Stytch default 1 h).
	LockTTL time.Duration
	// RecipientSendsPerMinute and ProjectSendsPerMinute limit the messages
	// (links and codes) sent to one address or number, and by the whole
	// project, per minute; 0 = Latch's defaults.
	RecipientSendsPerMinute int
	ProjectSendsPerMinute   int
	// PasswordPolicy is "zxcvbn" (Stytch's default) or "luds", with the
	// LUDS minimum length and complexity (character classes of four).
	PasswordPolicy string
	LUDSMinLength  int
	LUDSComplexity int
}

// Password policies.
const (
	PolicyZxcvbn = "zxcvbn"
	PolicyLUDS   = "luds"
)

// Password is a user's password, stored as a self-describing hash
// (auth's encoding; never the password itself). A user has at most one.
type Password struct {
	ID        string
	ProjectID string
	UserID    string
	Hash      string
	// RequiresReset is set when a passwordless login first proves the
	// user's address: the password may have been set by someone else
	// (account pre-hijacking), so it logs nobody in until it is reset.
	RequiresReset bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// A user's status (Stytch's user object: "active" or "pending", a user
// invited or created pending whose first login has not happened yet).
const (
	UserActive  = "active"
	UserPending = "pending"
)

// SessionRead is what GetSessionWithUser reads at once.
type SessionRead struct {
	Session Session
	User    User
}

// ProjectSecret is one of a project's API secrets, stored only as SHA-256.
type ProjectSecret struct {
	ID        string // secret id, shown by `project list`; not the secret
	ProjectID string
	Hash      []byte // SHA-256 of the secret string
	CreatedAt time.Time
}

// RedirectURL is an entry of a project's magic-link allow-list. The oldest
// entry is the default for login, signup and invite links.
type RedirectURL struct {
	ProjectID string
	URL       string
	CreatedAt time.Time
}

// User is an end user of a project, with its emails and phone numbers.
type User struct {
	ID                string
	ProjectID         string
	ExternalID        string // "" when unset
	Status            string // UserActive | UserPending
	FirstName         string
	MiddleName        string
	LastName          string
	TrustedMetadata   json.RawMessage // JSON object, never nil once stored
	UntrustedMetadata json.RawMessage
	Roles             []string
	CreatedAt         time.Time
	// FailedAuths counts consecutive failed authentications across factors.
	FailedAuths   int
	LockCreatedAt *time.Time
	LockExpiresAt *time.Time
	// PasswordID is the id of the user's password, "" when it has none.
	PasswordID string
	// PasswordRequiresReset is the password's RequiresReset.
	PasswordRequiresReset bool

	Emails []Email // ordered by creation
	Phones []Phone // ordered by creation
	// TOTPs are the user's authenticator apps (ID, Verified and CreatedAt
	// only), ordered by creation.
	TOTPs []TOTP
}

// Email is an address of a user. An address is an identity of at most one
// user per project (compared case-insensitively): every email whose
// PendingUntil is nil. An address pending on a user (PendingUntil set)
// claims nothing: other users may hold it too, pending or as an identity.
type Email struct {
	ID        string
	ProjectID string
	UserID    string
	Address   string
	Verified  bool
	CreatedAt time.Time
	// PendingUntil is set for an address attached to an existing user by a
	// send call and not yet verified: it is removed if not verified by
	// then. nil for an identity (created with the user, or verified).
	PendingUntil *time.Time
}

// Phone is an E.164 phone number of a user, with Email's rules: an
// identity of at most one user per project unless PendingUntil is set.
type Phone struct {
	ID           string
	ProjectID    string
	UserID       string
	Number       string
	Verified     bool
	CreatedAt    time.Time
	PendingUntil *time.Time
}

// Magic-link kinds.
const (
	MagicLinkLogin    = "login"
	MagicLinkSignup   = "signup"
	MagicLinkInvite   = "invite"
	MagicLinkEmbedded = "embedded"
	// MagicLinkResetPassword is a password-reset link: it is redeemed only
	// by passwords/email/reset, never by magic_links/authenticate.
	MagicLinkResetPassword = "reset_password"
)

// MagicLink is an emailed (or embeddable) single-use token, stored by hash.
type MagicLink struct {
	TokenHash     []byte
	ProjectID     string
	UserID        string
	EmailID       string // "" for embeddable links
	Kind          string
	CodeChallenge string // PKCE S256 challenge, "" when none
	IPAddress     string // attributes recorded at send time
	UserAgent     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

// OTP channels.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
	ChannelEmail    = "email"
)

// OTP is a one-time passcode for one method (phone or email id). Only the
// newest code of a method is live.
type OTP struct {
	ID        string
	ProjectID string
	UserID    string
	MethodID  string
	Channel   string
	CodeHash  []byte // HMAC-SHA-256 under the install key
	Attempts  int    // wrong tries so far
	IPAddress string
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Factor is one authentication factor of a session.
type Factor struct {
	Type                      string                     `json:"type"`
	DeliveryMethod            string                     `json:"delivery_method"`
	LastAuthenticatedAt       time.Time                  `json:"last_authenticated_at"`
	CreatedAt                 time.Time                  `json:"created_at"`
	UpdatedAt                 time.Time                  `json:"updated_at"`
	EmailFactor               *EmailFactor               `json:"email_factor,omitempty"`
	PhoneNumberFactor         *PhoneNumberFactor         `json:"phone_number_factor,omitempty"`
	EmbeddableMagicLinkFactor *EmbeddableMagicLinkFactor `json:"embeddable_magic_link_factor,omitempty"`
	AuthenticatorAppFactor    *AuthenticatorAppFactor    `json:"authenticator_app_factor,omitempty"`
	RecoveryCodeFactor        *RecoveryCodeFactor        `json:"recovery_code_factor,omitempty"`
}

type EmailFactor struct {
	EmailID      string `json:"email_id"`
	EmailAddress string `json:"email_address"`
}

type PhoneNumberFactor struct {
	PhoneID     string `json:"phone_id"`
	PhoneNumber string `json:"phone_number"`
}

type EmbeddableMagicLinkFactor struct {
	EmbeddedID string `json:"embedded_id"`
}

// Session is a user's login. The opaque token is stored only as SHA-256.
type Session struct {
	ID        string
	ProjectID string
	UserID    string
	TokenHash []byte
	// TokenSealed is the token sealed under the master key, so that an
	// authenticate by JWT can return the session_token as Stytch does.
	TokenSealed    []byte
	StartedAt      time.Time
	LastAccessedAt time.Time
	ExpiresAt      time.Time
	IPAddress      string
	UserAgent      string
	CustomClaims   json.RawMessage // JSON object
	Factors        []Factor
	Roles          []string
}

// SigningKey is a project's RSA key for session JWTs. The private key is
// stored encrypted under the master key.
type SigningKey struct {
	KID           string
	ProjectID     string
	PrivateKeyEnc []byte // AEAD-sealed PKCS#8 DER
	CertDER       []byte // self-signed certificate for x5c
	CreatedAt     time.Time
	// ActiveAt is when the key starts signing; zero means CreatedAt. A
	// rotation with a lead publishes the key in the JWKS at CreatedAt and
	// signs with it only from ActiveAt, so that verifiers' cached JWKS
	// hold it before any JWT does.
	ActiveAt time.Time
	// RetiredAt is when a newer key takes over signing (it may be in the
	// future during a rotation's lead).
	RetiredAt *time.Time
	// ExpiresAt is when a retired key leaves the JWKS.
	ExpiresAt *time.Time
}

// ActiveFrom is when the key starts signing: ActiveAt, or CreatedAt when
// that is zero.
func (k SigningKey) ActiveFrom() time.Time {
	if k.ActiveAt.IsZero() {
		return k.CreatedAt
	}
	return k.ActiveAt
}

// OutboxMessage is an email, SMS or WhatsApp message waiting for delivery.
// Payload is sealed under the master key: it carries live tokens and codes.
type OutboxMessage struct {
	ID int64
	// ProjectID is "" for the console's own sign-in emails, which belong
	// to no project (stored as NULL).
	ProjectID     string
	Channel       string // "email" | "sms" | "whatsapp"
	Recipient     string
	Payload       []byte
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	SentAt        *time.Time
	// DeadAt is set when delivery failed permanently (the recipient was
	// refused); the message stays for `latch outbox` to show.
	DeadAt    *time.Time
	LastError string
	// HandedOffAt is set just before a hand-off to the transport and
	// cleared by a recorded failure: set on an unsent message, it means a
	// hand-off whose outcome is unknown (the node died during it).
	HandedOffAt *time.Time
}

// The filter names of a user search (Stytch: https://stytch.com/docs/api/search-users),
// one home for auth (which parses them) and the stores (which run them).
const (
	FilterCreatedAtGreaterThan         = "created_at_greater_than"
	FilterCreatedAtLessThan            = "created_at_less_than"
	FilterCreatedAtBetween             = "created_at_between"
	FilterStatus                       = "status"
	FilterUserId                       = "user_id"
	FilterEmailAddress                 = "email_address"
	FilterEmailId                      = "email_id"
	FilterPhoneNumber                  = "phone_number"
	FilterPhoneId                      = "phone_id"
	FilterEmailVerified                = "email_verified"
	FilterPhoneVerified                = "phone_verified"
	FilterFullNameFuzzy                = "full_name_fuzzy"
	FilterEmailAddressFuzzy            = "email_address_fuzzy"
	FilterPhoneNumberFuzzy             = "phone_number_fuzzy"
	FilterOauthProvider                = "oauth_provider"
	FilterWebauthnRegistrationId       = "webauthn_registration_id"
	FilterCryptoWalletId               = "crypto_wallet_id"
	FilterCryptoWalletAddress          = "crypto_wallet_address"
	FilterTotpId                       = "totp_id"
	FilterWebauthnRegistrationVerified = "webauthn_registration_verified"
	FilterCryptoWalletVerified         = "crypto_wallet_verified"
	FilterTotpVerified                 = "totp_verified"
	FilterPasswordExists               = "password_exists"
)

// UserFilter is one operand of a user search. Which of the value fields is
// used depends on Name (Stytch: https://stytch.com/docs/api/search-users).
type UserFilter struct {
	Name    string
	Strings []string   // array filters, or one string for fuzzy filters
	Bool    bool       // boolean filters
	After   *time.Time // created_at_greater_than / between
	Before  *time.Time // created_at_less_than / between
}

// UserQuery is a parsed search query. An empty Filters list matches all.
type UserQuery struct {
	Operator string // "AND" | "OR"
	Filters  []UserFilter
}

// Page is a position in the search order (created_at, user id), ascending.
type Page struct {
	AfterCreatedAt time.Time
	AfterID        string // "" = start at the beginning
	Limit          int
}

// Store is the persistence interface of Latch. All methods are safe for
// concurrent use. Methods return ErrNotFound when a row the caller names by
// id does not exist in the given project.
type Store interface {
	// InTx runs fn with a Store whose every call is part of one transaction.
	// fn's error rolls back. Calls on a transactional Store nest into it.
	InTx(ctx context.Context, fn func(Store) error) error
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	Close() error

	// Projects.
	CreateProject(ctx context.Context, p Project) error
	GetProject(ctx context.Context, id string) (Project, error)
	ListProjects(ctx context.Context) ([]Project, error)
	DeleteProject(ctx context.Context, id string) error
	// UpdateProjectSettings writes the name, lock settings and send limits.
	UpdateProjectSettings(ctx context.Context, p Project) error
	AddProjectSecret(ctx context.Context, s ProjectSecret) error
	ListProjectSecrets(ctx context.Context, projectID string) ([]ProjectSecret, error)
	DeleteProjectSecret(ctx context.Context, projectID, secretID string) error
	AddRedirectURL(ctx context.Context, r RedirectURL) error // ErrAlreadyExists on repeat
	ListRedirectURLs(ctx context.Context, projectID string) ([]RedirectURL, error)
	DeleteRedirectURL(ctx context.Context, projectID, url string) error

	// Users. GetUser takes a user id or an external id, told apart by
	// form (IsUserID): a user id is never looked up as an external id, nor
	// the other way round.
	CreateUser(ctx context.Context, u User) error // inserts u.Emails and u.Phones too
	GetUser(ctx context.Context, projectID, idOrExternalID string) (User, error)
	// GetUserByEmail and GetUserByPhone return the user whose identity the
	// address or number is; pending methods are not looked at.
	GetUserByEmail(ctx context.Context, projectID, address string) (User, error)
	GetUserByPhone(ctx context.Context, projectID, number string) (User, error)
	// UpdateUser writes the scalar fields of u (name, status, metadata,
	// external id, roles); emails, phones and lock state are not touched.
	UpdateUser(ctx context.Context, u User) error
	DeleteUser(ctx context.Context, projectID, userID string) error // and everything it owns
	SearchUsers(ctx context.Context, projectID string, q UserQuery, p Page) (users []User, total int, err error)

	// AddEmail adds e to its user: ErrDuplicateEmail if the user has the
	// address already, or if e is an identity (PendingUntil nil) that
	// another user's identity holds; ErrNotFound if the user is missing.
	AddEmail(ctx context.Context, e Email) error
	GetEmail(ctx context.Context, projectID, emailID string) (Email, error)
	DeleteEmail(ctx context.Context, projectID, emailID string) error
	// VerifyEmail marks the address verified and clears PendingUntil (so a
	// pending address becomes an identity): ErrDuplicateEmail, and nothing
	// changed, if another user's identity holds it by then.
	VerifyEmail(ctx context.Context, projectID, emailID string) error
	// AddPhone and VerifyPhone: as AddEmail and VerifyEmail
	// (ErrDuplicatePhone).
	AddPhone(ctx context.Context, p Phone) error
	GetPhone(ctx context.Context, projectID, phoneID string) (Phone, error)
	DeletePhone(ctx context.Context, projectID, phoneID string) error
	VerifyPhone(ctx context.Context, projectID, phoneID string) error
	// DeleteExpiredPendingMethods removes unverified attached emails and
	// phones whose PendingUntil is before now.
	DeleteExpiredPendingMethods(ctx context.Context, now time.Time) (int, error)

	// RecordAuthFailure atomically adds one to the user's consecutive
	// failures; when the count reaches threshold it locks the user until
	// now+ttl and resets the count. It returns the user's lock expiry if the
	// user is locked after the update.
	RecordAuthFailure(ctx context.Context, projectID, userID string, now time.Time, threshold int, ttl time.Duration) (lockedUntil *time.Time, err error)
	// ResetAuthFailures clears the failure count and the lock, unless a lock
	// is in force at now that was set after admitted (the time the right
	// answer's own attempt was reserved; zero when none was): a right answer
	// lifts the lock its own attempt set, never one that attempts beside it
	// set.
	ResetAuthFailures(ctx context.Context, projectID, userID string, now, admitted time.Time) error
	// ReserveAuthAttempt counts one attempt at a user's credential before
	// it is checked, in one statement: a user locked at now is refused
	// (false) and nothing changes; otherwise the attempt is counted as a
	// failure (the count reaching threshold locks the user until now+ttl
	// and resets the count, as RecordAuthFailure) and allowed (true), the
	// attempt that sets the lock included. A check that then succeeds clears
	// count and lock (ResetAuthFailures); one that fails has been counted.
	// However many attempts arrive at once, at most threshold are allowed
	// per lock period. No such user: false.
	ReserveAuthAttempt(ctx context.Context, projectID, userID string, now time.Time, threshold int, ttl time.Duration) (allowed bool, err error)

	// Passwords. SetPassword stores the user's password, replacing the
	// hash of one it has (keeping its id); ErrNotFound if the user is
	// missing. ReplacePasswordHash swaps the hash only if it is still
	// oldHash (a rehash racing a reset loses). DeletePassword returns the
	// owner's id.
	SetPassword(ctx context.Context, pw Password) (Password, error)
	GetPassword(ctx context.Context, projectID, userID string) (Password, error)
	ReplacePasswordHash(ctx context.Context, projectID, passwordID, oldHash, newHash string, now time.Time) error
	DeletePassword(ctx context.Context, projectID, passwordID string) (userID string, err error)
	// RequirePasswordReset sets RequiresReset on the user's password, if
	// it has one.
	RequirePasswordReset(ctx context.Context, projectID, userID string) error

	// Magic links.
	CreateMagicLink(ctx context.Context, m MagicLink) error
	// RedeemMagicLink marks the link used in one conditional write. It
	// returns ErrNotFound when no such token exists in the project and
	// ErrConsumed (with the row) when it was used or has expired.
	RedeemMagicLink(ctx context.Context, projectID string, tokenHash []byte, now time.Time) (MagicLink, error)
	// RevokeMagicLinks expires every unused link of the user of that kind
	// ("" = every kind).
	RevokeMagicLinks(ctx context.Context, projectID, userID, kind string, now time.Time) error

	// OTPs.
	// CreateOTP stores o and ends every earlier unused code of o.MethodID.
	CreateOTP(ctx context.Context, o OTP, now time.Time) error
	// GetLatestOTP returns the newest code of the method (used or not).
	GetLatestOTP(ctx context.Context, projectID, methodID string) (OTP, error)
	// RedeemOTP marks the code used if it is unused, unexpired and under
	// maxAttempts; ErrConsumed otherwise.
	RedeemOTP(ctx context.Context, projectID, otpID string, now time.Time, maxAttempts int) error
	// RecordOTPFailure adds one wrong try and returns the new count.
	RecordOTPFailure(ctx context.Context, projectID, otpID string) (int, error)

	// Sessions.
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, projectID, sessionID string) (Session, error)
	GetSessionByTokenHash(ctx context.Context, projectID string, tokenHash []byte) (Session, error)
	// GetSessionWithUser returns a session, by token hash when tokenHash is
	// not nil and else by id, expired or not, with its user as GetUser
	// reads it, in one read: sessions/authenticate's path. ErrNotFound if either is missing.
	GetSessionWithUser(ctx context.Context, projectID string, tokenHash []byte, sessionID string) (SessionRead, error)
	// ListSessions returns the user's sessions that expire after now.
	ListSessions(ctx context.Context, projectID, userID string, now time.Time) ([]Session, error)
	// UpdateSession writes last_accessed_at, expires_at, custom claims,
	// factors and attributes of a live session; ErrNotFound if it is gone.
	UpdateSession(ctx context.Context, s Session) error
	// TouchSession sets last_accessed_at (and expires_at when non-nil) of a
	// session; ErrNotFound if it is gone.
	TouchSession(ctx context.Context, projectID, sessionID string, lastAccessed time.Time, expiresAt *time.Time) error
	// NoteAccess records that a session was used at `at`, lazily: writes
	// are coalesced (the latest per session) and committed in the
	// background within about a second, never moving last_accessed_at
	// backwards. A crash may lose the last second of notes; nothing else
	// depends on them. It never blocks on the database.
	NoteAccess(projectID, sessionID string, at time.Time)
	DeleteSession(ctx context.Context, projectID, sessionID string) error
	DeleteUserSessions(ctx context.Context, projectID, userID string) (int, error)
	// DeleteExpired sweeps sessions, magic links and codes past their end.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	CountLiveSessions(ctx context.Context, now time.Time) (int, error)

	// Signing keys.
	AddSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns the project's keys, newest first, including
	// retired ones whose ExpiresAt is still in the future (or unset).
	ListSigningKeys(ctx context.Context, projectID string, now time.Time) ([]SigningKey, error)
	// RetireSigningKeys retires at at (now, or the end of a rotation's lead)
	// every key of the project not retired by then, each leaving the JWKS at
	// expiresAt or at its own earlier expiry.
	RetireSigningKeys(ctx context.Context, projectID string, at, expiresAt time.Time) error

	// Outbox.
	EnqueueMessage(ctx context.Context, m OutboxMessage) (int64, error)
	// ClaimMessages leases up to limit unsent messages due at now to one
	// sender until leaseUntil; a message is leased to one sender at a time,
	// across processes.
	ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]OutboxMessage, error)
	// MarkMessagesSent records the delivery of several messages in one
	// write (ErrNotFound if any id is unknown; the others are recorded).
	MarkMessagesSent(ctx context.Context, ids []int64, now time.Time) error
	// MarkMessageHandedOff records, before the hand-off, that the message
	// is about to go to its transport.
	MarkMessageHandedOff(ctx context.Context, id int64, now time.Time) error
	MarkMessageFailed(ctx context.Context, id int64, errText string, next time.Time) error
	MarkMessageDead(ctx context.Context, id int64, errText string, now time.Time) error
	// ListMessages returns messages newest first; recipient "" = all.
	ListMessages(ctx context.Context, recipient string, limit int) ([]OutboxMessage, error)
	CountPendingMessages(ctx context.Context) (int, error)
	// ReleaseMessageLeases makes every pending message due at now (leased
	// or waiting out a backoff) and returns how many it moved. Only for a
	// database that one node serves (SQLite, under serve's lock): every
	// lease in it belongs to a process that is gone.
	ReleaseMessageLeases(ctx context.Context, now time.Time) (int, error)

	TOTPStore

	// Rate limits: CountHit adds one to the counter of key in the window
	// starting at windowStart and returns the new count; CountHits does so
	// for several distinct keys in one write, the counts in the keys' order.
	CountHit(ctx context.Context, projectID, key string, windowStart time.Time) (int, error)
	CountHits(ctx context.Context, projectID string, keys []string, windowStart time.Time) ([]int, error)

	// The frontend SDK (sdk.go).
	SDKStore
}
