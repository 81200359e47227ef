package auth

import (
	"bytes"
	"encoding/json"
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
	if len(bytes.TrimSpace(patch)) == 0 || bytes.Equal(bytes.TrimSpace(patch), []byte("null")) {
		return old, nil
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, ErrBadRequest.With("session_custom_claims must be a JSON object.")
	}
	for k := range p {
		// Names are compared under Unicode case folding (as EqualFold and
		// encoding/json do): a JSON decoder that maps claims to fields by
		// name, as Go SDKs do, would take "ſub" or "EXP" for sub or exp.
		switch {
		case slices.ContainsFunc([]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}, func(r string) bool { return strings.EqualFold(k, r) }):
			return nil, ErrReservedClaims.With("session_custom_claims may not set the reserved claim %q.", k)
		case hasPrefixFold(k, "https://stytch.com/"):
			return nil, ErrStytchClaims.With("session_custom_claims may not set %q.", k)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(old, &m); err != nil || m == nil {
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
