package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

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

// Search limits: the page size of Stytch's search
// (https://stytch.com/docs/api/search-users), and Latch's own bounds
// on the cost of one search (CONTRACT-NOTES.md, "Search cost"). Each is
// checked before any query runs and refused with a 400 naming it, the same
// on every backend.
const (
	DefaultSearchLimit = 100
	MaxSearchLimit     = 1000

	MaxSearchOperands     = 20  // operands of one query
	MaxSearchFilterValues = 100 // values of one filter_value list
	MaxFuzzyLength        = 100 // characters of one fuzzy value

	// SearchesPerProject is how many searches of one project run at once on
	// a node; one more is refused with 429 at once, so that one tenant's
	// searches never hold more than that many of the database connections.
	SearchesPerProject = 2
	// DefaultSearchTimeout bounds one search's queries.
	DefaultSearchTimeout = 5 * time.Second
)

// searchGate counts the searches in flight per project.
type searchGate struct {
	mu       sync.Mutex
	inFlight map[string]int
}

// enter takes a slot for the project, or reports false when it has
// SearchesPerProject searches running already.
func (g *searchGate) enter(projectID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight == nil {
		g.inFlight = map[string]int{}
	}
	if g.inFlight[projectID] >= SearchesPerProject {
		return false
	}
	g.inFlight[projectID]++
	return true
}

func (g *searchGate) leave(projectID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight[projectID]--; g.inFlight[projectID] <= 0 {
		delete(g.inFlight, projectID)
	}
}

var searchFilterKinds = map[string]string{
	store.FilterCreatedAtGreaterThan: "time", store.FilterCreatedAtLessThan: "time", store.FilterCreatedAtBetween: "between",
	store.FilterStatus: "status",
	store.FilterUserId: "strings", store.FilterEmailAddress: "strings", store.FilterEmailId: "strings", store.FilterPhoneNumber: "strings",
	store.FilterPhoneId: "strings", store.FilterOauthProvider: "strings", store.FilterWebauthnRegistrationId: "strings",
	store.FilterCryptoWalletId: "strings", store.FilterCryptoWalletAddress: "strings", store.FilterTotpId: "strings",
	store.FilterEmailVerified: "bool", store.FilterPhoneVerified: "bool", store.FilterWebauthnRegistrationVerified: "bool",
	store.FilterCryptoWalletVerified: "bool", store.FilterTotpVerified: "bool", store.FilterPasswordExists: "bool",
	store.FilterFullNameFuzzy: "fuzzy", store.FilterEmailAddressFuzzy: "fuzzy", store.FilterPhoneNumberFuzzy: "fuzzy",
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
	if !s.searches.enter(p.ID) {
		return SearchResult{}, ErrSearchBusy
	}
	sctx, cancel := context.WithTimeout(ctx, s.searchTimeout)
	users, total, err := s.store.SearchUsers(sctx, p.ID, q, page)
	timedOut := sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil
	cancel()
	s.searches.leave(p.ID)
	if err != nil {
		if timedOut {
			return SearchResult{}, fmt.Errorf("%w (search users: %v)", ErrSearchTimeout.With("The search did not finish within %s. Narrow the query: fewer operands, or longer fuzzy values.", s.searchTimeout), err)
		}
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
	if len(sq.Operands) > MaxSearchOperands {
		return q, ErrSearchTooManyOperands.With("query.operands may hold at most %d operands; it holds %d.", MaxSearchOperands, len(sq.Operands))
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
			if op.FilterName == store.FilterCreatedAtGreaterThan {
				f.After = &t
			} else {
				f.Before = &t
			}
		case "between":
			var b struct {
				GreaterThan jsontext.Value `json:"greater_than"`
				LessThan    jsontext.Value `json:"less_than"`
			}
			if err := decodeExact(v, &b); err != nil {
				return q, ErrSearchExpectedTime
			}
			ga, err := parseTimeValue(json.RawMessage(b.GreaterThan))
			if err != nil {
				return q, err
			}
			lb, err := parseTimeValue(json.RawMessage(b.LessThan))
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
			if len(f.Strings) > MaxSearchFilterValues {
				return q, ErrSearchTooManyValues.With("filter_value of %s may hold at most %d values; it holds %d.", op.FilterName, MaxSearchFilterValues, len(f.Strings))
			}
			// Addresses and numbers are found in their canonical form, so
			// every spelling finds the same user; one that no route would
			// take is refused as those routes refuse it, not searched for.
			if op.FilterName == store.FilterEmailAddress {
				for i := range f.Strings {
					if f.Strings[i], err = NormalizeEmail(f.Strings[i]); err != nil {
						return q, err
					}
				}
			}
			if op.FilterName == store.FilterPhoneNumber {
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
			name := strings.TrimSuffix(op.FilterName, "_fuzzy")
			if n := utf8.RuneCountInString(strings.TrimSpace(s)); n < 3 {
				return q, (&Error{Status: 400, Type: "user_search_" + name + "_fuzzy_too_short"}).With("%s must be at least 3 characters.", op.FilterName)
			} else if n > MaxFuzzyLength {
				return q, (&Error{Status: 400, Type: "user_search_" + name + "_fuzzy_too_long"}).With("%s may be at most %d characters; it is %d.", op.FilterName, MaxFuzzyLength, n)
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
