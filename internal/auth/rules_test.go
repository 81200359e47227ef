package auth

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// Small table tests of the pure rules; the end-to-end tests in internal/api
// hold the same rules through HTTP.

func TestSessionDurationsAreFiveMinutesToAYear(t *testing.T) {
	for _, c := range []struct {
		minutes *int
		ok      bool
	}{{nil, true}, {ptr(5), true}, {ptr(527040), true}, {ptr(4), false}, {ptr(527041), false}, {ptr(0), false}, {ptr(-5), false}} {
		if err := checkDuration(c.minutes); (err == nil) != c.ok {
			t.Errorf("checkDuration(%v) = %v, want ok %v", deref(c.minutes), err, c.ok)
		}
	}
}

func TestCustomClaimsMergeSetsDeletesAndRefusesReservedNames(t *testing.T) {
	for _, c := range []struct{ old, patch, want string }{
		{``, `{"a":1}`, `{"a":1}`},
		{`{"a":1}`, `null`, `{"a":1}`},
		{`{"a":1}`, ``, `{"a":1}`},
		{`{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		{`{"o":{"x":1,"y":2}}`, `{"o":{"y":null,"z":3}}`, `{"o":{"x":1,"z":3}}`},
		{`{"o":1}`, `{"o":{"k":null,"v":2}}`, `{"o":{"v":2}}`},
	} {
		got, err := mergeClaims(json.RawMessage(c.old), json.RawMessage(c.patch))
		if err != nil || string(got) != c.want {
			t.Errorf("mergeClaims(%s, %s) = %s, %v; want %s", c.old, c.patch, got, err, c.want)
		}
	}
	for _, c := range []struct {
		patch string
		want  *Error
	}{
		{`{"sub":"x"}`, ErrReservedClaims},
		{`{"EXP":1}`, ErrReservedClaims},
		{`{"ſub":"x"}`, ErrReservedClaims}, // ſ folds to s
		{`{"https://stytch.com/session":{}}`, ErrStytchClaims},
		{`{"HTTPS://STYTCH.COM/x":1}`, ErrStytchClaims},
		{`[1]`, ErrBadRequest},
		{`{"big":"` + strings.Repeat("x", maxCustomClaimBytes) + `"}`, ErrCustomClaimsTooLarge},
	} {
		_, err := mergeClaims(nil, json.RawMessage(c.patch))
		if e, ok := AsError(err); !ok || e.Type != c.want.Type {
			t.Errorf("mergeClaims(%.40s) = %v, want %s", c.patch, err, c.want.Type)
		}
	}
}

func TestSessionRolesStartWithStytchUserOnce(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, []string{"stytch_user"}},
		{[]string{"admin"}, []string{"stytch_user", "admin"}},
		{[]string{"stytch_user", "admin", "admin", ""}, []string{"stytch_user", "admin"}},
	} {
		if got := sessionRoles(c.in); !slices.Equal(got, c.want) {
			t.Errorf("sessionRoles(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTheSameFactorAgainRefreshesItInsteadOfAddingIt(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	email := func(id string, at time.Time) store.Factor {
		return store.Factor{Type: "magic_link", DeliveryMethod: "email", LastAuthenticatedAt: at, UpdatedAt: at, CreatedAt: t0,
			EmailFactor: &store.EmailFactor{EmailID: id}}
	}
	sms := store.Factor{Type: "otp", DeliveryMethod: "sms", PhoneNumberFactor: &store.PhoneNumberFactor{PhoneID: "p"}}
	fs := addFactor([]store.Factor{email("e1", t0)}, sms)
	if len(fs) != 2 {
		t.Fatalf("a new factor was not added: %+v", fs)
	}
	later := t0.Add(time.Hour)
	fs = addFactor(fs, email("e1", later))
	if len(fs) != 2 || !fs[0].LastAuthenticatedAt.Equal(later) || !fs[0].CreatedAt.Equal(t0) {
		t.Fatalf("the same factor again: %+v", fs)
	}
	if fs = addFactor(fs, email("e2", later)); len(fs) != 3 {
		t.Fatalf("another email is another factor: %+v", fs)
	}
}

func TestAJWTNeverOutlivesItsSessionNorFiveMinutes(t *testing.T) {
	iat := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		left time.Duration
		want time.Duration
	}{{time.Hour, 5 * time.Minute}, {5 * time.Minute, 5 * time.Minute}, {2 * time.Minute, 2 * time.Minute}, {time.Second, time.Second}} {
		sess := store.Session{ID: "s", UserID: "u", StartedAt: iat, LastAccessedAt: iat, ExpiresAt: iat.Add(c.left), CustomClaims: json.RawMessage(`{ "plan" : "gold" }`)}
		payload, err := jwtPayload(store.Project{ID: "p"}, sess, iat)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatalf("payload is not JSON: %v\n%s", err, payload)
		}
		if exp := int64(got["exp"].(float64)); exp != iat.Add(c.want).Unix() {
			t.Errorf("session with %v left: exp = iat + %ds, want + %v", c.left, exp-iat.Unix(), c.want)
		}
		if got["plan"] != "gold" || got["iat"] != got["nbf"] {
			t.Errorf("payload %s", payload)
		}
	}
	// No custom claims, or an empty object: nothing spliced.
	for _, cc := range []string{``, `{}`, ` { } `} {
		payload, err := jwtPayload(store.Project{ID: "p"}, store.Session{CustomClaims: json.RawMessage(cc)}, iat)
		if err != nil || !json.Valid(payload) {
			t.Errorf("custom claims %q: %s, %v", cc, payload, err)
		}
	}
}

func ptr(v int) *int { return &v }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestCustomClaimsKeepEveryDigit(t *testing.T) {
	got, err := mergeClaims(json.RawMessage(`{"id":9007199254740993}`), json.RawMessage(`{"big":12345678901234567890,"pi":3.141592653589793238}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"big":12345678901234567890,"id":9007199254740993,"pi":3.141592653589793238}`; string(got) != want {
		t.Fatalf("merged claims %s, want %s", got, want)
	}
}

// TestStoredClaimsWithReservedNamesNeverReachAJWT: claims stored before
// reserved names were refused (sessions live up to a year) are shown and
// signed without them, so no verifier decoding by name takes "EXP" or
// "ſub" for exp or sub.
func TestStoredClaimsWithReservedNamesNeverReachAJWT(t *testing.T) {
	stored := json.RawMessage(`{"EXP":9999999999,"SUB":"user-test-victim","ſub":"v2","https://STYTCH.com/x":1,"plan":"gold"}`)
	if got := string(VisibleClaims(stored)); got != `{"plan":"gold"}` {
		t.Fatalf("VisibleClaims = %s", got)
	}
	clean := json.RawMessage(`{"b":1, "a":2}`)
	if got := VisibleClaims(clean); string(got) != string(clean) {
		t.Fatalf("claims without reserved names changed: %s", got)
	}
	iat := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	payload, err := jwtPayload(store.Project{ID: "p"}, store.Session{UserID: "u", ExpiresAt: iat.Add(time.Hour), CustomClaims: stored}, iat)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"EXP"`, `"SUB"`, `"ſub"`, `STYTCH.com`} {
		if strings.Contains(string(payload), name) {
			t.Fatalf("the JWT payload carries %s: %s", name, payload)
		}
	}
}

// TestSearchValuesMatchNamesExactly: names inside a filter_value match as
// the request's own do, exactly; a case-folded twin neither overrides nor
// joins them, and a duplicate is refused.
func TestSearchValuesMatchNamesExactly(t *testing.T) {
	q, err := parseSearchQuery(&SearchQuery{Operator: "AND", Operands: []SearchOperand{{FilterName: "created_at_between",
		FilterValue: json.RawMessage(`{"greater_than":"2000-01-01T00:00:00Z","less_than":"2099-01-01T00:00:00Z","GREATER_THAN":"2098-01-01T00:00:00Z"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Filters[0].After.Year(); got != 2000 {
		t.Fatalf("greater_than read as %d: a case-folded name overrode it", got)
	}
	_, err = parseSearchQuery(&SearchQuery{Operator: "AND", Operands: []SearchOperand{{FilterName: "created_at_between",
		FilterValue: json.RawMessage(`{"greater_than":"2000-01-01T00:00:00Z","greater_than":"2098-01-01T00:00:00Z","less_than":"2099-01-01T00:00:00Z"}`)}}})
	if err == nil {
		t.Fatal("a duplicate name inside filter_value was accepted")
	}
}
