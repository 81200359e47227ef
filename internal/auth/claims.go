package auth

import (
	"bytes"
	"encoding/json"
	"errors"

	jsonv2 "github.com/go-json-experiment/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// mergeClaims merges a custom-claims patch: a value sets the key, null
// deletes it, and nested objects merge the same way (Stytch: https://stytch.com/docs/api/session-auth, session_custom_claims).
//
// Reserved names (iss sub aud exp nbf iat jti, and anything under
// https://stytch.com/) are refused with 400, not silently dropped (open
// question 3). Stytch's custom-claims guide calls them an error while the
// SDK's docstrings say "ignored"; refusing tells a caller who sets "sub"
// expecting it to stick, instead of surprising them later, and an app that
// never sends reserved names (the only kind that works on both readings)
// is unaffected. See CONTRACT-NOTES.md.
func mergeClaims(old, patch json.RawMessage) (json.RawMessage, error) {
	if len(old) == 0 {
		old = json.RawMessage(`{}`)
	}
	if !hasValue(patch) {
		return old, nil
	}
	var p map[string]any
	if err := decodeNumbers(patch, &p); err != nil || p == nil {
		return nil, ErrBadRequest.With("session_custom_claims must be a JSON object.")
	}
	for k := range p {
		if err := reservedClaim(k); err != nil {
			return nil, err
		}
	}
	var m map[string]any
	if err := decodeNumbers(old, &m); err != nil || m == nil {
		m = map[string]any{}
	}
	mergeInto(m, p)
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(out) > maxCustomClaimBytes {
		return nil, ErrCustomClaimsTooLarge
	}
	return out, nil
}

// hasValue reports whether an optional JSON field of a request was given a
// value: absent and null are none (session_custom_claims,
// authorization_check).
func hasValue(patch json.RawMessage) bool {
	p := bytes.TrimSpace(patch)
	return len(p) > 0 && !bytes.Equal(p, []byte("null"))
}

// reservedClaim refuses a custom claim's name that a verifier could take
// for a registered claim or Stytch's. Names are compared under Unicode case
// folding (as EqualFold and encoding/json do): a JSON decoder that maps
// claims to fields by name, as Go SDKs do, would take "ſub" or "EXP" for
// sub or exp.
func reservedClaim(k string) *Error {
	switch {
	case slices.ContainsFunc([]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}, func(r string) bool { return strings.EqualFold(k, r) }):
		return ErrReservedClaims.With("session_custom_claims may not set the reserved claim %q.", k)
	case hasPrefixFold(k, "https://stytch.com/"):
		return ErrStytchClaims.With("session_custom_claims may not set %q.", k)
	}
	return nil
}

// VisibleClaims are a session's stored custom claims as answers and JWTs
// carry them: without any reserved name. mergeClaims refuses those, but a
// session whose claims were stored before it did (they may live a year)
// could hold one, and a verifier decoding by name would take it for the
// real claim. Claims holding none come back as they are, byte for byte.
func VisibleClaims(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "{}" {
		return raw // most sessions: no claims at all
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return json.RawMessage(`{}`)
	}
	dropped := false
	for k := range m {
		if reservedClaim(k) != nil {
			delete(m, k)
			dropped = true
		}
	}
	if !dropped {
		return raw
	}
	out, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

// decodeNumbers is json.Unmarshal keeping numbers as their text
// (json.Number), so that claims keep every digit they were sent with.
func decodeNumbers(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// decodeExact decodes a value nested in a request (a search filter's
// value, an authorization_check) as strictly as the request itself
// (internal/api): member names match exactly, none twice.
func decodeExact(data []byte, v any) error { return jsonv2.Unmarshal(data, v) }

// hasPrefixFold is strings.HasPrefix under Unicode case folding.
func hasPrefixFold(s, prefix string) bool {
	r, n := []rune(s), utf8.RuneCountInString(prefix)
	return len(r) >= n && strings.EqualFold(string(r[:n]), prefix)
}

func mergeInto(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeInto(dv, pv)
				continue
			}
			clean := map[string]any{}
			mergeInto(clean, pv)
			dst[k] = clean
			continue
		}
		dst[k] = v
	}
}
