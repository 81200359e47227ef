package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

var (
	fndUserIDPattern  = regexp.MustCompile(`^user-test-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	fndEmailIDPattern = regexp.MustCompile(`^email-test-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	fndPhoneIDPattern = regexp.MustCompile(`^phone-number-test-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	fndTimePattern    = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
)

// fndCheckUser fails unless u is a complete User object (Stytch: https://stytch.com/docs/api/user-object):
// every field present, with the right JSON type, even when empty.
func fndCheckUser(t *testing.T, u any) map[string]any {
	t.Helper()
	m, ok := u.(map[string]any)
	if !ok {
		t.Fatalf("user is not an object: %v", u)
	}
	kind := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case string:
			return "string"
		case bool:
			return "bool"
		case float64:
			return "number"
		case []any:
			return "array"
		case map[string]any:
			return "object"
		}
		return "?"
	}
	want := map[string][]string{
		"user_id": {"string"}, "emails": {"array"}, "phone_numbers": {"array"}, "status": {"string"},
		"is_locked": {"bool"}, "roles": {"array"}, "providers": {"array"}, "webauthn_registrations": {"array"},
		"totps": {"array"}, "crypto_wallets": {"array"}, "biometric_registrations": {"array"},
		"name": {"object"}, "created_at": {"string"}, "trusted_metadata": {"object"}, "untrusted_metadata": {"object"},
		"external_id": {"string", "null"}, "lock_created_at": {"string", "null"}, "lock_expires_at": {"string", "null"},
		"password": {"object", "null"},
	}
	for field, kinds := range want {
		v, present := m[field]
		if !present {
			t.Fatalf("user lacks %s: %v", field, m)
		}
		okKind := false
		for _, k := range kinds {
			if kind(v) == k {
				okKind = true
			}
		}
		if !okKind {
			t.Fatalf("user.%s is %s (%v), want one of %v", field, kind(v), v, kinds)
		}
	}
	for _, f := range []string{"providers", "webauthn_registrations", "totps", "crypto_wallets", "biometric_registrations"} {
		if n := len(m[f].([]any)); n != 0 {
			t.Fatalf("user.%s has %d items, want []", f, n)
		}
	}
	name := m["name"].(map[string]any)
	for _, f := range []string{"first_name", "middle_name", "last_name"} {
		if _, ok := name[f].(string); !ok {
			t.Fatalf("user.name.%s is not a string: %v", f, name)
		}
	}
	for _, e := range m["emails"].([]any) {
		e := e.(map[string]any)
		if !fndEmailIDPattern.MatchString(e["email_id"].(string)) {
			t.Fatalf("email_id %v has the wrong shape", e["email_id"])
		}
		if _, ok := e["email"].(string); !ok {
			t.Fatalf("email lacks email: %v", e)
		}
		if _, ok := e["verified"].(bool); !ok {
			t.Fatalf("email lacks verified: %v", e)
		}
	}
	for _, p := range m["phone_numbers"].([]any) {
		p := p.(map[string]any)
		if !fndPhoneIDPattern.MatchString(p["phone_id"].(string)) {
			t.Fatalf("phone_id %v has the wrong shape", p["phone_id"])
		}
		if _, ok := p["phone_number"].(string); !ok {
			t.Fatalf("phone lacks phone_number: %v", p)
		}
		if _, ok := p["verified"].(bool); !ok {
			t.Fatalf("phone lacks verified: %v", p)
		}
	}
	if !fndUserIDPattern.MatchString(m["user_id"].(string)) {
		t.Fatalf("user_id %v has the wrong shape", m["user_id"])
	}
	if !fndTimePattern.MatchString(m["created_at"].(string)) {
		t.Fatalf("created_at %v is not RFC 3339 UTC in whole seconds", m["created_at"])
	}
	return m
}

func TestNewUserCarriesEveryFieldTheSDKsRequire(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "shape")
		email := fndEmail("shape")
		r := fndCreateUser(t, p, map[string]any{"email": email})
		u := fndCheckUser(t, r.Get("user"))
		if r.Str("user_id") != u["user_id"] || r.Str("status") != "active" || u["status"] != "active" {
			t.Fatalf("user_id/status disagree: %s", r.Raw)
		}
		if id, present := r.Body["phone_id"]; !present || id != "" {
			t.Fatalf(`phone_id must be "" when no phone is given: %s`, r.Raw)
		}
		if !fndEmailIDPattern.MatchString(r.Str("email_id")) {
			t.Fatalf("email_id: %s", r.Raw)
		}
		emails := u["emails"].([]any)
		if len(emails) != 1 || emails[0].(map[string]any)["email"] != email ||
			emails[0].(map[string]any)["email_id"] != r.Str("email_id") || emails[0].(map[string]any)["verified"] != false {
			t.Fatalf("emails: %v", emails)
		}
		if len(u["phone_numbers"].([]any)) != 0 || len(u["roles"].([]any)) != 0 || u["is_locked"] != false {
			t.Fatalf("empty fields: %s", r.Raw)
		}
		if u["external_id"] != nil || u["password"] != nil || u["lock_created_at"] != nil || u["lock_expires_at"] != nil {
			t.Fatalf("unset optional fields must be null: %s", r.Raw)
		}
		if len(u["trusted_metadata"].(map[string]any)) != 0 || len(u["untrusted_metadata"].(map[string]any)) != 0 {
			t.Fatalf("metadata must be {}: %s", r.Raw)
		}
		if want := l.Clock.Now().UTC().Format(time.RFC3339); u["created_at"] != want {
			t.Fatalf("created_at = %v, want the clock's %s", u["created_at"], want)
		}
		for _, f := range []string{`"first_name":""`, `"middle_name":""`, `"last_name":""`} {
			if !strings.Contains(string(r.Raw), f) {
				t.Fatalf("name lacks %s: %s", f, r.Raw)
			}
		}

		// A phone-only user has email_id "".
		r = fndCreateUser(t, p, map[string]any{"phone_number": "+12025550123"})
		if id, present := r.Body["email_id"]; !present || id != "" || !fndPhoneIDPattern.MatchString(r.Str("phone_id")) {
			t.Fatalf("phone-only user: %s", r.Raw)
		}
		fndCheckUser(t, r.Get("user"))
	})
}

func TestCreateUserKeepsEverythingItIsGiven(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "full")
		r := fndCreateUser(t, p, map[string]any{
			"email":                  "Ada.Lovelace@Example.com",
			"phone_number":           "+1 (415) 555-2671",
			"name":                   map[string]any{"first_name": "Ada", "middle_name": "King", "last_name": "Lovelace"},
			"attributes":             map[string]any{"ip_address": "203.0.113.9", "user_agent": "curl/8"},
			"create_user_as_pending": true,
			"trusted_metadata":       map[string]any{"plan": "pro", "seats": 3, "tags": []any{"a", "b"}},
			"untrusted_metadata":     map[string]any{"theme": "dark"},
			"external_id":            "crm|42.a_b-c",
			"roles":                  []any{"admin"},
		})
		if r.Str("status") != "pending" {
			t.Fatalf("create_user_as_pending: %s", r.Raw)
		}
		id := r.Str("user_id")
		// The external_id, with its | (sent as %7C), finds the user too.
		if e := p.OK(t, http.MethodGet, "/v1/users/crm%7C42.a_b-c", nil); e.Str("user_id") != id {
			t.Fatalf("get by external_id: %s", e.Raw)
		}
		g := p.OK(t, http.MethodGet, "/v1/users/"+id, nil)
		for _, c := range []struct {
			got    latchtest.Response
			user   any
			prefix string
		}{{r, r.Get("user"), "user."}, {g, g.Body, ""}} { // Get is flat
			got, prefix := c.got, c.prefix
			u := fndCheckUser(t, c.user)
			if u["status"] != "pending" || u["external_id"] != "crm|42.a_b-c" {
				t.Fatalf("status/external_id: %s", got.Raw)
			}
			if got.Str(prefix+"name.first_name") != "Ada" || got.Str(prefix+"name.middle_name") != "King" || got.Str(prefix+"name.last_name") != "Lovelace" {
				t.Fatalf("name: %s", got.Raw)
			}
			if got.Str(prefix+"trusted_metadata.plan") != "pro" || got.Get(prefix+"trusted_metadata.seats") != 3.0 ||
				len(got.Get(prefix+"trusted_metadata.tags").([]any)) != 2 || got.Str(prefix+"untrusted_metadata.theme") != "dark" {
				t.Fatalf("metadata: %s", got.Raw)
			}
			if roles := u["roles"].([]any); len(roles) != 1 || roles[0] != "admin" {
				t.Fatalf("roles: %s", got.Raw)
			}
			emails, phones := u["emails"].([]any), u["phone_numbers"].([]any)
			if len(emails) != 1 || emails[0].(map[string]any)["email"] != "ada.lovelace@example.com" {
				t.Fatalf("the email is kept, lower-cased: %s", got.Raw)
			}
			if len(phones) != 1 || phones[0].(map[string]any)["phone_number"] != "+14155552671" {
				t.Fatalf("the phone is kept in E.164: %s", got.Raw)
			}
		}
	})
}

func TestCreateUserWithoutEmailOrPhoneIsABadRequest(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "nothing")
		for _, body := range []any{map[string]any{}, map[string]any{"name": map[string]any{"first_name": "A"}}, nil, map[string]any{"email": ""}} {
			r := p.Fail(t, http.MethodPost, "/v1/users", body, 400, "bad_request")
			fndMessageNames(t, r, "email", "phone_number")
		}
	})
}

func TestDuplicateEmailIsRefusedWhateverItsCase(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "dup-email")
		fndCreateUser(t, p, map[string]any{"email": "Grace@Example.org"})
		for _, e := range []string{"Grace@Example.org", "grace@example.org", "GRACE@EXAMPLE.ORG", " grace@example.org "} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": e}, 400, "duplicate_email")
		}
		r := fndSearch(t, p, nil)
		if fndTotal(t, r) != 1 {
			t.Fatalf("a refused create must leave no user behind: %s", r.Raw)
		}
	})
}

func TestInvalidEmailIsRefused(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "bad-email")
		for _, e := range []string{"not-an-email", "a@b", "Ada <ada@example.com>", "ada@example.com.", "two words@example.com", "@example.com"} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": e}, 400, "invalid_email")
		}
	})
}

func TestPhoneNumbersAreStoredInE164(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "e164")
		// NormalizePhone wants a leading + and a country code; spaces,
		// dashes and brackets around the digits are accepted and dropped.
		cases := map[string]string{
			"+14155552671":      "+14155552671",
			"+1 (202) 555-0199": "+12025550199",
			"+44 20 7946 0958":  "+442079460958",
			"+33 6 12 34 56 78": "+33612345678",
			" +61 2 9876 5432 ": "+61298765432",
		}
		for in, want := range cases {
			r := fndCreateUser(t, p, map[string]any{"phone_number": in})
			phones := r.Get("user.phone_numbers").([]any)
			if len(phones) != 1 || phones[0].(map[string]any)["phone_number"] != want {
				t.Fatalf("%q stored as %v, want %s", in, phones, want)
			}
			g := p.OK(t, http.MethodGet, "/v1/users/"+r.Str("user_id"), nil)
			if g.Get("phone_numbers").([]any)[0].(map[string]any)["phone_number"] != want {
				t.Fatalf("get: %s", g.Raw)
			}
		}
	})
}

func TestDuplicatePhoneIsRefusedInAnyFormat(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "dup-phone")
		fndCreateUser(t, p, map[string]any{"phone_number": "+14155552671"})
		for _, n := range []string{"+14155552671", "+1 415 555 2671", "+1 (415) 555-2671", "+1-415-555-2671"} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"phone_number": n}, 400, "duplicate_phone_number")
		}
		// The email of a refused create is not taken either.
		p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": "free@example.com", "phone_number": "+14155552671"}, 400, "duplicate_phone_number")
		fndCreateUser(t, p, map[string]any{"email": "free@example.com"})
	})
}

func TestInvalidPhoneNumbersAreRefused(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "bad-phone")
		for n, want := range map[string]string{
			"4155552671":        "invalid_phone_number", // no + and country code
			"(415) 555-2671":    "invalid_phone_number",
			"+1abc":             "invalid_phone_number",
			"+1 415 555":        "invalid_phone_number", // too short
			"+1415555267100000": "invalid_phone_number", // too long
			"+999 1234 5678":    "invalid_phone_number_country_code",
		} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"phone_number": n}, 400, want)
		}
	})
}

func TestExternalIDIsValidatedAndUniquePerProject(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "external")
		long := strings.Repeat("x", 128)
		fndCreateUser(t, p, map[string]any{"email": fndEmail("ext"), "external_id": long})
		p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("ext"), "external_id": long}, 400, "duplicate_user_external_id")
		for _, bad := range []string{long + "x", "has space", "slash/no", "émile", "a@b"} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("ext"), "external_id": bad}, 400, "invalid_external_id")
		}
		r := fndCreateUser(t, p, map[string]any{"email": fndEmail("ext"), "external_id": "other"})
		// Updating to a taken external_id is refused and changes nothing.
		p.Fail(t, http.MethodPut, "/v1/users/"+r.Str("user_id"), map[string]any{"external_id": long, "name": map[string]any{"first_name": "X"}}, 400, "duplicate_user_external_id")
		p.Fail(t, http.MethodPut, "/v1/users/other", map[string]any{"external_id": "bad id"}, 400, "invalid_external_id")
		g := p.OK(t, http.MethodGet, "/v1/users/"+r.Str("user_id"), nil)
		if g.Str("external_id") != "other" || g.Str("name.first_name") != "" {
			t.Fatalf("a refused update must change nothing: %s", g.Raw)
		}
	})
}

func TestGetUserAnswersFlatByUserIDOrExternalID(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "get")
		email := fndEmail("get")
		c := fndCreateUser(t, p, map[string]any{"email": email, "phone_number": "+12025550123", "external_id": "ext-get-1"})
		id := c.Str("user_id")
		for _, path := range []string{id, "ext-get-1"} {
			g := p.OK(t, http.MethodGet, "/v1/users/"+path, nil)
			if _, wrapped := g.Body["user"]; wrapped {
				t.Fatalf("get must not wrap the user: %s", g.Raw)
			}
			u := fndCheckUser(t, g.Body)
			if u["user_id"] != id {
				t.Fatalf("get %s: %s", path, g.Raw)
			}
			if e := u["emails"].([]any); len(e) != 1 || e[0].(map[string]any)["email"] != email {
				t.Fatalf("get %s: emails %v", path, e)
			}
			if g.Get("status_code") != 200.0 || !fndRequestIDPattern.MatchString(g.Str("request_id")) {
				t.Fatalf("envelope: %s", g.Raw)
			}
		}
		p.Fail(t, http.MethodGet, "/v1/users/user-test-00000000-0000-0000-0000-000000000000", nil, 404, "user_not_found")
		p.Fail(t, http.MethodGet, "/v1/users/no-such-external-id", nil, 404, "user_not_found")
	})
}

func TestUpdateMergesMetadataAtTheTopLevelAndNullDeletes(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "merge")
		c := fndCreateUser(t, p, map[string]any{
			"email":              fndEmail("merge"),
			"trusted_metadata":   map[string]any{"keep": 1, "nested": map[string]any{"x": 1, "y": 2}, "gone": "bye", "list": []any{1, 2, 3}},
			"untrusted_metadata": map[string]any{"theme": "dark"},
		})
		id := c.Str("user_id")
		r := p.OK(t, http.MethodPut, "/v1/users/"+id, map[string]any{
			"trusted_metadata": map[string]any{"nested": map[string]any{"z": 3}, "gone": nil, "list": []any{9}, "new": true},
		})
		for _, got := range []map[string]any{r.Get("user.trusted_metadata").(map[string]any), p.OK(t, http.MethodGet, "/v1/users/"+id, nil).Get("trusted_metadata").(map[string]any)} {
			if got["keep"] != 1.0 || got["new"] != true {
				t.Fatalf("untouched and new keys: %v", got)
			}
			if _, ok := got["gone"]; ok {
				t.Fatalf("null must delete the key: %v", got)
			}
			if n := got["nested"].(map[string]any); len(n) != 1 || n["z"] != 3.0 {
				t.Fatalf("a nested object is replaced whole, not merged: %v", n)
			}
			if ls := got["list"].([]any); len(ls) != 1 || ls[0] != 9.0 {
				t.Fatalf("an array is replaced whole: %v", ls)
			}
			if len(got) != 4 {
				t.Fatalf("keys: %v", got)
			}
		}
		if r.Str("user.untrusted_metadata.theme") != "dark" {
			t.Fatalf("metadata absent from the update is left alone: %s", r.Raw)
		}
		// null for the whole object leaves it alone; {} too.
		for _, body := range []map[string]any{{"untrusted_metadata": nil}, {"untrusted_metadata": map[string]any{}}} {
			r = p.OK(t, http.MethodPut, "/v1/users/"+id, body)
			if r.Str("user.untrusted_metadata.theme") != "dark" {
				t.Fatalf("%v: %s", body, r.Raw)
			}
		}
		// Deleting every key leaves {}.
		r = p.OK(t, http.MethodPut, "/v1/users/"+id, map[string]any{"untrusted_metadata": map[string]any{"theme": nil}})
		if m, ok := r.Get("user.untrusted_metadata").(map[string]any); !ok || len(m) != 0 {
			t.Fatalf("want {}: %s", r.Raw)
		}
	})
}

func TestUpdateChangesNameExternalIDAndRoles(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "update")
		email := fndEmail("upd")
		c := fndCreateUser(t, p, map[string]any{"email": email, "phone_number": "+12025550123",
			"name": map[string]any{"first_name": "Ada", "last_name": "Byron"}, "external_id": "before"})
		id := c.Str("user_id")

		// The path takes the external_id too; only the given name parts change.
		r := p.OK(t, http.MethodPut, "/v1/users/before", map[string]any{
			"name": map[string]any{"last_name": "Lovelace"}, "external_id": "after", "roles": []any{"admin", "editor"},
			"attributes": map[string]any{"ip_address": "203.0.113.1"}, "telemetry_id": "ignored",
		})
		if r.Str("user_id") != id {
			t.Fatalf("update answers the user_id: %s", r.Raw)
		}
		for _, f := range []string{"emails", "phone_numbers", "crypto_wallets"} {
			if _, ok := r.Get(f).([]any); !ok {
				t.Fatalf("update lacks top-level %s: %s", f, r.Raw)
			}
		}
		if len(r.Get("emails").([]any)) != 1 || len(r.Get("phone_numbers").([]any)) != 1 {
			t.Fatalf("top-level emails/phones: %s", r.Raw)
		}
		u := fndCheckUser(t, r.Get("user"))
		if u["external_id"] != "after" || r.Str("user.name.first_name") != "Ada" || r.Str("user.name.last_name") != "Lovelace" {
			t.Fatalf("update result: %s", r.Raw)
		}
		if roles := u["roles"].([]any); len(roles) != 2 || roles[0] != "admin" || roles[1] != "editor" {
			t.Fatalf("roles: %v", roles)
		}
		g := p.OK(t, http.MethodGet, "/v1/users/after", nil)
		if g.Str("user_id") != id || g.Str("name.last_name") != "Lovelace" || g.Str("name.first_name") != "Ada" {
			t.Fatalf("the update is stored: %s", g.Raw)
		}
		p.Fail(t, http.MethodGet, "/v1/users/before", nil, 404, "user_not_found")
		p.Fail(t, http.MethodPut, "/v1/users/before", map[string]any{"name": map[string]any{"first_name": "X"}}, 404, "user_not_found")
		p.Fail(t, http.MethodPut, "/v1/users/user-test-00000000-0000-0000-0000-000000000000", map[string]any{}, 404, "user_not_found")
	})
}

func TestMetadataLimitsAreEnforced(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "limits")
		keys := func(n int) map[string]any {
			m := map[string]any{}
			for i := 0; i < n; i++ {
				m[string(rune('a'+i))] = i
			}
			return m
		}
		for _, field := range []string{"trusted_metadata", "untrusted_metadata"} {
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("lim"), field: keys(21)}, 400, "metadata_too_many_keys")
			p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("lim"), field: map[string]any{"big": strings.Repeat("x", 4100)}}, 400, "metadata_too_large")
			for _, bad := range []any{[]any{1}, "text", 5, true} {
				p.Fail(t, http.MethodPost, "/v1/users", map[string]any{"email": fndEmail("lim"), field: bad}, 400, "metadata_invalid_format")
			}

			c := fndCreateUser(t, p, map[string]any{"email": fndEmail("lim"), field: keys(20)})
			id := c.Str("user_id")
			// A 21st key by merge is refused, and nothing changes.
			p.Fail(t, http.MethodPut, "/v1/users/"+id, map[string]any{field: map[string]any{"zz": 1}}, 400, "metadata_too_many_keys")
			p.Fail(t, http.MethodPut, "/v1/users/"+id, map[string]any{field: map[string]any{"a": strings.Repeat("y", 4100)}}, 400, "metadata_too_large")
			p.Fail(t, http.MethodPut, "/v1/users/"+id, map[string]any{field: []any{}}, 400, "metadata_invalid_format")
			g := p.OK(t, http.MethodGet, "/v1/users/"+id, nil)
			if m := g.Get(field).(map[string]any); len(m) != 20 || m["a"] != 0.0 {
				t.Fatalf("refused updates must change nothing: %v", m)
			}
			// Deleting one key makes room for another in the same update.
			r := p.OK(t, http.MethodPut, "/v1/users/"+id, map[string]any{field: map[string]any{"a": nil, "zz": 1}})
			if m := r.Get("user." + field).(map[string]any); len(m) != 20 || m["zz"] != 1.0 {
				t.Fatalf("swap a key: %v", m)
			}
			// Just under 4 KB is fine.
			fndCreateUser(t, p, map[string]any{"email": fndEmail("lim"), field: map[string]any{"big": strings.Repeat("x", 4000)}})
		}
	})
}

func TestDeleteUserFreesItsEmailPhoneAndExternalID(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "delete")
		body := map[string]any{"email": "leaving@example.com", "phone_number": "+12025550123", "external_id": "leaver"}
		c := fndCreateUser(t, p, body)
		id := c.Str("user_id")
		// The Node SDK sends {} with DELETE.
		r := p.OK(t, http.MethodDelete, "/v1/users/"+id, "{}")
		if r.Str("user_id") != id || r.Get("status_code") != 200.0 || !fndRequestIDPattern.MatchString(r.Str("request_id")) {
			t.Fatalf("delete: %s", r.Raw)
		}
		p.Fail(t, http.MethodGet, "/v1/users/"+id, nil, 404, "user_not_found")
		p.Fail(t, http.MethodGet, "/v1/users/leaver", nil, 404, "user_not_found")
		p.Fail(t, http.MethodDelete, "/v1/users/"+id, nil, 404, "user_not_found")
		p.Fail(t, http.MethodDelete, "/v1/users/"+c.Str("email_id"), nil, 404, "user_not_found")
		if fndTotal(t, fndSearch(t, p, nil)) != 0 {
			t.Fatal("a deleted user is still found by search")
		}

		// Everything it held is free again; delete by external_id works too.
		c2 := fndCreateUser(t, p, body)
		r = p.OK(t, http.MethodDelete, "/v1/users/leaver", nil)
		if r.Str("user_id") != c2.Str("user_id") {
			t.Fatalf("delete by external_id answers the user_id: %s", r.Raw)
		}
		p.Fail(t, http.MethodGet, "/v1/users/"+c2.Str("user_id"), nil, 404, "user_not_found")
	})
}

func TestDeleteEmailRemovesOnlyThatEmail(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "delete-email")
		c := fndCreateUser(t, p, map[string]any{"email": "drop@example.com", "phone_number": "+12025550123"})
		id, emailID := c.Str("user_id"), c.Str("email_id")
		r := p.OK(t, http.MethodDelete, "/v1/users/emails/"+emailID, nil)
		if r.Str("user_id") != id {
			t.Fatalf("delete email answers user_id: %s", r.Raw)
		}
		u := fndCheckUser(t, r.Get("user"))
		if len(u["emails"].([]any)) != 0 || len(u["phone_numbers"].([]any)) != 1 {
			t.Fatalf("only the email goes: %s", r.Raw)
		}
		g := p.OK(t, http.MethodGet, "/v1/users/"+id, nil)
		if len(g.Get("emails").([]any)) != 0 || len(g.Get("phone_numbers").([]any)) != 1 {
			t.Fatalf("stored: %s", g.Raw)
		}
		p.Fail(t, http.MethodDelete, "/v1/users/emails/"+emailID, nil, 404, "email_not_found")
		p.Fail(t, http.MethodDelete, "/v1/users/emails/email-test-00000000-0000-0000-0000-000000000000", nil, 404, "email_not_found")
		// A phone id is not an email id.
		p.Fail(t, http.MethodDelete, "/v1/users/emails/"+c.Str("phone_id"), nil, 404, "email_not_found")
		// The address is free for another user.
		fndCreateUser(t, p, map[string]any{"email": "DROP@example.com"})
	})
}

func TestDeletePhoneNumberRemovesOnlyThatPhone(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "delete-phone")
		c := fndCreateUser(t, p, map[string]any{"email": "keep@example.com", "phone_number": "+12025550123"})
		id, phoneID := c.Str("user_id"), c.Str("phone_id")
		r := p.OK(t, http.MethodDelete, "/v1/users/phone_numbers/"+phoneID, "{}")
		if r.Str("user_id") != id {
			t.Fatalf("delete phone answers user_id: %s", r.Raw)
		}
		u := fndCheckUser(t, r.Get("user"))
		if len(u["emails"].([]any)) != 1 || len(u["phone_numbers"].([]any)) != 0 {
			t.Fatalf("only the phone goes: %s", r.Raw)
		}
		p.Fail(t, http.MethodDelete, "/v1/users/phone_numbers/"+phoneID, nil, 404, "phone_number_not_found")
		p.Fail(t, http.MethodDelete, "/v1/users/phone_numbers/"+c.Str("email_id"), nil, 404, "phone_number_not_found")
		g := p.OK(t, http.MethodGet, "/v1/users/"+id, nil)
		if len(g.Get("phone_numbers").([]any)) != 0 || len(g.Get("emails").([]any)) != 1 {
			t.Fatalf("stored: %s", g.Raw)
		}
		fndCreateUser(t, p, map[string]any{"phone_number": "+1 202 555 0123"})
	})
}

func TestConcurrentCreatesOfOneEmailMakeOneUser(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "race-create")
		const n = 8
		results := make(chan latchtest.Response, n)
		for i := 0; i < n; i++ {
			go func() {
				results <- p.Do(t, http.MethodPost, "/v1/users", map[string]any{"email": "race@example.com"})
			}()
		}
		ok := 0
		for i := 0; i < n; i++ {
			r := <-results
			switch {
			case r.Status == 200:
				ok++
			case r.Status == 400 && r.ErrorType() == "duplicate_email":
			default:
				t.Fatalf("a concurrent duplicate got %d: %s", r.Status, r.Raw)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent creates of one email succeeded", ok, n)
		}
	})
}

func TestConcurrentMetadataUpdatesLoseNoKey(t *testing.T) {
	fndOnEveryBackend(t, func(t *testing.T, l *latchtest.Latch) {
		p := l.NewProject(t, "race-update")
		id := fndCreateUser(t, p, map[string]any{"email": fndEmail("race")}).Str("user_id")
		const n = 10
		done := make(chan latchtest.Response, n)
		for i := 0; i < n; i++ {
			go func(i int) {
				done <- p.Do(t, http.MethodPut, "/v1/users/"+id, map[string]any{"trusted_metadata": map[string]any{fmt.Sprintf("k%d", i): i}})
			}(i)
		}
		for i := 0; i < n; i++ {
			if r := <-done; r.Status != 200 {
				t.Fatalf("concurrent update: %d %s", r.Status, r.Raw)
			}
		}
		m := p.OK(t, http.MethodGet, "/v1/users/"+id, nil).Get("trusted_metadata").(map[string]any)
		if len(m) != n {
			t.Fatalf("concurrent top-level merges lost keys: %d of %d kept: %v", len(m), n, m)
		}
	})
}
