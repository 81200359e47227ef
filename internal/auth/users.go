package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Name is a user's name; nil fields are absent.
type Name struct {
	FirstName  *string `json:"first_name"`
	MiddleName *string `json:"middle_name"`
	LastName   *string `json:"last_name"`
}

// Attributes are the end user's IP address and user agent, as the app saw them.
type Attributes struct {
	IPAddress string `json:"ip_address"`
	UserAgent string `json:"user_agent"`
}

// CreateUserRequest is POST /v1/users.
type CreateUserRequest struct {
	Email               string          `json:"email"`
	PhoneNumber         string          `json:"phone_number"`
	Name                *Name           `json:"name"`
	Attributes          *Attributes     `json:"attributes"`
	CreateUserAsPending bool            `json:"create_user_as_pending"`
	TrustedMetadata     json.RawMessage `json:"trusted_metadata"`
	UntrustedMetadata   json.RawMessage `json:"untrusted_metadata"`
	ExternalID          string          `json:"external_id"`
	Roles               []string        `json:"roles"`
}

// CreateUser creates an active (or pending) user with an email and/or phone.
func (s *Service) CreateUser(ctx context.Context, p store.Project, r CreateUserRequest) (store.User, error) {
	if r.Email == "" && r.PhoneNumber == "" {
		return store.User{}, ErrBadRequest.With("email or phone_number is required.")
	}
	u := s.newUser(p, r.CreateUserAsPending)
	if r.Email != "" {
		addr, err := NormalizeEmail(r.Email)
		if err != nil {
			return store.User{}, err
		}
		u.Emails = []store.Email{{ID: secret.ID("email", p.Live), ProjectID: p.ID, UserID: u.ID, Address: addr, CreatedAt: u.CreatedAt}}
	}
	if r.PhoneNumber != "" {
		num, err := NormalizePhone(r.PhoneNumber)
		if err != nil {
			return store.User{}, err
		}
		u.Phones = []store.Phone{{ID: secret.ID("phone-number", p.Live), ProjectID: p.ID, UserID: u.ID, Number: num, CreatedAt: u.CreatedAt}}
	}
	applyName(&u, r.Name)
	var err error
	if u.TrustedMetadata, err = mergeMetadata(u.TrustedMetadata, r.TrustedMetadata, "trusted_metadata"); err != nil {
		return store.User{}, err
	}
	if u.UntrustedMetadata, err = mergeMetadata(u.UntrustedMetadata, r.UntrustedMetadata, "untrusted_metadata"); err != nil {
		return store.User{}, err
	}
	if err := validateExternalID(r.ExternalID); err != nil {
		return store.User{}, err
	}
	u.ExternalID = r.ExternalID
	if r.Roles != nil {
		u.Roles = r.Roles
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return store.User{}, userWriteErr(err)
	}
	return u, nil
}

func (s *Service) newUser(p store.Project, pending bool) store.User {
	status := store.UserActive
	if pending {
		status = store.UserPending
	}
	return store.User{
		ID: secret.ID("user", p.Live), ProjectID: p.ID, Status: status,
		TrustedMetadata: json.RawMessage(`{}`), UntrustedMetadata: json.RawMessage(`{}`),
		Roles: []string{}, CreatedAt: s.Now(), Emails: []store.Email{}, Phones: []store.Phone{},
	}
}

func userWriteErr(err error) error {
	switch {
	case errors.Is(err, store.ErrDuplicateEmail):
		return ErrDuplicateEmail
	case errors.Is(err, store.ErrDuplicatePhone):
		return ErrDuplicatePhone
	case errors.Is(err, store.ErrDuplicateExternal):
		return ErrDuplicateExternalID
	case errors.Is(err, store.ErrNotFound):
		return ErrUserNotFound
	}
	return storeErr(err, "write user")
}

// GetUser finds a user by user id or, for a value not of a user id's
// form, by external id (store.IsUserID); a 404 says which it searched.
func (s *Service) GetUser(ctx context.Context, p store.Project, id string) (store.User, error) {
	if id == "" {
		return store.User{}, ErrInvalidUserID
	}
	u, err := s.store.GetUser(ctx, p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, userNotFound(id)
	}
	if err != nil {
		return store.User{}, storeErr(err, "get user")
	}
	return s.withLockState(u), nil
}

// withLockState hides a lock that has ended.
func (s *Service) withLockState(u store.User) store.User {
	if u.LockExpiresAt != nil && !u.LockExpiresAt.After(s.Now()) {
		u.LockExpiresAt, u.LockCreatedAt = nil, nil
	}
	return u
}

// UpdateUserRequest is PUT /v1/users/{user_id}. Metadata merges at the top
// level: a value replaces the key, null deletes it.
type UpdateUserRequest struct {
	Name              *Name           `json:"name"`
	Attributes        *Attributes     `json:"attributes"`
	TrustedMetadata   json.RawMessage `json:"trusted_metadata"`
	UntrustedMetadata json.RawMessage `json:"untrusted_metadata"`
	ExternalID        *string         `json:"external_id"`
	Roles             []string        `json:"roles"`
}

