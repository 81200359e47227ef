package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

func TestSearchPagesThroughEveryUserWithTheCursor(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "paging")
		other := l.NewProject(t, "paging-other")
		fndCreateUser(t, other, map[string]any{"email": fndEmail("not-mine")})

		const n = 250
		want := make([]string, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 8)
		for i := 0; i < n; i++ {
			if i%100 == 99 {
				// Different created_at seconds as well as ties inside one.
				wg.Wait()
				l.Clock.Advance(time.Second)
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				r := p.Do(t, http.MethodPost, "/v1/users", map[string]any{"email": fmt.Sprintf("page-%03d@example.com", i)})
				if r.Status != 200 {
					errs <- fmt.Errorf("create %d: %s", i, r.Raw)
					return
				}
				want[i] = r.Str("user_id")
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		var got []string
		var sizes []int
		cursor := ""
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatalf("paging does not end: %v", sizes)
			}
			body := map[string]any{"limit": 100}
			if cursor != "" {
				body["cursor"] = cursor
			}
			r := fndSearch(t, p, body)
			if fndTotal(t, r) != n {
				t.Fatalf("total on page %d = %d, want %d", page, fndTotal(t, r), n)
			}
			ids := fndIDs(t, r)
			sizes = append(sizes, len(ids))
			got = append(got, ids...)
			for _, u := range r.Get("results").([]any) {
				fndCheckUser(t, u)
			}
			next, present := r.Body["results_metadata"].(map[string]any)["next_cursor"]
			if !present {
				t.Fatalf("next_cursor must be present, null at the end: %s", r.Raw)
			}
			if next == nil {
				break
			}
			cursor = next.(string)
			if cursor == "" {
				t.Fatalf("next_cursor is \"\"; the end is null: %s", r.Raw)
			}
		}
		if fmt.Sprint(sizes) != "[100 100 50]" {
			t.Fatalf("page sizes %v, want [100 100 50]", sizes)
		}
		fndSameSet(t, "all pages", got, want)

		// Without a limit a page holds 100; limit 0 means the default too.
		for _, body := range []map[string]any{{}, {"limit": 0}} {
			r := fndSearch(t, p, body)
			if len(fndIDs(t, r)) != 100 || r.Get("results_metadata.next_cursor") == nil {
				t.Fatalf("%v: default page: %d results", body, len(fndIDs(t, r)))
			}
		}
		r := fndSearch(t, p, map[string]any{"limit": 1000})
		if len(fndIDs(t, r)) != n || r.Get("results_metadata.next_cursor") != nil {
			t.Fatalf("limit 1000 holds every user, and ends: %d", len(fndIDs(t, r)))
		}
		r = fndSearch(t, p, map[string]any{"limit": 1})
		if len(fndIDs(t, r)) != 1 {
			t.Fatalf("limit 1: %s", r.Raw)
		}
		for _, bad := range []int{1001, -1, 100000} {
			p.Fail(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": bad}, 400, "user_search_invalid_limit")
		}
		for _, bad := range []string{"not a cursor!", "bm90LWEtY3Vyc29y", "MTIzNA", "eHx1c2VyLTE"} {
			p.Fail(t, http.MethodPost, "/v1/users/search", map[string]any{"cursor": bad}, 400, "user_search_invalid_cursor")
		}
	})
}

// fndVerifyEmail logs the user in with an email passcode, which verifies
// the address.
func fndVerifyEmail(t *testing.T, l *latchtest.Latch, p latchtest.Project, email string) {
	t.Helper()
	s := p.OK(t, http.MethodPost, "/v1/otps/email/login_or_create", map[string]any{"email": email})
	code := latchtest.Code(t, l.Mail.WaitFor(t, email, 1).Text)
	p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": s.Str("email_id"), "code": code})
}

