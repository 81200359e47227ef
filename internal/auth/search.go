package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latch-auth/latch/internal/store"
)

// SearchRequest is POST /v1/users/search.
type SearchRequest struct {
	Limit  *int         `json:"limit"`
	Cursor string       `json:"cursor"`
	Query  *SearchQuery `json:"query"`
}

// SearchQuery is the query object of a search.
type SearchQuery struct {
	Operator string          `json:"operator"`
	Operands []SearchOperand `json:"operands"`
}

// SearchOperand is one filter; FilterValue's type depends on FilterName.
type SearchOperand struct {
	FilterName  string          `json:"filter_name"`
	FilterValue json.RawMessage `json:"filter_value"`
}

// SearchResult is one page of users.
type SearchResult struct {
	Users      []store.User
	Total      int
	NextCursor string // "" when this is the last page
}

// Search limits (Stytch: https://stytch.com/docs/api/search-users).
const (
	DefaultSearchLimit = 100
	MaxSearchLimit     = 1000
)

var searchFilterKinds = map[string]string{
	"created_at_greater_than": "time", "created_at_less_than": "time", "created_at_between": "between",
	"status":  "status",
	"user_id": "strings", "email_address": "strings", "email_id": "strings", "phone_number": "strings",
	"phone_id": "strings", "oauth_provider": "strings", "webauthn_registration_id": "strings",
	"crypto_wallet_id": "strings", "crypto_wallet_address": "strings", "totp_id": "strings",
	"email_verified": "bool", "phone_verified": "bool", "webauthn_registration_verified": "bool",
	"crypto_wallet_verified": "bool", "totp_verified": "bool", "password_exists": "bool",
	"full_name_fuzzy": "fuzzy", "email_address_fuzzy": "fuzzy", "phone_number_fuzzy": "fuzzy",
}

// SearchUsers runs a user search with cursor paging. Results are in order
// of creation; the cursor is opaque to callers.
func (s *Service) SearchUsers(ctx context.Context, p store.Project, r SearchRequest) (SearchResult, error) {
	limit := DefaultSearchLimit
	if r.Limit != nil {
		limit = *r.Limit
		if limit == 0 {
			limit = DefaultSearchLimit
		}
		if limit < 1 || limit > MaxSearchLimit {
			return SearchResult{}, ErrSearchInvalidLimit
		}
	}
	page := store.Page{Limit: limit + 1}
	if r.Cursor != "" {
		t, id, ok := decodeCursor(r.Cursor)
		if !ok {
			return SearchResult{}, ErrSearchInvalidCursor
		}
		page.AfterCreatedAt, page.AfterID = t, id
	}
	q, err := parseSearchQuery(r.Query)
	if err != nil {
		return SearchResult{}, err
	}
	users, total, err := s.store.SearchUsers(ctx, p.ID, q, page)
	if err != nil {
		return SearchResult{}, storeErr(err, "search users")
	}
	res := SearchResult{Users: users, Total: total}
	if len(users) > limit {
		res.Users = users[:limit]
		last := res.Users[limit-1]
		res.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	for i := range res.Users {
		res.Users[i] = s.withLockState(res.Users[i])
	}
	return res, nil
}

func parseSearchQuery(sq *SearchQuery) (store.UserQuery, error) {
	q := store.UserQuery{Operator: "AND"}
	if sq == nil {
		return q, nil
	}
	switch strings.ToUpper(sq.Operator) {
	case "AND":
	case "OR":
		q.Operator = "OR"
	default:
		return q, ErrSearchInvalidOperator
	}
	for _, op := range sq.Operands {
		kind, ok := searchFilterKinds[op.FilterName]
		if !ok {
			return q, ErrSearchUnknownFilter.With("filter_name %q is not recognized.", op.FilterName)
		}
		v := op.FilterValue
		if len(v) == 0 || string(v) == "null" {
			return q, ErrSearchMissingValue.With("filter_value is missing for %s.", op.FilterName)
		}
		f := store.UserFilter{Name: op.FilterName}
		switch kind {
		case "time":
			t, err := parseTimeValue(v)
			if err != nil {
				return q, err
			}
			if op.FilterName == "created_at_greater_than" {
				f.After = &t
			} else {
				f.Before = &t
			}
		case "between":
			var b struct {
				GreaterThan json.RawMessage `json:"greater_than"`
				LessThan    json.RawMessage `json:"less_than"`
			}
			if err := json.Unmarshal(v, &b); err != nil {
				return q, ErrSearchExpectedTime
			}
			ga, err := parseTimeValue(b.GreaterThan)
			if err != nil {
				return q, err
			}
			lb, err := parseTimeValue(b.LessThan)
			if err != nil {
				return q, err
			}
			f.After, f.Before = &ga, &lb
		case "status":
			var st string
			if err := json.Unmarshal(v, &st); err != nil || (st != store.UserActive && st != store.UserPending) {
				return q, (&Error{Status: 400, Type: "user_search_invalid_status"}).With("status must be active or pending.")
			}
			f.Strings = []string{st}
		case "strings":
			var err error
			if err = json.Unmarshal(v, &f.Strings); err != nil {
				return q, ErrSearchExpectedStrings.With("filter_value of %s must be an array of strings.", op.FilterName)
			}
			// Addresses and numbers are found in their canonical form, so
			// every spelling finds the same user; one that no route would
			// take is refused as those routes refuse it, not searched for.
			if op.FilterName == "email_address" {
				for i := range f.Strings {
					if f.Strings[i], err = NormalizeEmail(f.Strings[i]); err != nil {
						return q, err
					}
				}
			}
			if op.FilterName == "phone_number" {
				for i := range f.Strings {
					if f.Strings[i], err = NormalizePhone(f.Strings[i]); err != nil {
						return q, err
					}
				}
			}
		case "bool":
			if err := json.Unmarshal(v, &f.Bool); err != nil {
				return q, ErrSearchExpectedBool.With("filter_value of %s must be a boolean.", op.FilterName)
			}
		case "fuzzy":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return q, ErrBadRequest.With("filter_value of %s must be a string.", op.FilterName)
			}
			if len([]rune(strings.TrimSpace(s))) < 3 {
				name := strings.TrimSuffix(op.FilterName, "_fuzzy")
				return q, (&Error{Status: 400, Type: "user_search_" + name + "_fuzzy_too_short"}).With("%s must be at least 3 characters.", op.FilterName)
			}
			f.Strings = []string{strings.TrimSpace(s)}
		}
		q.Filters = append(q.Filters, f)
	}
	return q, nil
}

func parseTimeValue(v json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return time.Time{}, ErrSearchExpectedTime
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, ErrSearchExpectedTime
	}
	return t.UTC(), nil
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMilli(), 10) + "|" + id))
}

// decodeCursor reads a cursor that encodeCursor made. What base64 decodes
// to gets the checks the JSON layer gives every string: valid UTF-8 and no
// NUL (PostgreSQL text holds neither); the id must be a user id.
func decodeCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return time.Time{}, "", false
	}
	ms, id, ok := strings.Cut(string(b), "|")
	if !ok || !store.IsUserID(id) {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n).UTC(), id, true
}
