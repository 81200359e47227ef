// Package multinode proves that several `latch serve` processes on one
// PostgreSQL database act as one (issue 5): each test starts two real
// server processes on a fresh schema, with one master key, one SMTP server
// and one Twilio double, and talks to both over HTTP.
package multinode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// Phone numbers the tests send passcodes to (valid E.164 numbers).
const (
	phoneOnce = "+14155552671"
	phoneLock = "+14155550123"
)

const (
	sessionNotFound = "session_not_found"
	unableLink      = "unable_to_auth_magic_link"
	unableCode      = "unable_to_auth_otp_code"
	codeNotFound    = "otp_code_not_found"
	userLocked      = "user_lock_limit_reached"
	badCredentials  = "unauthorized_credentials"
	noRedirectMatch = "no_match_for_provided_magic_link_url"
)

// login is a session made by a magic link.
type login struct {
	UserID, SessionID, Token, JWT string
}

// magicLinkLogin sends a login link to email through node `send`, reads
// it from the SMTP server and redeems it on node `redeem`.
func magicLinkLogin(t *testing.T, c *cluster, p latchtest.Project, send, redeem int, email string) login {
	t.Helper()
	tok := latchtest.LinkToken(t, c.Mail.Next(t, email, func() {
		c.on(p, send).OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": email})
	}))
	r := c.on(p, redeem).OK(t, http.MethodPost, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
	return login{UserID: r.Str("user_id"), SessionID: r.Str("session.session_id"), Token: r.Str("session_token"), JWT: r.Str("session_jwt")}
}

// sessionCount is how many live sessions the user has, read on node i.
func sessionCount(t *testing.T, c *cluster, p latchtest.Project, i int, userID string) int {
	t.Helper()
	r := c.on(p, i).OK(t, http.MethodGet, "/v1/sessions?user_id="+userID, nil)
	ss, ok := r.Get("sessions").([]any)
	if !ok {
		t.Fatalf("sessions is not an array: %s", r.Raw)
	}
	return len(ss)
}

// TestSessionRevokedOnOneNodeFailsOnTheOther: a session revoked through one
// node fails on the other at its very next authenticate, by token and by
// JWT, while requests hammer the other node through the revocation.
func TestSessionRevokedOnOneNodeFailsOnTheOther(t *testing.T) {
	c := startCluster(t, 2)
	p := c.newProject(t)

	for round, nodes := range [][2]int{{0, 1}, {1, 0}, {0, 1}} {
		revoker, checker := nodes[0], nodes[1]
		l := magicLinkLogin(t, c, p, revoker, checker, fmt.Sprintf("revoke-%d@example.com", round))
		// The checker has seen the session, by token and JWT (and so holds
		// whatever it caches for it).
		for range 3 {
			c.on(p, checker).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": l.Token})
			c.on(p, checker).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": l.JWT})
		}

		// Hammer the checker while the revoker revokes.
		type try struct {
			start  time.Time
			status int
			etype  string
			err    error
		}
		var (
			mu    sync.Mutex
			tries []try
			stop  = make(chan struct{})
			wg    sync.WaitGroup
		)
		for w := range 4 {
			wg.Go(func() {
				body := map[string]any{"session_token": l.Token}
				if w%2 == 1 {
					body = map[string]any{"session_jwt": l.JWT}
				}
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					r := post(c.on(p, checker), "/v1/sessions/authenticate", body)
					mu.Lock()
					tries = append(tries, try{start, r.Status, r.ErrorType, r.Err})
					mu.Unlock()
				}
			})
		}
		time.Sleep(100 * time.Millisecond)
		var revoke map[string]any
		if round == 2 {
			revoke = map[string]any{"user_id": l.UserID} // Latch's revoke-all
		} else {
			revoke = map[string]any{"session_id": l.SessionID}
		}
		c.on(p, revoker).OK(t, http.MethodPost, "/v1/sessions/revoke", revoke)
		revoked := time.Now()
		// The very next requests, on the other node, fail.
		c.on(p, checker).Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": l.Token}, http.StatusNotFound, sessionNotFound)
		c.on(p, checker).Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": l.JWT}, http.StatusNotFound, sessionNotFound)
		time.Sleep(150 * time.Millisecond)
		close(stop)
		wg.Wait()

		before, after := 0, 0
		for _, tr := range tries {
			if tr.err != nil {
				t.Fatalf("round %d: authenticate on node %s: %v", round, c.Nodes[checker].Name, tr.err)
			}
			if tr.start.After(revoked) {
				after++
				if tr.status != http.StatusNotFound || tr.etype != sessionNotFound {
					t.Fatalf("round %d: authenticate on node %s started %v after the revoke answered: %d %s, want 404 %s",
						round, c.Nodes[checker].Name, tr.start.Sub(revoked), tr.status, tr.etype, sessionNotFound)
				}
			} else if tr.status == http.StatusOK {
				before++
			}
		}
		if before == 0 || after == 0 {
			t.Fatalf("round %d: the hammer saw %d successes before and %d tries after the revoke; want some of each", round, before, after)
		}
		t.Logf("round %d: revoked on %s; %d authenticates on %s succeeded before, all %d started after failed",
			round, c.Nodes[revoker].Name, before, c.Nodes[checker].Name, after)
		// The revoker agrees.
		c.on(p, revoker).Fail(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": l.Token}, http.StatusNotFound, sessionNotFound)
	}
}

// redeemAtOnce sends n copies of the same request, released together,
// alternately to each node, and returns the replies.
func redeemAtOnce(c *cluster, p latchtest.Project, n int, path string, body any) []reply {
	replies := make([]reply, n)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			replies[i] = post(c.on(p, i), path, body)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return replies
}

// exactlyOnce checks that one reply is 200 and every other is 401 with
// errorType, and that both nodes answered some of the failures.
func exactlyOnce(t *testing.T, c *cluster, replies []reply, errorType string) {
	t.Helper()
	ok := 0
	refusedBy := map[int]int{}
	for i, r := range replies {
		switch {
		case r.Err != nil:
			t.Fatalf("request %d: %v", i, r.Err)
		case r.Status == http.StatusOK:
			ok++
		case r.Status == http.StatusUnauthorized && r.ErrorType == errorType:
			refusedBy[i%len(c.Nodes)]++
		default:
			t.Fatalf("request %d (node %s): %d %s, want 200 once and 401 %s otherwise: %v",
				i, c.Nodes[i%len(c.Nodes)].Name, r.Status, r.ErrorType, errorType, r.Body)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d redemptions succeeded, want exactly 1", ok, len(replies))
	}
	for i := range c.Nodes {
		if refusedBy[i] == 0 {
			t.Fatalf("node %s refused none of the redemptions", c.Nodes[i].Name)
		}
	}
}

// TestOneMagicLinkRedeemedOnTwoNodesAtOnceSucceedsOnce: 50 redemptions of
// one link, released together and split across the nodes: exactly one
// session results.
func TestOneMagicLinkRedeemedOnTwoNodesAtOnceSucceedsOnce(t *testing.T) {
	c := startCluster(t, 2)
	p := c.newProject(t)
	for round := range 3 {
		email := fmt.Sprintf("once-%d@example.com", round)
		sent := c.on(p, round).OK(t, http.MethodPost, "/v1/magic_links/email/login_or_create", map[string]any{"email": email})
		tok := latchtest.LinkToken(t, c.Mail.WaitFor(t, email, 1))
		replies := redeemAtOnce(c, p, 50, "/v1/magic_links/authenticate", map[string]any{"token": tok, "session_duration_minutes": 60})
		exactlyOnce(t, c, replies, unableLink)
		for i := range c.Nodes {
			if n := sessionCount(t, c, p, i, sent.Str("user_id")); n != 1 {
				t.Fatalf("round %d: node %s lists %d sessions, want 1", round, c.Nodes[i].Name, n)
			}
		}
	}
}

// TestOneCodeRedeemedOnTwoNodesAtOnceSucceedsOnce: 50 redemptions of one
// passcode, released together and split across the nodes: exactly one
// succeeds.
func TestOneCodeRedeemedOnTwoNodesAtOnceSucceedsOnce(t *testing.T) {
	c := startCluster(t, 2)
	p := c.newProject(t)
	for round := range 3 {
		sent := c.on(p, round).OK(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": phoneOnce})
		code := latchtest.Code(t, c.SMS.WaitFor(t, phoneOnce, round+1).Body)
		replies := redeemAtOnce(c, p, 50, "/v1/otps/authenticate", map[string]any{
			"method_id": sent.Str("phone_id"), "code": code, "session_duration_minutes": 60,
		})
		exactlyOnce(t, c, replies, unableCode)
		for i := range c.Nodes {
			if n := sessionCount(t, c, p, i, sent.Str("user_id")); n != round+1 {
				t.Fatalf("round %d: node %s lists %d sessions, want %d", round, c.Nodes[i].Name, n, round+1)
			}
		}
	}
}

// wrongCode is a six-digit code other than code.
func wrongCode(code string, n int) string {
	v, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (v+1+n)%1000000)
}

// TestWrongCodesOnTwoNodesCountTowardOneLock: wrong passcodes tried on both
// nodes, some at the same instant, count toward one code's 5-try limit and
// one user's lock (10 failures) without losing a count.
func TestWrongCodesOnTwoNodesCountTowardOneLock(t *testing.T) {
	c := startCluster(t, 2)
	p := c.newProject(t)
	A, B := c.on(p, 0), c.on(p, 1)

	// wrongTries sends four wrong codes at once, two to each node, then a
	// fifth to node last. A lost update would leave the code alive or the
	// user unlocked below.
	wrongTries := func(methodID, code string, last latchtest.Project) {
		t.Helper()
		replies := make([]reply, 4)
		var wg sync.WaitGroup
		for i := range replies {
			wg.Go(func() {
				replies[i] = post(c.on(p, i), "/v1/otps/authenticate", map[string]any{"method_id": methodID, "code": wrongCode(code, i)})
			})
		}
		wg.Wait()
		for i, r := range replies {
			if r.Err != nil || r.Status != http.StatusNotFound || r.ErrorType != codeNotFound {
				t.Fatalf("wrong code %d on node %s: %d %s %v, want 404 %s", i, c.Nodes[i%2].Name, r.Status, r.ErrorType, r.Err, codeNotFound)
			}
		}
		last.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": methodID, "code": wrongCode(code, 4)}, http.StatusNotFound, codeNotFound)
	}

	// Five wrong tries across the nodes kill the code: the right one is
	// refused on both.
	sent := A.OK(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": phoneLock})
	methodID := sent.Str("phone_id")
	code1 := latchtest.Code(t, c.SMS.WaitFor(t, phoneLock, 1).Body)
	wrongTries(methodID, code1, B)
	for _, n := range []latchtest.Project{A, B} {
		n.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": methodID, "code": code1}, http.StatusUnauthorized, unableCode)
	}

	// A new code, five more wrong tries across the nodes: ten failures in
	// a row lock the user, on both nodes, even with the right code.
	B.OK(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": phoneLock})
	code2 := latchtest.Code(t, c.SMS.WaitFor(t, phoneLock, 2).Body)
	wrongTries(methodID, code2, A)
	for _, n := range []latchtest.Project{B, A} {
		n.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": methodID, "code": code2}, http.StatusTooManyRequests, userLocked)
	}

	// A code sent after the lock is refused too, on both nodes.
	A.OK(t, http.MethodPost, "/v1/otps/sms/login_or_create", map[string]any{"phone_number": phoneLock})
	code3 := latchtest.Code(t, c.SMS.WaitFor(t, phoneLock, 3).Body)
	for _, n := range []latchtest.Project{A, B} {
		n.Fail(t, http.MethodPost, "/v1/otps/authenticate", map[string]any{"method_id": methodID, "code": code3, "session_duration_minutes": 60}, http.StatusTooManyRequests, userLocked)
	}
	for i := range c.Nodes {
		if n := sessionCount(t, c, p, i, sent.Str("user_id")); n != 0 {
			t.Fatalf("node %s lists %d sessions of the locked user, want 0", c.Nodes[i].Name, n)
		}
	}
}

// TestProjectSecretAndRedirectURLMadeOnOneNodeWorkOnTheOther: projects,
// secrets and redirect URLs changed by `latch project …` (a third process
// on the same database) take effect on both nodes at once, and a revoked
// secret is refused on both at once.
func TestProjectSecretAndRedirectURLMadeOnOneNodeWorkOnTheOther(t *testing.T) {
	c := startCluster(t, 2)
	// Both nodes have served the project before anything changes.
	p := c.newProject(t)
	for i := range c.Nodes {
		c.on(p, i).OK(t, http.MethodPost, "/v1/users", map[string]any{"email": fmt.Sprintf("first-%d@example.com", i)})
	}

	// A second project, made while the nodes run, works on both at once.
	q := c.newProject(t)
	for i := range c.Nodes {
		c.on(q, i).OK(t, http.MethodPost, "/v1/users", map[string]any{"email": fmt.Sprintf("new-project-%d@example.com", i)})
	}

	// A redirect URL added works on both at once; removed, it is refused on
	// both at once.
	const extra = "https://second.example/authenticate"
	send := func(i int, email string) reply {
		return post(c.on(p, i), "/v1/magic_links/email/login_or_create", map[string]any{"email": email, "login_magic_link_url": extra, "signup_magic_link_url": extra})
	}
	for i := range c.Nodes {
		if r := send(i, fmt.Sprintf("redirect-before-%d@example.com", i)); r.Status != http.StatusBadRequest || r.ErrorType != noRedirectMatch {
			t.Fatalf("node %s before the URL is added: %d %s %v, want 400 %s", c.Nodes[i].Name, r.Status, r.ErrorType, r.Err, noRedirectMatch)
		}
	}
	c.cli(t, "project", "redirect-urls", "add", "--project", p.ID, extra)
	for i := range c.Nodes {
		if r := send(i, fmt.Sprintf("redirect-added-%d@example.com", i)); r.Status != http.StatusOK {
			t.Fatalf("node %s right after the URL was added: %d %s %v, want 200", c.Nodes[i].Name, r.Status, r.ErrorType, r.Err)
		}
	}
	c.cli(t, "project", "redirect-urls", "remove", "--project", p.ID, extra)
	for i := range c.Nodes {
		if r := send(i, fmt.Sprintf("redirect-removed-%d@example.com", i)); r.Status != http.StatusBadRequest || r.ErrorType != noRedirectMatch {
			t.Fatalf("node %s right after the URL was removed: %d %s %v, want 400 %s", c.Nodes[i].Name, r.Status, r.ErrorType, r.Err, noRedirectMatch)
		}
	}

	// A new secret works on both at once; the old one keeps working until
	// revoked, then is refused on both at once.
	var rotated struct {
		SecretID string `json:"secret_id"`
		Secret   string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(c.cli(t, "project", "rotate-secret", "--project", p.ID, "--json")), &rotated); err != nil || rotated.Secret == "" {
		t.Fatalf("rotate-secret: %v %+v", err, rotated)
	}
	newer := p
	newer.Secret = rotated.Secret
	for i := range c.Nodes {
		c.on(newer, i).OK(t, http.MethodGet, "/v1/sessions/jwks/"+p.ID, nil)
		c.on(newer, i).OK(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": 1})
		c.on(p, i).OK(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": 1})
	}
	var listed []struct {
		ProjectID string   `json:"project_id"`
		SecretIDs []string `json:"secret_ids"`
	}
	if err := json.Unmarshal([]byte(c.cli(t, "project", "list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	oldID := ""
	for _, pr := range listed {
		if pr.ProjectID != p.ID {
			continue
		}
		for _, id := range pr.SecretIDs {
			if id != rotated.SecretID {
				oldID = id
			}
		}
	}
	if oldID == "" {
		t.Fatalf("project list shows no old secret id for %s: %+v", p.ID, listed)
	}
	c.cli(t, "project", "rotate-secret", "--project", p.ID, "--revoke-secret", oldID)
	for i := range c.Nodes {
		c.on(p, i).Fail(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": 1}, http.StatusUnauthorized, badCredentials)
		c.on(newer, i).OK(t, http.MethodPost, "/v1/users/search", map[string]any{"limit": 1})
	}
}

// jwksKeys fetches a project's JWKS from node i and returns its "keys"
// exactly as served, and their kids.
func jwksKeys(t *testing.T, c *cluster, i int, projectID string) (json.RawMessage, []string) {
	t.Helper()
	status, body := get(t, c.Nodes[i].URL+"/v1/sessions/jwks/"+projectID)
	if status != http.StatusOK {
		t.Fatalf("JWKS on node %s: %d %s", c.Nodes[i].Name, status, body)
	}
	var set struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var keys []struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(set.Keys, &keys); err != nil {
		t.Fatal(err)
	}
	kids := make([]string, 0, len(keys))
	for _, k := range keys {
		kids = append(kids, k.Kid)
	}
	return set.Keys, kids
}

// kidOf reads the kid of a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	head, _, ok := strings.Cut(jwt, ".")
	if !ok {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return h.Kid
}

// freshJWT has node i extend the session and returns the JWT minted for
// that answer.
func freshJWT(t *testing.T, c *cluster, p latchtest.Project, i int, token string) string {
	t.Helper()
	r := c.on(p, i).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token, "session_duration_minutes": 60})
	return r.Str("session_jwt")
}

// plainJWT is the JWT node i answers for the session when nothing about
// it changes (minted for that answer too).
func plainJWT(t *testing.T, c *cluster, p latchtest.Project, i int, token string) string {
	t.Helper()
	r := c.on(p, i).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_token": token})
	return r.Str("session_jwt")
}

var newKeyLine = regexp.MustCompile(`new signing key (\S+)`)

// rotationLead is the lead given to `latch keys rotate` here (10 minutes by
// default): longer than keys.CacheTTL, so every node has read the new key
// before it signs.
const rotationLead = 3 * time.Second

// TestNodesShareJWKSAndSwitchKeysTogetherAfterTheLead: both nodes publish
// the same JWKS and sign with the same key; after `latch keys rotate
// --lead 3s` both publish the new key within seconds while still signing
// with the old one, then both sign with the new key once the lead is over,
// and a JWT minted on one verifies on the other.
func TestNodesShareJWKSAndSwitchKeysTogetherAfterTheLead(t *testing.T) {
	c := startCluster(t, 2)
	p := c.newProject(t)

	keysA, kidsA := jwksKeys(t, c, 0, p.ID)
	keysB, _ := jwksKeys(t, c, 1, p.ID)
	if !bytes.Equal(keysA, keysB) {
		t.Fatalf("the nodes publish different JWKS:\nA: %s\nB: %s", keysA, keysB)
	}
	if len(kidsA) != 1 {
		t.Fatalf("a new project has %d keys, want 1: %v", len(kidsA), kidsA)
	}
	oldKID := kidsA[0]

	l := magicLinkLogin(t, c, p, 0, 0, "jwks@example.com")
	for i := range c.Nodes {
		if kid := kidOf(t, freshJWT(t, c, p, i, l.Token)); kid != oldKID {
			t.Fatalf("node %s signs with %s, want the JWKS key %s", c.Nodes[i].Name, kid, oldKID)
		}
	}
	// A JWT minted on one node verifies on the other.
	for i := range c.Nodes {
		jwt := freshJWT(t, c, p, i, l.Token)
		other := (i + 1) % len(c.Nodes)
		r := c.on(p, other).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": jwt})
		if r.Str("session.session_id") != l.SessionID {
			t.Fatalf("node %s verified node %s's JWT as session %q, want %q", c.Nodes[other].Name, c.Nodes[i].Name, r.Str("session.session_id"), l.SessionID)
		}
	}

	// A second session that is only ever checked, never changed.
	steady := magicLinkLogin(t, c, p, 1, 1, "jwks-steady@example.com")
	for i := range c.Nodes {
		if kid := kidOf(t, plainJWT(t, c, p, i, steady.Token)); kid != oldKID {
			t.Fatalf("node %s signs with %s, want the JWKS key %s", c.Nodes[i].Name, kid, oldKID)
		}
	}

	// Rotate with the CLI, a third process, while both nodes hold the old
	// key in their caches.
	rotateStart := time.Now()
	out := c.cli(t, "keys", "rotate", "--project", p.ID, "--lead", rotationLead.String())
	rotated := time.Now()
	m := newKeyLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed %q", out)
	}
	newKID := m[1]

	// Poll both nodes for JWTs, for a changed and an unchanged session,
	// until each carries the new key; until then each node's JWKS must
	// already publish the new key once it has read it. The first JWT with
	// the new key is at once checked on the other node.
	switched := make([]time.Duration, len(c.Nodes))
	crossChecked := false
	deadline := rotateStart.Add(rotationLead + 8*time.Second)
	published := false
	for {
		pending := 0
		for i := range c.Nodes {
			if switched[i] != 0 {
				continue
			}
			jwt := freshJWT(t, c, p, i, l.Token)
			kid := kidOf(t, jwt)
			if kid == newKID {
				// A JWT served for the unchanged session carries the new
				// key too: no JWT minted before the rotation is handed out.
				kid = kidOf(t, plainJWT(t, c, p, i, steady.Token))
			}
			switch kid {
			case newKID:
				switched[i] = time.Since(rotateStart)
				if _, kids := jwksKeys(t, c, i, p.ID); !slices.Contains(kids, newKID) {
					t.Fatalf("node %s signs with %s, which its JWKS does not publish: %v", c.Nodes[i].Name, newKID, kids)
				}
				if !crossChecked {
					other := (i + 1) % len(c.Nodes)
					c.on(p, other).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": jwt})
					crossChecked = true
				}
			case oldKID:
				pending++
			default:
				t.Fatalf("node %s signs with %s, neither the old key %s nor the new %s", c.Nodes[i].Name, kid, oldKID, newKID)
			}
		}
		if pending == 0 {
			break
		}
		if !published {
			_, k0 := jwksKeys(t, c, 0, p.ID)
			_, k1 := jwksKeys(t, c, 1, p.ID)
			published = slices.Contains(k0, newKID) && slices.Contains(k1, newKID)
			if published {
				t.Logf("both nodes publish the new key %v after the rotation began, before either signs with it", time.Since(rotateStart).Round(time.Millisecond))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("8 s after the lead ended, nodes still sign with the old key: %v", switched)
		}
		time.Sleep(25 * time.Millisecond)
	}
	for i, d := range switched {
		t.Logf("node %s signed with the new key %v after the rotation began (%v after `latch keys rotate` returned)",
			c.Nodes[i].Name, d.Round(time.Millisecond), (d - rotated.Sub(rotateStart)).Round(time.Millisecond))
		if d < rotationLead || d > rotationLead+2*time.Second {
			t.Errorf("node %s signed with the new key %v after the rotation began, want after the %v lead and within 2 s of its end", c.Nodes[i].Name, d, rotationLead)
		}
	}

	// Both nodes publish the same JWKS again: the new key first, the old
	// one kept for its grace so that outstanding JWTs verify.
	keysA, kidsA = jwksKeys(t, c, 0, p.ID)
	keysB, _ = jwksKeys(t, c, 1, p.ID)
	if !bytes.Equal(keysA, keysB) {
		t.Fatalf("after the rotation the nodes publish different JWKS:\nA: %s\nB: %s", keysA, keysB)
	}
	if len(kidsA) != 2 || kidsA[0] != newKID || kidsA[1] != oldKID {
		t.Fatalf("JWKS kids after rotation: %v, want [%s %s]", kidsA, newKID, oldKID)
	}
	// A JWT signed with the old key still verifies on both nodes, and new
	// ones from each node verify on the other.
	for i := range c.Nodes {
		c.on(p, i).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": l.JWT})
		jwt := freshJWT(t, c, p, i, l.Token)
		c.on(p, (i+1)%len(c.Nodes)).OK(t, http.MethodPost, "/v1/sessions/authenticate", map[string]any{"session_jwt": jwt})
	}
}

// waitForMail waits (up to 30 s) until at least n messages have arrived.
func waitForMail(t *testing.T, c *cluster, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(c.Mail.Messages()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived within 30 s", len(c.Mail.Messages()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOnce fails unless the SMTP server got exactly one message for each
// of addrs and nothing else.
func checkOnce(t *testing.T, c *cluster, addrs []string) {
	t.Helper()
	got := map[string]int{}
	msgs := c.Mail.Messages()
	for _, m := range msgs {
		got[strings.ToLower(m.To)]++
	}
	for _, a := range addrs {
		if got[a] != 1 {
			t.Errorf("%s got %d messages, want 1", a, got[a])
		}
		delete(got, a)
	}
	for a, n := range got {
		t.Errorf("%d unexpected messages to %s", n, a)
	}
	if len(msgs) != len(addrs) {
		t.Fatalf("the SMTP server got %d messages, want %d", len(msgs), len(addrs))
	}
}

// enqueue sends magic links to addrs through both nodes in turn, 10
// requests at a time, and returns when every one is queued (answered 200).
func enqueue(t *testing.T, c *cluster, p latchtest.Project, addrs []string, nodes ...int) {
	t.Helper()
	errs := make([]error, len(addrs))
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for i, a := range addrs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := post(c.on(p, nodes[i%len(nodes)]), "/v1/magic_links/email/login_or_create", map[string]any{"email": a})
			if r.Err != nil || r.Status != http.StatusOK {
				errs[i] = fmt.Errorf("login_or_create %s: %d %s %v", a, r.Status, r.ErrorType, r.Err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

var sentMetric = regexp.MustCompile(`(?m)^latch_outbox_deliveries_total\{channel="email",result="sent"\} (\d+)`)

// sentBy reads how many emails node i delivered, from its /metrics.
func sentBy(t *testing.T, c *cluster, i int) int {
	t.Helper()
	_, body := get(t, c.Nodes[i].MetricsURL+"/metrics")
	m := sentMetric.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// outboxRow is one row of `latch outbox --json`.
type outboxRow struct {
	To       string     `json:"to"`
	SentAt   *time.Time `json:"sent_at"`
	Attempts int        `json:"attempts"`
}

// TestEachMessageIsDeliveredOnceWhicheverNodesRun: 100 messages queued
// through both nodes, whose senders both run, reach the SMTP server once
// each; so do 40 queued while the SMTP server refuses (a backlog both
// nodes retry at the same moments), and 10 more once node A has stopped.
func TestEachMessageIsDeliveredOnceWhicheverNodesRun(t *testing.T) {
	c := startCluster(t, 2)
	p := c.newProject(t)
	addrs := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%03d@example.com", prefix, i)
		}
		return out
	}
	// settle gives the senders time (several poll rounds) to send a
	// message twice, were they to.
	const settle = time.Second

	// 1. Both nodes queue and both send.
	all := addrs("deliver", 100)
	start := time.Now()
	enqueue(t, c, p, all, 0, 1)
	waitForMail(t, c, len(all))
	elapsed := time.Since(start)
	time.Sleep(settle)
	checkOnce(t, c, all)
	a, b := sentBy(t, c, 0), sentBy(t, c, 1)
	t.Logf("100 messages queued and delivered in %v: node A sent %d, node B %d", elapsed.Round(time.Millisecond), a, b)
	if a+b != len(all) {
		t.Fatalf("the nodes count %d + %d deliveries, want %d", a, b, len(all))
	}

	// 2. A backlog: the SMTP server refuses while 40 messages are queued,
	// so every one fails once and comes due again about a second later,
	// when both nodes' senders look for due messages.
	c.Mail.Refuse(true)
	backlog := addrs("backlog", 40)
	enqueue(t, c, p, backlog, 1, 0)
	time.Sleep(500 * time.Millisecond)
	c.Mail.Refuse(false)
	all = append(all, backlog...)
	waitForMail(t, c, len(all))
	time.Sleep(settle)
	checkOnce(t, c, all)

	// 3. Node A stops (gracefully, finishing what it claimed); node B
	// alone delivers what comes next.
	c.Nodes[0].stop()
	last := addrs("alone", 10)
	enqueue(t, c, p, last, 1)
	all = append(all, last...)
	waitForMail(t, c, len(all))
	time.Sleep(settle)
	checkOnce(t, c, all)

	// The outbox agrees: every message is marked sent, and none of the
	// first 100 (delivered without failure) was claimed twice.
	var rows []outboxRow
	if err := json.Unmarshal([]byte(c.cli(t, "outbox", "--json", "--limit", "1000")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(all) {
		t.Fatalf("the outbox holds %d messages, want %d", len(rows), len(all))
	}
	for _, r := range rows {
		if r.SentAt == nil {
			t.Errorf("message to %s is not marked sent", r.To)
		}
		if strings.HasPrefix(r.To, "deliver-") && r.Attempts != 1 {
			t.Errorf("message to %s was claimed %d times, want 1", r.To, r.Attempts)
		}
	}
}