// fndVerifyPhone does the same over SMS.
func fndVerifyPhone(t *testing.T, l *latchtest.Latch, p latchtest.Project, phone string) {
	t.Helper()
	s := p.OK(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": phone})
	code := latchtest.Code(t, l.SMS.WaitFor(t, phone, 1).Body)
	p.OK(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": s.Str("phone_id"), "code": code})
}

func TestSearchFiltersFindExactlyTheMatchingUsers(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "filters")
		t0 := l.Clock.Now()
		ada := fndCreateUser(t, p, map[string]any{"email": "ada@example.com", "phone_number": "+14155552671",
			"name": map[string]any{"first_name": "Ada", "last_name": "Lovelace"}})
		fndVerifyEmail(t, l, p, "ada@example.com")
		fndVerifyPhone(t, l, p, "+14155552671")
		l.Clock.Advance(time.Hour)
		grace := fndCreateUser(t, p, map[string]any{"email": "grace@example.org", "phone_number": "+442079460958",
			"name": map[string]any{"first_name": "Grace", "middle_name": "Brewster", "last_name": "Hopper"}, "create_user_as_pending": true})
		l.Clock.Advance(time.Hour)
		alan := fndCreateUser(t, p, map[string]any{"email": "alan@example.net", "name": map[string]any{"first_name": "Alan", "last_name": "Turing"}})
		// Another project's users never show up.
		other := l.NewProject(t, "filters-other")
		fndCreateUser(t, other, map[string]any{"email": "ada@example.com", "phone_number": "+14155552671", "name": map[string]any{"first_name": "Ada"}})

		A, G, T := ada.Str("user_id"), grace.Str("user_id"), alan.Str("user_id")
		at := func(d time.Duration) string { return t0.Add(d).UTC().Format(time.RFC3339) }
		cases := []struct {
			name string
			body map[string]any
			want []string
		}{
			{"no query", map[string]any{}, []string{A, G, T}},
			{"no operands", fndQuery("AND"), []string{A, G, T}},
			{"created_at_greater_than", fndQuery("AND", "created_at_greater_than", at(30*time.Minute)), []string{G, T}},
			{"created_at_less_than", fndQuery("AND", "created_at_less_than", at(90*time.Minute)), []string{A, G}},
			{"created_at_between", fndQuery("AND", "created_at_between", map[string]any{"greater_than": at(30 * time.Minute), "less_than": at(90 * time.Minute)}), []string{G}},
			{"status pending", fndQuery("AND", "status", "pending"), []string{G}},
			{"status active", fndQuery("AND", "status", "active"), []string{A, T}},
			{"user_id", fndQuery("AND", "user_id", []any{A, T, "user-test-unknown"}), []string{A, T}},
			{"email_address any case", fndQuery("AND", "email_address", []any{"GRACE@Example.ORG"}), []string{G}},
			{"email_id", fndQuery("AND", "email_id", []any{alan.Str("email_id")}), []string{T}},
			{"phone_number", fndQuery("AND", "phone_number", []any{"+442079460958"}), []string{G}},
			{"phone_number as written at create", fndQuery("AND", "phone_number", []any{"+44 20 7946 0958", "+1 (415) 555-2671"}), []string{A, G}},
			{"phone_id", fndQuery("AND", "phone_id", []any{ada.Str("phone_id")}), []string{A}},
			{"email_verified true", fndQuery("AND", "email_verified", true), []string{A}},
			{"email_verified false", fndQuery("AND", "email_verified", false), []string{G, T}},
			{"phone_verified true", fndQuery("AND", "phone_verified", true), []string{A}},
			{"phone_verified false", fndQuery("AND", "phone_verified", false), []string{G}},
			{"full_name_fuzzy part of a last name", fndQuery("AND", "full_name_fuzzy", "lovel"), []string{A}},
			{"full_name_fuzzy first and last", fndQuery("AND", "full_name_fuzzy", "GRACE HOP"), []string{G}},
			{"full_name_fuzzy with middle name", fndQuery("AND", "full_name_fuzzy", "grace brewster hopper"), []string{G}},
			{"full_name_fuzzy wildcards are literal", fndQuery("AND", "full_name_fuzzy", "%%%"), []string{}},
			{"email_address_fuzzy", fndQuery("AND", "email_address_fuzzy", "example.org"), []string{G}},
			{"email_address_fuzzy underscore is literal", fndQuery("AND", "email_address_fuzzy", "a_a"), []string{}},
			{"phone_number_fuzzy", fndQuery("AND", "phone_number_fuzzy", "5552671"), []string{A}},
			{"oauth_provider", fndQuery("AND", "oauth_provider", []any{"google"}), []string{}},
			{"webauthn_registration_id", fndQuery("AND", "webauthn_registration_id", []any{"x"}), []string{}},
			{"crypto_wallet_id", fndQuery("AND", "crypto_wallet_id", []any{"x"}), []string{}},
			{"crypto_wallet_address", fndQuery("AND", "crypto_wallet_address", []any{"0xabc"}), []string{}},
			{"totp_id", fndQuery("AND", "totp_id", []any{"x"}), []string{}},
			{"password_exists false", fndQuery("AND", "password_exists", false), []string{A, G, T}},
			{"password_exists true", fndQuery("AND", "password_exists", true), []string{}},
			{"webauthn_registration_verified true", fndQuery("AND", "webauthn_registration_verified", true), []string{}},
			{"crypto_wallet_verified false", fndQuery("AND", "crypto_wallet_verified", false), []string{A, G, T}},
			{"totp_verified true", fndQuery("AND", "totp_verified", true), []string{}},
			{"AND narrows", fndQuery("AND", "email_verified", false, "status", "active"), []string{T}},
			{"OR widens", fndQuery("OR", "status", "pending", "email_address", []any{"ada@example.com"}), []string{A, G}},
			{"operator in lower case", fndQuery("or", "user_id", []any{A}, "user_id", []any{T}), []string{A, T}},
			{"empty array matches nobody", fndQuery("AND", "user_id", []any{}), []string{}},
		}
		for _, c := range cases {
			r := fndSearch(t, p, c.body)
			fndSameSet(t, c.name, fndIDs(t, r), c.want)
			if fndTotal(t, r) != len(c.want) {
				t.Fatalf("%s: total %d, want %d", c.name, fndTotal(t, r), len(c.want))
			}
		}
	})
}

