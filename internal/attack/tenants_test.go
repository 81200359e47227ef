package attack

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Test04Tenants (issue 8, point 4): project A's credentials against every
// id of project B (user, external id, email, phone, session id, session
// token, session JWT, magic link, embeddable link, passcode, invite) get
// 404 or 401 (a search: no results), never B's data, never a change to B.
// Mixed credentials fail. A revoked secret and a deleted project stop
// working at once, on every node.
func Test04Tenants(t *testing.T) {
	onBackends(t, func(t *testing.T, backend string) {
		n1, n2 := twoNodes(t, backend)
		pa, pb := n1.NewProject(t, "A"), n1.NewProject(t, "B")

		// Project B's things.
		addrB, numB, inviteeB := email("tenant-b"), phone(t), email("invitee-b")
		ub := user(t, pb, map[string]any{"email": addrB, "phone_number": numB, "external_id": "ext-b-" + backend,
			"trusted_metadata": map[string]any{"plan": "gold"}, "name": map[string]any{"first_name": "Bea"}})
		uid, eid, pid := ub.Str("user_id"), ub.Str("email_id"), ub.Str("phone_id")
		sess := sessionFor(t, pb, uid, 60)
		ok(t, pb, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": addrB})
		link := latchtest.LinkToken(t, n1.Mail.WaitFor(t, addrB, 1))
		embed := ok(t, pb, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": uid}).Str("token")
		ok(t, pb, http.MethodPost, "/v1/otps/sms/send", map[string]any{"phone_number": numB})
		code := latchtest.Code(t, n1.SMS.WaitFor(t, numB, 1).Body)
		invitee := ok(t, pb, http.MethodPost, "/v1/magic_links/email/invite", map[string]any{"email": inviteeB}).Str("user_id")
		before := ok(t, pb, http.MethodGet, "/v1/users/"+uid, nil)

		secretsOfB := []string{uid, eid, pid, "ext-b-" + backend, addrB, numB, sess.SessionID, sess.Token, sess.JWT, link, embed, invitee, inviteeB, "Bea", "gold"}
		leak := func(what string, r resp) {
			t.Helper()
			for _, s := range secretsOfB {
				if strings.Contains(string(r.Raw), s) {
					t.Errorf("%s: the reply carries project B's %q: %.300s", what, s, r.Raw)
				}
			}
		}

		// A's own login, to try attaching B's things to it.
		mine := newLogin(t, pa)
		myLink := ok(t, pa, http.MethodPost, "/v1/magic_links", map[string]any{"user_id": mine.UserID}).Str("token")

		type call struct {
			method, path string
			body         any
		}
		calls := []call{
			{http.MethodGet, "/v1/users/" + uid, nil},
			{http.MethodGet, "/v1/users/" + url.PathEscape("ext-b-"+backend), nil},
			{http.MethodPut, "/v1/users/" + uid, map[string]any{"name": map[string]any{"first_name": "Mallory"}, "trusted_metadata": map[string]any{"plan": "free"}}},
			{http.MethodPut, "/v1/users/" + url.PathEscape("ext-b-"+backend), map[string]any{"external_id": "stolen"}},
			{http.MethodDelete, "/v1/users/emails/" + eid, map[string]any{}},
			{http.MethodDelete, "/v1/users/phone_numbers/" + pid, map[string]any{}},
			{http.MethodGet, "/v1/sessions?user_id=" + uid, nil},
			{http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": sess.Token}},
			{http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": sess.JWT}},
			{http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": sess.Token, "session_duration_minutes": 5}},
			{http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_id": sess.SessionID}},
			{http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_token": sess.Token}},
			{http.MethodPost, "/v1/sessions/revoke", map[string]any{"session_jwt": sess.JWT}},
			{http.MethodPost, "/v1/sessions/revoke", map[string]any{"user_id": uid}},
			{http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link, "session_duration_minutes": 60}},
			{http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": embed, "session_duration_minutes": 60}},
			{http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": myLink, "session_token": sess.Token}},
			{http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": myLink, "session_jwt": sess.JWT}},
			{http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": pid, "code": code, "session_duration_minutes": 60}},
			{http.MethodPost, "/v1/magic_links", map[string]any{"user_id": uid}},
			{http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": email("attach"), "user_id": uid}},
			{http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": email("attach"), "session_token": sess.Token}},
			{http.MethodPost, "/v1/magic_links/email/send", map[string]any{"email": email("attach"), "session_jwt": sess.JWT}},
			{http.MethodPost, "/v1/otps/sms/send", map[string]any{"phone_number": phone(t), "user_id": uid}},
			{http.MethodPost, "/v1/otps/email/send", map[string]any{"email": email("attach"), "session_token": sess.Token}},
			{http.MethodPost, "/v1/magic_links/email/revoke_invite", map[string]any{"email": inviteeB}},
			{http.MethodDelete, "/v1/users/" + invitee, map[string]any{}},
			{http.MethodDelete, "/v1/users/" + uid, map[string]any{}},
		}
		for _, c := range calls {
			for i, p := range []latchtest.Project{pa, pa.On(n2)} {
				what := fmt.Sprintf("A on node %d: %s %s %v", i+1, c.method, c.path, c.body)
				r := do(t, p, c.method, c.path, c.body)
				attacksTried.Add(1)
				if r.Status != http.StatusNotFound && r.Status != http.StatusUnauthorized {
					t.Errorf("%s: want 404 or 401, got %d: %.300s", what, r.Status, r.Raw)
				}
				if e := envelopeErr(r); e != "" {
					t.Errorf("%s: %s", what, e)
				}
				leak(what, r)
			}
		}
		// A search by B's values finds nothing.
		for _, f := range []map[string]any{
			{"filter_name": "user_id", "filter_value": []string{uid}},
			{"filter_name": "email_address", "filter_value": []string{addrB}},
			{"filter_name": "email_id", "filter_value": []string{eid}},
			{"filter_name": "phone_number", "filter_value": []string{numB}},
			{"filter_name": "phone_id", "filter_value": []string{pid}},
			{"filter_name": "email_address_fuzzy", "filter_value": "tenant-b"},
			{"filter_name": "full_name_fuzzy", "filter_value": "Bea"},
		} {
			r := do(t, pa, http.MethodPost, "/v1/users/search", map[string]any{"query": map[string]any{"operator": "AND", "operands": []any{f}}})
			attacksTried.Add(1)
			if res, _ := r.Get("results").([]any); r.Status == http.StatusOK && len(res) != 0 {
				t.Errorf("search %v from A found %d users", f, len(res))
			}
			leak(fmt.Sprintf("search %v", f), r)
		}
		// Mixed credentials.
		for _, p := range []latchtest.Project{{ID: pa.ID, Secret: pb.Secret, URL: n1.URL}, {ID: pb.ID, Secret: pa.Secret, URL: n2.URL}} {
			r := do(t, p, http.MethodGet, "/v1/users/"+uid, nil)
			refused(t, "mixed credentials", r, http.StatusUnauthorized, "unauthorized_credentials")
			leak("mixed credentials", r)
		}

		// B lost nothing: same user, live session, usable link, embeddable
		// link and code (A's tries did not count against B's user), the
		// invitation still pending.
		after := ok(t, pb, http.MethodGet, "/v1/users/"+uid, nil)
		delete(before.Body, "request_id")
		delete(after.Body, "request_id")
		if fmt.Sprint(before.Body) != fmt.Sprint(after.Body) {
			t.Errorf("B's user changed:\nbefore %v\nafter  %v", before.Body, after.Body)
		}
		ok(t, pb, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": sess.Token})
		ok(t, pb.On(n2), http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": link})
		ok(t, pb, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": embed})
		ok(t, pb, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": pid, "code": code})
		if u := ok(t, pb, http.MethodGet, "/v1/users/"+invitee, nil); u.Str("status") != "pending" {
			t.Errorf("B's invitee: %s", u.Raw)
		}
		// A's link, refused when aimed at B's session, was not spent.
		ok(t, pa, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": myLink})

		t.Run("a revoked secret stops at once on every node", func(t *testing.T) {
			ctx := context.Background()
			p := n1.NewProject(t, "rotating")
			sid, sec, err := n1.App.Service.AddSecret(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			second := latchtest.Project{ID: p.ID, Secret: sec, URL: n2.URL}
			uid := user(t, second, map[string]any{"email": email("rot")}).Str("user_id")
			ok(t, second.On(n1), http.MethodGet, "/v1/users/"+uid, nil)
			if err := n1.App.Store.DeleteProjectSecret(ctx, p.ID, sid); err != nil {
				t.Fatal(err)
			}
			for _, n := range []*latchtest.Latch{n1, n2} {
				refused(t, "revoked secret", do(t, second.On(n), http.MethodGet, "/v1/users/"+uid, nil), http.StatusUnauthorized, "unauthorized_credentials")
				ok(t, p.On(n), http.MethodGet, "/v1/users/"+uid, nil)
			}
		})

		t.Run("a deleted project stops at once on every node", func(t *testing.T) {
			ctx := context.Background()
			p := n1.NewProject(t, "doomed")
			s := newLogin(t, p.On(n2))
			ok(t, p, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": s.JWT})
			if err := n1.App.Store.DeleteProject(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			for _, n := range []*latchtest.Latch{n1, n2} {
				q := p.On(n)
				refused(t, "deleted project: user", do(t, q, http.MethodGet, "/v1/users/"+s.UserID, nil), http.StatusUnauthorized, "unauthorized_credentials")
				refused(t, "deleted project: session token", do(t, q, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": s.Token}), http.StatusUnauthorized, "unauthorized_credentials")
				refused(t, "deleted project: session JWT", do(t, q, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": s.JWT}), http.StatusUnauthorized, "unauthorized_credentials")
				refused(t, "deleted project: JWKS", do(t, latchtest.Project{URL: n.URL}, http.MethodGet, "/v1/sessions/jwks/"+p.ID, nil), http.StatusNotFound, "")
			}
			// Nothing of it is left in the database.
			var rows int
			for _, table := range []string{"users", "sessions", "signing_keys", "project_secrets"} {
				var c int
				if err := n1.App.Store.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE project_id = "+placeholder(backend), p.ID).Scan(&c); err != nil {
					t.Fatalf("%s: %v", table, err)
				}
				rows += c
			}
			if rows != 0 {
				t.Errorf("%d rows of the deleted project remain", rows)
			}
		})
	})
}

// placeholder is the first bind parameter of the backend's SQL.
func placeholder(backend string) string {
	if backend == "postgres" {
		return "$1"
	}
	return "?"
}
