package storetest

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// searchPeople is the population the search behaviours query.
type searchPeople struct {
	project                 string
	ada, grace, alan, byron store.User
}

func newSearchPeople(t *testing.T, s store.Store) searchPeople {
	p := newProject(t, s)
	var x searchPeople
	x.project = p.ID
	x.ada = newUser(t, s, p.ID, func(u *store.User) {
		u.FirstName, u.MiddleName, u.LastName = "Ada", "King", "Lovelace"
		u.Emails[0].Address = "Ada@Example.com"
		u.Emails[0].Verified = true
		u.Phones[0].Number = "+15550001111"
	})
	x.grace = newUser(t, s, p.ID, func(u *store.User) {
		u.FirstName, u.LastName = "Grace", "Hopper"
		u.Status = "pending"
		u.CreatedAt = t0.Add(time.Second)
		u.Emails[0].Address = "grace_h@navy.mil"
		u.Phones = nil
	})
	x.alan = newUser(t, s, p.ID, func(u *store.User) {
		u.FirstName, u.LastName = "Alan", "Turing"
		u.CreatedAt = t0.Add(2 * time.Second)
		u.Emails = nil
		u.Phones[0].Number = "+447700900123"
		u.Phones[0].Verified = true
	})
	x.byron = newUser(t, s, p.ID, func(u *store.User) {
		u.FirstName, u.LastName = "Augusta", "Byron"
		u.CreatedAt = t0.Add(time.Second) // same instant as grace: the id decides
		u.Emails[0].Address = "augusta%byron@example.org"
		u.Phones[0].Number = "+15557770000"
	})
	// A user of another project who matches every filter must never appear.
	q := newProject(t, s)
	newUser(t, s, q.ID, func(u *store.User) {
		u.FirstName, u.MiddleName, u.LastName = "Ada", "King", "Lovelace"
		u.Emails[0].Address = "ada@example.com"
		u.Emails[0].Verified = true
		u.Phones[0].Number = "+15550001111"
	})
	return x
}