func TestSearchRefusesMalformedQueriesWithTheirErrorType(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "bad-search")
		fndCreateUser(t, p, map[string]any{"email": fndEmail("s")})
		cases := []struct {
			body      any
			errorType string
		}{
			{fndQuery("XOR", "status", "active"), "user_search_invalid_operator"},
			{map[string]any{"query": map[string]any{"operands": []any{}}}, "user_search_invalid_operator"},
			{fndQuery("AND", "favourite_colour", []any{"red"}), "user_search_filter_name_not_recognized"},
			{fndQuery("AND", "", []any{"red"}), "user_search_filter_name_not_recognized"},
			{fndQuery("AND", "user_id", nil), "user_search_missing_filter_value"},
			{map[string]any{"query": map[string]any{"operator": "AND", "operands": []any{map[string]any{"filter_name": "status"}}}}, "user_search_missing_filter_value"},
			{fndQuery("AND", "email_address", "ada@example.com"), "user_search_expected_array_of_string"},
			{fndQuery("AND", "user_id", []any{1, 2}), "user_search_expected_array_of_string"},
			{fndQuery("AND", "email_verified", "yes"), "user_search_expected_bool"},
			{fndQuery("AND", "password_exists", []any{true}), "user_search_expected_bool"},
			{fndQuery("AND", "created_at_greater_than", "yesterday"), "user_search_expected_timestamp"},
			{fndQuery("AND", "created_at_less_than", 1700000000), "user_search_expected_timestamp"},
			{fndQuery("AND", "created_at_between", map[string]any{"greater_than": "2024-01-01T00:00:00Z", "less_than": 5}), "user_search_expected_timestamp"},
			{fndQuery("AND", "created_at_between", "2024-01-01T00:00:00Z"), "user_search_expected_timestamp"},
			{fndQuery("AND", "full_name_fuzzy", "ad"), "user_search_full_name_fuzzy_too_short"},
			{fndQuery("AND", "email_address_fuzzy", " a "), "user_search_email_address_fuzzy_too_short"},
			{fndQuery("AND", "phone_number_fuzzy", "12"), "user_search_phone_number_fuzzy_too_short"},
			{fndQuery("AND", "full_name_fuzzy", 123), "bad_request"},
			// Not in Stytch's list; the code's own type for a status
			// other than active or pending.
			{fndQuery("AND", "status", "deleted"), "user_search_invalid_status"},
			{map[string]any{"limit": "ten"}, "bad_request"},
			{map[string]any{"query": map[string]any{"operator": "AND", "operands": "all"}}, "bad_request"},
		}
		for _, c := range cases {
			p.Fail(t, http.MethodPost, "/v1/users/search", c.body, 400, c.errorType)
		}
		r := p.Fail(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": "ten"}, 400, "bad_request")
		fndMessageNames(t, r, "limit")
	})
}