// UpdateUser applies r to the user.
func (s *Service) UpdateUser(ctx context.Context, p store.Project, id string, r UpdateUserRequest) (store.User, error) {
	var out store.User
	err := s.store.InTx(ctx, func(tx store.Store) error {
		u, err := tx.GetUser(ctx, p.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return userNotFound(id)
		}
		if err != nil {
			return err
		}
		applyName(&u, r.Name)
		if u.TrustedMetadata, err = mergeMetadata(u.TrustedMetadata, r.TrustedMetadata, "trusted_metadata"); err != nil {
			return err
		}
		if u.UntrustedMetadata, err = mergeMetadata(u.UntrustedMetadata, r.UntrustedMetadata, "untrusted_metadata"); err != nil {
			return err
		}
		if r.ExternalID != nil {
			if err := validateExternalID(*r.ExternalID); err != nil {
				return err
			}
			u.ExternalID = *r.ExternalID
		}
		if r.Roles != nil {
			u.Roles = r.Roles
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return store.User{}, userWriteErr(err)
	}
	return s.withLockState(out), nil
}

// DeleteUser deletes the user and everything it owns (sessions, methods).
func (s *Service) DeleteUser(ctx context.Context, p store.Project, id string) (string, error) {
	u, err := s.GetUser(ctx, p, id)
	if err != nil {
		return "", err
	}
	if err := s.store.DeleteUser(ctx, p.ID, u.ID); err != nil {
		return "", userWriteErr(err)
	}
	return u.ID, nil
}

// DeleteEmail removes an email from its user and returns the user.
func (s *Service) DeleteEmail(ctx context.Context, p store.Project, emailID string) (store.User, error) {
	e, err := s.store.GetEmail(ctx, p.ID, emailID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrEmailNotFound
	}
	if err != nil {
		return store.User{}, storeErr(err, "get email")
	}
	if err := s.store.DeleteEmail(ctx, p.ID, emailID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, storeErr(err, "delete email")
	}
	return s.GetUser(ctx, p, e.UserID)
}

// DeletePhone removes a phone number from its user and returns the user.
func (s *Service) DeletePhone(ctx context.Context, p store.Project, phoneID string) (store.User, error) {
	ph, err := s.store.GetPhone(ctx, p.ID, phoneID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrPhoneNotFound
	}
	if err != nil {
		return store.User{}, storeErr(err, "get phone")
	}
	if err := s.store.DeletePhone(ctx, p.ID, phoneID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, storeErr(err, "delete phone")
	}
	return s.GetUser(ctx, p, ph.UserID)
}

func applyName(u *store.User, n *Name) {
	if n == nil {
		return
	}
	if n.FirstName != nil {
		u.FirstName = *n.FirstName
	}
	if n.MiddleName != nil {
		u.MiddleName = *n.MiddleName
	}
	if n.LastName != nil {
		u.LastName = *n.LastName
	}
}

// Metadata limits (Stytch's).
const (
	maxMetadataKeys  = 20
	maxMetadataBytes = 4096
)

// mergeMetadata merges patch into old at the top level: a value replaces
// the key, null deletes it. An absent or null patch leaves old alone.
func mergeMetadata(old, patch json.RawMessage, field string) (json.RawMessage, error) {
	if len(old) == 0 {
		old = json.RawMessage(`{}`)
	}
	if len(bytes.TrimSpace(patch)) == 0 || bytes.Equal(bytes.TrimSpace(patch), []byte("null")) {
		return old, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, (&Error{Status: 400, Type: "metadata_invalid_format"}).With("%s must be a JSON object.", field)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(old, &m); err != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	for k, v := range p {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	if len(m) > maxMetadataKeys {
		return nil, ErrMetadataTooManyKeys.With("%s may have at most %d top-level keys.", field, maxMetadataKeys)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(out) > maxMetadataBytes {
		return nil, ErrMetadataTooLarge.With("%s must be at most 4KB.", field)
	}
	return out, nil
}

var externalIDPattern = regexp.MustCompile(`^[A-Za-z0-9._|-]{1,128}$`)

// validateExternalID refuses an external id that is not letters, digits
// and . _ - | (at most 128), or that has the form of a user id
// (user-test-…, user-live-…): the two id spaces never overlap, so a lookup
// by one can never reach a user through the other (store.IsUserID).
func validateExternalID(id string) error {
	if id != "" && !externalIDPattern.MatchString(id) {
		return ErrInvalidExternalID
	}
	if store.IsUserID(id) {
		return ErrInvalidExternalID.With("external_id may not have the form of a user_id (user-test-… or user-live-…).")
	}
	return nil
}

// userNotFound says which id space a lookup of id searched.
func userNotFound(id string) error {
	if store.IsUserID(id) {
		return ErrUserNotFound.With("No user has this user_id.")
	}
	return ErrUserNotFound.With("No user has this external_id (a value not of the form user-test-… or user-live-… is an external_id).")
}
