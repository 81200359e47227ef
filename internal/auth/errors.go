package auth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure the caller caused or may see: it carries Stytch's
// error_type and HTTP status (Stytch: https://stytch.com/docs/api/errors). Every other error is
// internal and answered 500 without detail.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Is makes errors.Is match on the error type alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type
}

// With returns a copy of e with a more specific message.
func (e *Error) With(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

func newErr(status int, typ, msg string) *Error {
	return &Error{Status: status, Type: typ, Message: msg}
}

// The catalogue. Statuses Stytch does not document are our best inference (CONTRACT-NOTES.md).
var (
	ErrUnauthorizedCredentials = newErr(http.StatusUnauthorized, "unauthorized_credentials", "Unauthorized credentials: check your project_id and secret.")
	ErrBadRequest              = newErr(http.StatusBadRequest, "bad_request", "The request could not be read.")
	ErrInvalidUserID           = newErr(http.StatusBadRequest, "invalid_user_id", "The user_id is not valid.")
	ErrUserNotFound            = newErr(http.StatusNotFound, "user_not_found", "User could not be found.")
	ErrEmailNotFound           = newErr(http.StatusNotFound, "email_not_found", "Email could not be found.")
	ErrPhoneNotFound           = newErr(http.StatusNotFound, "phone_number_not_found", "Phone number could not be found.")
	ErrEmailTemplateNotFound   = newErr(http.StatusNotFound, "email_template_not_found", "Email template could not be found.")
	ErrDuplicateEmail          = newErr(http.StatusBadRequest, "duplicate_email", "A user with this email already exists for this project.")
	ErrDuplicatePhone          = newErr(http.StatusBadRequest, "duplicate_phone_number", "A user with this phone number already exists for this project.")
	ErrDuplicateExternalID     = newErr(http.StatusBadRequest, "duplicate_user_external_id", "A user with this external_id already exists for this project.")
	ErrInvalidEmail            = newErr(http.StatusBadRequest, "invalid_email", "Email format is invalid.")
	ErrInvalidPhone            = newErr(http.StatusBadRequest, "invalid_phone_number", "Phone number format is invalid. Use E.164, e.g. +12025550123.")
	ErrInvalidPhoneCountry     = newErr(http.StatusBadRequest, "invalid_phone_number_country_code", "The phone number's country code is not supported.")
	ErrInvalidExternalID       = newErr(http.StatusBadRequest, "invalid_external_id", "external_id must be at most 128 characters of letters, digits and . _ - |.")
	ErrMetadataTooLarge        = newErr(http.StatusBadRequest, "metadata_too_large", "Metadata must be at most 4KB.")
	ErrMetadataTooManyKeys     = newErr(http.StatusBadRequest, "metadata_too_many_keys", "Metadata may have at most 20 top-level keys.")
	ErrInvalidExpiration       = newErr(http.StatusBadRequest, "invalid_expiration", "Expiration must be between 5 and 10080 minutes.")
	ErrInvalidExpirationOTP    = newErr(http.StatusBadRequest, "invalid_expiration_otp", "expiration_minutes must be between 1 and 10.")
	ErrInvalidLocale           = newErr(http.StatusBadRequest, "invalid_locale", "The locale is not supported.")
	ErrRedirectNotAllowed      = newErr(http.StatusBadRequest, "no_match_for_provided_magic_link_url", "The magic link URL is not in the project's redirect URL allow-list.")
	ErrNoLoginRedirect         = newErr(http.StatusBadRequest, "no_login_redirect_urls_set", "The project has no login redirect URL; add one or pass login_magic_link_url.")
	ErrNoSignupRedirect        = newErr(http.StatusBadRequest, "no_signup_redirect_urls_set", "The project has no signup redirect URL; add one or pass signup_magic_link_url.")
	ErrNoInviteRedirect        = newErr(http.StatusBadRequest, "no_invite_redirect_urls_set", "The project has no invite redirect URL; add one or pass invite_magic_link_url.")
	ErrMagicLinkNotFound       = newErr(http.StatusNotFound, "magic_link_not_found", "Magic link could not be found.")
	ErrUnableToAuthMagicLink   = newErr(http.StatusUnauthorized, "unable_to_auth_magic_link", "Magic link could not be authenticated: it was already used or has expired.")
	ErrAttributeMismatch       = newErr(http.StatusUnauthorized, "attribute_mismatch", "The IP address or user agent does not match the one the request was sent from.")
	ErrPKCEMismatch            = newErr(http.StatusBadRequest, "pkce_mismatch", "The code_verifier does not match the code_challenge.")
	ErrPKCEExpectedVerifier    = newErr(http.StatusBadRequest, "pkce_expected_code_verifier", "This magic link was sent with a code_challenge; a code_verifier is required.")
	ErrPKCEUnexpectedVerifier  = newErr(http.StatusBadRequest, "pkce_did_not_expect_code_verifier", "This magic link was sent without a code_challenge; do not send a code_verifier.")
	ErrOTPCodeNotFound         = newErr(http.StatusNotFound, "otp_code_not_found", "The passcode is incorrect.")
	ErrUnableToAuthOTP         = newErr(http.StatusUnauthorized, "unable_to_auth_otp_code", "The passcode could not be authenticated: it was already used, has expired, or was tried too many times.")
	ErrInvalidMethodID         = newErr(http.StatusBadRequest, "invalid_method_id", "The method_id is not valid.")
	ErrInvalidCode             = newErr(http.StatusBadRequest, "invalid_code", "The code must be 6 digits.")
	ErrTooManyUnverified       = newErr(http.StatusBadRequest, "too_many_unverified_factors", "The user has too many unverified factors.")
	ErrSessionNotFound         = newErr(http.StatusNotFound, "session_not_found", "Session could not be found.")
	ErrTooManySessionArgs      = newErr(http.StatusBadRequest, "too_many_session_arguments", "Pass either session_token or session_jwt, not both.")
	ErrNoSessionArgs           = newErr(http.StatusBadRequest, "no_session_arguments", "Pass a session_token or a session_jwt.")
	ErrTooManyRevokeArgs       = newErr(http.StatusBadRequest, "too_many_session_revoke_arguments", "Pass exactly one of session_id, session_token, session_jwt.")
	ErrNoRevokeArgs            = newErr(http.StatusBadRequest, "no_session_revoke_arguments", "Pass one of session_id, session_token, session_jwt.")
	ErrInvalidSessionDuration  = newErr(http.StatusBadRequest, "invalid_session_duration_minutes", "session_duration_minutes must be between 5 and 527040.")
	ErrUnableToParseJWT        = newErr(http.StatusBadRequest, "unable_to_parse_session_jwt", "The session_jwt could not be parsed.")
	ErrReservedClaims          = newErr(http.StatusBadRequest, "reserved_claims_in_custom_claims", "Custom claims may not use the reserved names iss, sub, aud, exp, nbf, iat, jti.")
	ErrStytchClaims            = newErr(http.StatusBadRequest, "stytch_claims_in_custom_claims", "Custom claims may not use names under https://stytch.com/.")
	ErrCustomClaimsTooLarge    = newErr(http.StatusBadRequest, "custom_claims_too_large", "Custom claims must be at most 4KB.")
	ErrSessionAuthorization    = newErr(http.StatusForbidden, "consumer_session_authorization_error", "The user is not authorized to perform the requested action on that resource.")
	ErrUserIDMismatch          = newErr(http.StatusBadRequest, "user_id_mismatch", "The factor belongs to another user than the session.")
	ErrUserLocked              = newErr(http.StatusTooManyRequests, "user_lock_limit_reached", "The user is locked after too many failed authentications. Try again later.")
	ErrTooManyRequests         = newErr(http.StatusTooManyRequests, "too_many_requests", "Too many requests. Try again later.")
	ErrServiceUnavailable      = newErr(http.StatusServiceUnavailable, "service_unavailable", "The database is unavailable. Try again shortly.")
	ErrInternal                = newErr(http.StatusInternalServerError, "internal_server_error", "Oops, something went wrong. Contact support with the request_id.")

	// Search errors.
	ErrSearchInvalidCursor   = newErr(http.StatusBadRequest, "user_search_invalid_cursor", "The cursor is not valid.")
	ErrSearchInvalidLimit    = newErr(http.StatusBadRequest, "user_search_invalid_limit", "limit must be between 1 and 1000.")
	ErrSearchInvalidOperator = newErr(http.StatusBadRequest, "user_search_invalid_operator", "operator must be AND or OR.")
	ErrSearchUnknownFilter   = newErr(http.StatusBadRequest, "user_search_filter_name_not_recognized", "The filter_name is not recognized.")
	ErrSearchMissingValue    = newErr(http.StatusBadRequest, "user_search_missing_filter_value", "The filter_value is missing.")
	ErrSearchExpectedStrings = newErr(http.StatusBadRequest, "user_search_expected_array_of_string", "The filter_value must be an array of strings.")
	ErrSearchExpectedBool    = newErr(http.StatusBadRequest, "user_search_expected_bool", "The filter_value must be a boolean.")
	ErrSearchExpectedTime    = newErr(http.StatusBadRequest, "user_search_expected_timestamp", "The filter_value must be an RFC 3339 timestamp.")
	ErrSearchFuzzyTooShort   = newErr(http.StatusBadRequest, "user_search_fuzzy_too_short", "Fuzzy search values must be at least 3 characters.")
	ErrSearchTooManyOperands = newErr(http.StatusBadRequest, "user_search_too_many_operands", "query.operands may hold at most 20 operands.")
	ErrSearchTooManyValues   = newErr(http.StatusBadRequest, "user_search_too_many_filter_values", "A filter_value list may hold at most 100 values.")
	ErrSearchBusy            = newErr(http.StatusTooManyRequests, "too_many_requests", "At most 2 searches of a project run at once on a node. Try again when one has finished.")
	ErrSearchTimeout         = newErr(http.StatusServiceUnavailable, "user_search_timeout", "The search did not finish within 5 seconds. Narrow the query: fewer operands, or longer fuzzy values.")
)

// ErrNoTransport is the refusal of a live project's send on a channel
// without a transport: 503 <channel>_delivery_not_configured. The operator,
// not the caller, can fix it (CONTRACT-NOTES.md, "Fail closed").
func ErrNoTransport(channel string) *Error {
	how := "Twilio (--twilio-account-sid and --twilio-from)"
	switch channel {
	case "email":
		how = "SMTP (--smtp)"
	case "whatsapp":
		how = "Twilio (--twilio-account-sid and --twilio-whatsapp-from)"
	}
	return newErr(http.StatusServiceUnavailable, channel+"_delivery_not_configured",
		fmt.Sprintf("This live project cannot send %s: the server has no %s configured. Nothing was sent.", channel, how))
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ErrProjectNotFound answers the JWKS of an unknown project (open question
// 12): 404, since the route takes no credentials to be wrong.
var ErrProjectNotFound = newErr(http.StatusNotFound, "project_not_found", "Project could not be found.")