// TestSearchCostIsBoundedWithA400NamingEachLimit: operands, filter_value
// lists and fuzzy values have limits, checked before any query, each a 400
// whose message names the limit, the same on both backends; a search at
// every limit at once still answers 200.
func TestSearchCostIsBoundedWithA400NamingEachLimit(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "bounded-search")
		fndCreateUser(t, p, map[string]any{"email": fndEmail("bounded"), "name": map[string]any{"first_name": "Ada"}})

		operands := func(n int, name string, value any) map[string]any {
			ops := make([]any, n)
			for i := range ops {
				ops[i] = map[string]any{"filter_name": name, "filter_value": value}
			}
			return map[string]any{"query": map[string]any{"operator": "OR", "operands": ops}}
		}
		ids := func(n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprint(i)
			}
			return out
		}
		fuzzy := func(n int) string { return strings.Repeat("a", n) }

		for _, c := range []struct {
			name      string
			body      map[string]any
			errorType string
			limit     string
		}{
			{"21 operands", operands(21, "full_name_fuzzy", "ada"), "user_search_too_many_operands", "20"},
			{"1,000 operands", operands(1000, "full_name_fuzzy", "ada"), "user_search_too_many_operands", "20"},
			{"101 ids", fndQuery("AND", "user_id", ids(101)), "user_search_too_many_filter_values", "100"},
			{"32,766 ids", fndQuery("AND", "user_id", ids(32766)), "user_search_too_many_filter_values", "100"},
			{"70,000 emails", fndQuery("AND", "email_address", ids(70000)), "user_search_too_many_filter_values", "100"},
			{"101-character name", fndQuery("AND", "full_name_fuzzy", fuzzy(101)), "user_search_full_name_fuzzy_too_long", "100"},
			{"49,999-character email", fndQuery("AND", "email_address_fuzzy", fuzzy(49999)), "user_search_email_address_fuzzy_too_long", "100"},
			{"49,999-character number", fndQuery("AND", "phone_number_fuzzy", fuzzy(49999)), "user_search_phone_number_fuzzy_too_long", "100"},
		} {
			r := p.Do(t, http.MethodPost, "/v1/users/search", c.body)
			if r.Status != http.StatusBadRequest || r.ErrorType() != c.errorType {
				t.Errorf("%s: want 400 %s, got %d: %.300s", c.name, c.errorType, r.Status, r.Raw)
				continue
			}
			fndMessageNames(t, r, c.limit)
		}

		// Every limit reached at once is legal.
		ops := []any{map[string]any{"filter_name": "user_id", "filter_value": ids(100)}}
		for len(ops) < 20 {
			ops = append(ops, map[string]any{"filter_name": "full_name_fuzzy", "filter_value": "ad" + fuzzy(98)})
		}
		fndSearch(t, p, map[string]any{"query": map[string]any{"operator": "OR", "operands": ops}})
	})
}

// TestASearchThatRunsOutOfTimeSaysSo: a search past its time answers 503
// user_search_timeout, saying the search did not finish, not that the
// database is unavailable.
func TestASearchThatRunsOutOfTimeSaysSo(t *testing.T) {
	for _, b := range latchtest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			l := latchtest.Start(t, latchtest.Options{Backend: b, SearchTimeout: time.Nanosecond})
			p := l.NewProject(t, "slow-search")
			r := p.Do(t, http.MethodPost, "/v1/users/search", fndQuery("OR", "full_name_fuzzy", "ada"))
			if r.Status != http.StatusServiceUnavailable || r.ErrorType() != "user_search_timeout" {
				t.Fatalf("want 503 user_search_timeout, got %d: %s", r.Status, r.Raw)
			}
			fndMessageNames(t, r, "search did not finish", "1ns")
			// Other calls are not affected.
			p.OK(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("after-timeout")})
		})
	}
}