// ordered returns the users in search order.
func ordered(us ...store.User) []string {
	sort.Slice(us, func(i, j int) bool {
		if !us[i].CreatedAt.Equal(us[j].CreatedAt) {
			return us[i].CreatedAt.Before(us[j].CreatedAt)
		}
		return us[i].ID < us[j].ID
	})
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func userIDs(us []store.User) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

var searchBehaviours = []behaviour{
	{"SearchPagesInCreationOrderAndCountsEveryMatch", func(t *testing.T, s store.Store) {
		x := newSearchPeople(t, s)
		want := ordered(x.ada, x.grace, x.alan, x.byron)
		var got []string
		page := store.Page{Limit: 3}
		for range 3 {
			us, total, err := s.SearchUsers(ctx(), x.project, store.UserQuery{Operator: "AND"}, page)
			must(t, err)
			equal(t, "total", total, 4)
			if len(us) == 0 {
				break
			}
			got = append(got, userIDs(us)...)
			last := us[len(us)-1]
			page = store.Page{AfterCreatedAt: last.CreatedAt, AfterID: last.ID, Limit: 3}
		}
		equal(t, "order", strings.Join(got, " "), strings.Join(want, " "))

		us, _, err := s.SearchUsers(ctx(), x.project, store.UserQuery{}, store.Page{Limit: 10})
		must(t, err)
		equal(t, "users", len(us), 4)
		for _, u := range us {
			if u.Emails == nil || u.Phones == nil || u.Roles == nil {
				t.Fatalf("user %s has nil slices", u.ID)
			}
			if u.ID == x.ada.ID {
				equal(t, "ada's email", u.Emails[0].Address, "Ada@Example.com")
				equal(t, "ada's phone", u.Phones[0].Number, "+15550001111")
			}
		}
		us, total, err := s.SearchUsers(ctx(), id("project"), store.UserQuery{}, store.Page{Limit: 10})
		must(t, err)
		equal(t, "other project total", total, 0)
		if us == nil || len(us) != 0 {
			t.Fatalf("no results = %v, want an empty slice", us)
		}
	}},
	{"SearchFiltersMatchTheirUsers", func(t *testing.T, s store.Store) {
		x := newSearchPeople(t, s)
		none := []store.User{}
		all := []store.User{x.ada, x.grace, x.alan, x.byron}
		cases := []struct {
			name string
			f    store.UserFilter
			want []store.User
		}{
			{"created_at_greater_than", store.UserFilter{Name: "created_at_greater_than", After: ptr(t0)}, []store.User{x.grace, x.alan, x.byron}},
			{"created_at_less_than", store.UserFilter{Name: "created_at_less_than", Before: ptr(t0.Add(2 * time.Second))}, []store.User{x.ada, x.grace, x.byron}},
			{"created_at_between", store.UserFilter{Name: "created_at_between", After: ptr(t0), Before: ptr(t0.Add(2 * time.Second))}, []store.User{x.grace, x.byron}},
			{"status", store.UserFilter{Name: "status", Strings: []string{"pending"}}, []store.User{x.grace}},
			{"user_id", store.UserFilter{Name: "user_id", Strings: []string{x.alan.ID, x.ada.ID, "user-test-missing"}}, []store.User{x.ada, x.alan}},
			{"email_address ignores case", store.UserFilter{Name: "email_address", Strings: []string{"ada@example.COM", "GRACE_H@navy.mil"}}, []store.User{x.ada, x.grace}},
			{"email_id", store.UserFilter{Name: "email_id", Strings: []string{x.byron.Emails[0].ID}}, []store.User{x.byron}},
			{"phone_number", store.UserFilter{Name: "phone_number", Strings: []string{"+447700900123"}}, []store.User{x.alan}},
			{"phone_id", store.UserFilter{Name: "phone_id", Strings: []string{x.ada.Phones[0].ID, x.byron.Phones[0].ID}}, []store.User{x.ada, x.byron}},
			{"email_verified true", store.UserFilter{Name: "email_verified", Bool: true}, []store.User{x.ada}},
			{"email_verified false", store.UserFilter{Name: "email_verified", Bool: false}, []store.User{x.grace, x.byron}},
			{"phone_verified true", store.UserFilter{Name: "phone_verified", Bool: true}, []store.User{x.alan}},
			{"phone_verified false", store.UserFilter{Name: "phone_verified", Bool: false}, []store.User{x.ada, x.byron}},
			{"full_name_fuzzy of the full name", store.UserFilter{Name: "full_name_fuzzy", Strings: []string{"ada king love"}}, []store.User{x.ada}},
			{"full_name_fuzzy without the middle name", store.UserFilter{Name: "full_name_fuzzy", Strings: []string{"ADA LOVELACE"}}, []store.User{x.ada}},
			{"full_name_fuzzy of one part", store.UserFilter{Name: "full_name_fuzzy", Strings: []string{"ur"}}, []store.User{x.alan}},
			{"email_address_fuzzy", store.UserFilter{Name: "email_address_fuzzy", Strings: []string{"EXAMPLE"}}, []store.User{x.ada, x.byron}},
			{"email_address_fuzzy treats % literally", store.UserFilter{Name: "email_address_fuzzy", Strings: []string{"a%b"}}, []store.User{x.byron}},
			{"email_address_fuzzy treats % as a character", store.UserFilter{Name: "email_address_fuzzy", Strings: []string{"a%e"}}, none},
			{"email_address_fuzzy matches _", store.UserFilter{Name: "email_address_fuzzy", Strings: []string{"e_h"}}, []store.User{x.grace}},
			{"email_address_fuzzy treats _ as a character", store.UserFilter{Name: "email_address_fuzzy", Strings: []string{"d_@"}}, none},
			{"phone_number_fuzzy", store.UserFilter{Name: "phone_number_fuzzy", Strings: []string{"0001111"}}, []store.User{x.ada}},
			{"oauth_provider", store.UserFilter{Name: "oauth_provider", Strings: []string{"google"}}, none},
			{"webauthn_registration_id", store.UserFilter{Name: "webauthn_registration_id", Strings: []string{"x"}}, none},
			{"crypto_wallet_id", store.UserFilter{Name: "crypto_wallet_id", Strings: []string{"x"}}, none},
			{"crypto_wallet_address", store.UserFilter{Name: "crypto_wallet_address", Strings: []string{"x"}}, none},
			{"totp_id", store.UserFilter{Name: "totp_id", Strings: []string{"x"}}, none},
			{"password_exists true", store.UserFilter{Name: "password_exists", Bool: true}, none},
			{"password_exists false", store.UserFilter{Name: "password_exists", Bool: false}, all},
			{"totp_verified true", store.UserFilter{Name: "totp_verified", Bool: true}, none},
			{"webauthn_registration_verified false", store.UserFilter{Name: "webauthn_registration_verified", Bool: false}, all},
			{"crypto_wallet_verified false", store.UserFilter{Name: "crypto_wallet_verified", Bool: false}, all},
		}
		for _, c := range cases {
			us, total, err := s.SearchUsers(ctx(), x.project, store.UserQuery{Operator: "AND", Filters: []store.UserFilter{c.f}}, store.Page{Limit: 100})
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			want := ordered(c.want...)
			if got := userIDs(us); !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", c.name, got, want)
			}
			if total != len(want) {
				t.Errorf("%s: total %d, want %d", c.name, total, len(want))
			}
		}
	}},
	{"SearchOperatorsCombineFilters", func(t *testing.T, s store.Store) {
		x := newSearchPeople(t, s)
		filters := []store.UserFilter{
			{Name: "status", Strings: []string{"active"}},
			{Name: "full_name_fuzzy", Strings: []string{"a"}},
			{Name: "email_address_fuzzy", Strings: []string{"example.com"}},
		}
		us, total, err := s.SearchUsers(ctx(), x.project, store.UserQuery{Operator: "AND", Filters: filters}, store.Page{Limit: 100})
		must(t, err)
		equal(t, "AND", strings.Join(userIDs(us), " "), x.ada.ID)
		equal(t, "AND total", total, 1)

		or := []store.UserFilter{
			{Name: "status", Strings: []string{"pending"}},
			{Name: "phone_number", Strings: []string{"+447700900123"}},
		}
		us, total, err = s.SearchUsers(ctx(), x.project, store.UserQuery{Operator: "OR", Filters: or}, store.Page{Limit: 1})
		must(t, err)
		want := ordered(x.grace, x.alan)
		equal(t, "OR first page", strings.Join(userIDs(us), " "), want[0])
		equal(t, "OR total ignores the page", total, 2)
	}},
}
