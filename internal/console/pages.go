package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/store"
)

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /console/console.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(c.css)
	})
	m.HandleFunc("GET /console/sign-in", c.signInPage)
	m.HandleFunc("POST /console/sign-in", c.signIn)
	m.HandleFunc("GET /console/sign-in/confirm", c.confirmPage)
	m.HandleFunc("POST /console/sign-in/confirm", c.confirm)
	m.HandleFunc("POST /console/sign-out", c.signedIn(c.signOut))

	m.HandleFunc("GET /console/{$}", c.signedIn(c.home))
	m.HandleFunc("GET /console/projects", c.signedIn(c.projects))
	m.HandleFunc("POST /console/projects", c.signedIn(c.createProject))
	m.HandleFunc("GET /console/projects/{pid}", c.signedIn(c.withProject(c.project)))
	m.HandleFunc("POST /console/projects/{pid}/secrets", c.signedIn(c.withProject(c.createSecret)))
	m.HandleFunc("POST /console/projects/{pid}/secrets/{sid}/revoke", c.signedIn(c.withProject(c.revokeSecret)))
	m.HandleFunc("POST /console/projects/{pid}/redirect-urls", c.signedIn(c.withProject(c.addRedirectURL)))
	m.HandleFunc("POST /console/projects/{pid}/redirect-urls/remove", c.signedIn(c.withProject(c.removeRedirectURL)))
	m.HandleFunc("POST /console/projects/{pid}/settings", c.signedIn(c.withProject(c.saveSettings)))
	m.HandleFunc("POST /console/projects/{pid}/keys/rotate", c.signedIn(c.withProject(c.rotateKey)))
	m.HandleFunc("GET /console/projects/{pid}/users", c.signedIn(c.withProject(c.users)))
	m.HandleFunc("GET /console/projects/{pid}/users/{uid}", c.signedIn(c.withProject(c.user)))
	m.HandleFunc("POST /console/projects/{pid}/users/{uid}/delete", c.signedIn(c.withProject(c.deleteUser)))
	m.HandleFunc("POST /console/projects/{pid}/users/{uid}/sessions/revoke-all", c.signedIn(c.withProject(c.revokeAll)))
	m.HandleFunc("POST /console/projects/{pid}/users/{uid}/sessions/{sid}/revoke", c.signedIn(c.withProject(c.revokeSession)))
	m.HandleFunc("GET /console/projects/{pid}/sessions", c.signedIn(c.withProject(c.recentSessions)))
	m.HandleFunc("GET /console/outbox", c.signedIn(c.outbox))
	m.HandleFunc("POST /console/outbox/{id}/retry", c.signedIn(c.retryMessage))
	m.HandleFunc("GET /console/audit", c.signedIn(c.auditLog))
	c.sdkRoutes()
}

// withProject reads the project named by {pid}.
func (c *Console) withProject(h func(http.ResponseWriter, *http.Request, *visit, store.Project)) func(http.ResponseWriter, *http.Request, *visit) {
	return func(w http.ResponseWriter, r *http.Request, v *visit) {
		p, err := c.svc.Store().GetProject(r.Context(), r.PathValue("pid"))
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		h(w, r, v, p)
	}
}

func projectURL(p store.Project, rest string) string { return Prefix + "projects/" + p.ID + rest }

// health is the home page's numbers.
type health struct {
	LiveSessions    int
	LoginsPerMinute int
	Backlog         int
	Signer          string
	Projects        []store.Project
}

// home is GET /console/: health, and the projects.
func (c *Console) home(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	st := c.svc.Store()
	now := c.svc.Now()
	var h health
	var err error
	if h.LiveSessions, err = st.CountLiveSessions(ctx, now); err != nil {
		c.fail(w, r, v, err)
		return
	}
	if h.Backlog, err = st.CountPendingMessages(ctx); err != nil {
		c.fail(w, r, v, err)
		return
	}
	if h.Projects, err = st.ListProjects(ctx); err != nil {
		c.fail(w, r, v, err)
		return
	}
	for _, p := range h.Projects {
		n, err := c.data.CountSessionsStartedSince(ctx, p.ID, now.Add(-time.Minute))
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		h.LoginsPerMinute += n
	}
	h.Signer = keys.SignerName()
	c.page(w, v, "home", "home", "Health", h, "")
}

// projects is GET /console/projects.
func (c *Console) projects(w http.ResponseWriter, r *http.Request, v *visit) {
	ps, err := c.svc.Store().ListProjects(r.Context())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.page(w, v, "projects", "projects", "Projects", ps, "")
}

// createProject is POST /console/projects; the new secret is shown once,
// on the project's page.
func (c *Console) createProject(w http.ResponseWriter, r *http.Request, v *visit) {
	var urls []string
	if u := strings.TrimSpace(r.PostForm.Get("redirect_url")); u != "" {
		urls = append(urls, u)
	}
	cp, err := c.svc.CreateProject(r.Context(), auth.NewProject{Name: r.PostForm.Get("name"), Live: r.PostForm.Get("live") == "on", RedirectURLs: urls})
	if err != nil {
		c.fail(w, r, v, asInput(err))
		return
	}
	c.audit(r, v.Session.Email, "project.create", cp.Project.ID)
	c.showProject(w, r, v, cp.Project, &newSecret{ID: cp.SecretID, Secret: cp.Secret}, "Project created.")
}

// asInput marks a plain (non-auth, non-store) error as the operator's.
func asInput(err error) error {
	var ae *auth.Error
	if errors.As(err, &ae) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return badInput("%s", err.Error())
}

type newSecret struct{ ID, Secret string }

// projectData is the project page.
type projectData struct {
	Project      store.Project
	Secrets      []store.ProjectSecret
	RedirectURLs []store.RedirectURL
	Keys         []store.SigningKey
	NewSecret    *newSecret
	Now          time.Time
	LockTTL      string
	SDK          any // public tokens and SDK origins, when the store has them
}

// project is GET /console/projects/{pid}.
func (c *Console) project(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	c.showProject(w, r, v, p, nil, "")
}

func (c *Console) showProject(w http.ResponseWriter, r *http.Request, v *visit, p store.Project, ns *newSecret, flash string) {
	ctx := r.Context()
	st := c.svc.Store()
	d := projectData{Project: p, NewSecret: ns, Now: c.svc.Now(), LockTTL: p.LockTTL.String()}
	var err error
	if d.Secrets, err = st.ListProjectSecrets(ctx, p.ID); err == nil {
		if d.RedirectURLs, err = st.ListRedirectURLs(ctx, p.ID); err == nil {
			if d.Keys, err = st.ListSigningKeys(ctx, p.ID, d.Now); err == nil {
				d.SDK, err = c.sdkData(ctx, p)
			}
		}
	}
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.page(w, v, "project", "projects", p.Name, d, flash)
}

func (c *Console) createSecret(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	id, sec, err := c.svc.AddSecret(r.Context(), p.ID)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "secret.create", p.ID+" "+id)
	c.showProject(w, r, v, p, &newSecret{ID: id, Secret: sec}, "Secret created. Copy it now: it is shown only this once.")
}

func (c *Console) revokeSecret(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	id := r.PathValue("sid")
	if err := c.svc.RevokeSecret(r.Context(), p.ID, id); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "secret.revoke", p.ID+" "+id)
	c.showProject(w, r, v, p, nil, "Secret "+id+" revoked.")
}

func (c *Console) addRedirectURL(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	u := strings.TrimSpace(r.PostForm.Get("url"))
	if err := c.svc.AddRedirectURL(r.Context(), p.ID, u); err != nil {
		c.fail(w, r, v, asInput(err))
		return
	}
	c.audit(r, v.Session.Email, "redirect-url.add", p.ID+" "+u)
	c.showProject(w, r, v, p, nil, "Redirect URL added.")
}

func (c *Console) removeRedirectURL(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	u := r.PostForm.Get("url")
	if err := c.svc.RemoveRedirectURL(r.Context(), p.ID, u); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "redirect-url.remove", p.ID+" "+u)
	c.showProject(w, r, v, p, nil, "Redirect URL removed.")
}

func (c *Console) saveSettings(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	f := r.PostForm
	var set auth.ProjectSettings
	if n := strings.TrimSpace(f.Get("name")); n != "" {
		set.Name = &n
	}
	ints := []struct {
		field string
		dst   **int
	}{{"lock_threshold", &set.LockThreshold}, {"recipient_sends_per_minute", &set.RecipientSendsPerMinute}, {"project_sends_per_minute", &set.ProjectSendsPerMinute}}
	for _, it := range ints {
		if s := strings.TrimSpace(f.Get(it.field)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				c.fail(w, r, v, badInput("%s must be a whole number", it.field))
				return
			}
			*it.dst = &n
		}
	}
	if s := strings.TrimSpace(f.Get("lock_ttl")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			c.fail(w, r, v, badInput("lock TTL must be a duration such as 1h or 30m"))
			return
		}
		set.LockTTL = &d
	}
	np, err := c.svc.UpdateProjectSettings(r.Context(), p.ID, set)
	if err != nil {
		c.fail(w, r, v, asInput(err))
		return
	}
	c.audit(r, v.Session.Email, "project.settings", p.ID)
	c.showProject(w, r, v, np, nil, "Settings saved.")
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	lead := keys.DefaultLead
	if r.PostForm.Get("lead") == "now" {
		lead = 0
	}
	k, err := c.svc.Keys().RotateWithLead(r.Context(), p.ID, p.Live, lead, keys.DefaultGrace)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "key.rotate", p.ID+" "+k.KID+" lead="+lead.String())
	c.showProject(w, r, v, p, nil, "New signing key "+k.KID+" is in the JWKS now and signs from "+k.ActiveFrom().UTC().Format(time.RFC3339)+".")
}

// usersData is the search page.
type usersData struct {
	Project store.Project
	Query   string
	Users   []store.User
	Total   int
	Cursor  string
	Error   string
}

// users is GET /console/projects/{pid}/users?q=…: an id or external id
// opens that user; anything else is a fuzzy search of emails, phone
// numbers and names (the API's users/search).
func (c *Console) users(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := usersData{Project: p, Query: q}
	res, err := c.searchUsers(r.Context(), p, q, r.URL.Query().Get("cursor"))
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			c.fail(w, r, v, err)
			return
		}
		d.Error = ae.Message
	}
	d.Users, d.Total, d.Cursor = res.Users, res.Total, res.NextCursor
	c.page(w, v, "users", "projects", "Users of "+p.Name, d, "")
}

const usersPerPage = 50

func (c *Console) searchUsers(ctx context.Context, p store.Project, q, cursor string) (auth.SearchResult, error) {
	limit := usersPerPage
	req := auth.SearchRequest{Limit: &limit, Cursor: cursor}
	if q != "" {
		if len([]rune(q)) > auth.MaxFuzzyLength {
			return auth.SearchResult{}, &auth.Error{Status: 400, Type: "invalid_query", Message: "The search is too long."}
		}
		// An id or external id names one user.
		if u, err := c.svc.GetUser(ctx, p, q); err == nil {
			return auth.SearchResult{Users: []store.User{u}, Total: 1}, nil
		}
		one, _ := json.Marshal(q)
		ops := []auth.SearchOperand{
			{FilterName: store.FilterEmailAddressFuzzy, FilterValue: one},
			{FilterName: store.FilterFullNameFuzzy, FilterValue: one},
		}
		if e, err := auth.NormalizeEmail(q); err == nil {
			el, _ := json.Marshal([]string{e})
			ops = append(ops, auth.SearchOperand{FilterName: store.FilterEmailAddress, FilterValue: el})
		}
		if n, err := auth.NormalizePhone(q); err == nil {
			nl, _ := json.Marshal([]string{n})
			ops = append(ops, auth.SearchOperand{FilterName: store.FilterPhoneNumber, FilterValue: nl})
		}
		if digits := strings.Trim(q, "+ "); digits != "" && strings.Trim(digits, "0123456789") == "" {
			d, _ := json.Marshal(digits)
			ops = append(ops, auth.SearchOperand{FilterName: store.FilterPhoneNumberFuzzy, FilterValue: d})
		}
		req.Query = &auth.SearchQuery{Operator: "OR", Operands: ops}
	}
	return c.svc.SearchUsers(ctx, p, req)
}

// userData is a user's page.
type userData struct {
	Project  store.Project
	User     store.User
	Sessions []store.Session
	Locked   bool
	Trusted  string
	Untrusty string
}

// user is GET /console/projects/{pid}/users/{uid}.
func (c *Console) user(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	flash := ""
	switch q := r.URL.Query(); {
	case q.Get("revoked") == "all":
		flash = "Every session of this user was revoked."
	case sessionIDPattern.MatchString(q.Get("revoked")):
		flash = "Session " + q.Get("revoked") + " revoked."
	}
	c.showUser(w, r, v, p, r.PathValue("uid"), flash)
}

// sessionIDPattern is a session id, the only value a ?revoked= flash
// repeats (a link cannot make the page say anything else).
var sessionIDPattern = regexp.MustCompile(`^session-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// afterRevoke sends the browser back to the user's page (post, redirect,
// get: a reload does not post the form again).
func afterRevoke(w http.ResponseWriter, r *http.Request, p store.Project, userID, revoked string) {
	http.Redirect(w, r, projectURL(p, "/users/"+url.PathEscape(userID)+"?revoked="+url.QueryEscape(revoked)), http.StatusSeeOther)
}

func (c *Console) showUser(w http.ResponseWriter, r *http.Request, v *visit, p store.Project, id, flash string) {
	u, err := c.svc.GetUser(r.Context(), p, id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	ss, err := c.svc.ListSessions(r.Context(), p, u.ID)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d := userData{Project: p, User: u, Sessions: ss, Locked: u.LockExpiresAt != nil,
		Trusted: indent(u.TrustedMetadata), Untrusty: indent(u.UntrustedMetadata)}
	c.page(w, v, "user", "projects", "User "+u.ID, d, flash)
}

func indent(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // html/template escapes it
	enc.SetIndent("", "  ")
	if enc.Encode(v) != nil {
		return string(raw)
	}
	return strings.TrimSpace(b.String())
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	if r.PostForm.Get("confirm") != "yes" {
		c.fail(w, r, v, badInput("Tick the box to confirm the deletion."))
		return
	}
	id, err := c.svc.DeleteUser(r.Context(), p, r.PathValue("uid"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "user.delete", p.ID+" "+id)
	http.Redirect(w, r, projectURL(p, "/users"), http.StatusSeeOther)
}

func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	uid, sid := r.PathValue("uid"), r.PathValue("sid")
	u, err := c.svc.GetUser(r.Context(), p, uid)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	// The session must be this user's: the URL names both.
	ss, err := c.svc.ListSessions(r.Context(), p, u.ID)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	found := false
	for _, s := range ss {
		found = found || s.ID == sid
	}
	if !found {
		c.fail(w, r, v, store.ErrNotFound)
		return
	}
	if err := c.svc.RevokeSession(r.Context(), p, auth.RevokeRequest{SessionID: sid}); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "session.revoke", p.ID+" "+u.ID+" "+sid)
	afterRevoke(w, r, p, u.ID, sid)
}

func (c *Console) revokeAll(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	uid := r.PathValue("uid")
	u, err := c.svc.GetUser(r.Context(), p, uid)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	if err := c.svc.RevokeSession(r.Context(), p, auth.RevokeRequest{UserID: u.ID}); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "session.revoke-all", p.ID+" "+u.ID)
	afterRevoke(w, r, p, u.ID, "all")
}

const recentSessions = 100

type sessionsData struct {
	Project  store.Project
	Sessions []store.Session
}

// recentSessions is GET /console/projects/{pid}/sessions.
func (c *Console) recentSessions(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	ss, err := c.data.ListRecentSessions(r.Context(), p.ID, c.svc.Now(), recentSessions)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.page(w, v, "sessions", "projects", "Recent sessions of "+p.Name, sessionsData{Project: p, Sessions: ss}, "")
}

const outboxPage = 200

// message is one outbox row as the console shows it: no payload.
type message struct {
	ID        int64
	ProjectID string
	Channel   string
	To        string // masked
	State     string // queued | retrying | sent | failed
	CreatedAt time.Time
	SentAt    *time.Time
	Attempts  int
	LastError string
}

type outboxData struct {
	State    string
	Messages []message
}

// messageState is sent; failed (given up for good); retrying (its last
// attempt failed, another comes after a backoff); or queued.
func messageState(m store.OutboxMessage) string {
	switch {
	case m.SentAt != nil:
		return "sent"
	case m.DeadAt != nil:
		return "failed"
	case m.LastError != "":
		return "retrying"
	}
	return "queued"
}

// outbox is GET /console/outbox?state=…: recipients masked (in the
// transports' error messages too), payloads (the links and codes) never
// shown.
func (c *Console) outbox(w http.ResponseWriter, r *http.Request, v *visit) {
	state := r.URL.Query().Get("state")
	ms, err := c.svc.Store().ListMessages(r.Context(), "", outboxPage)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d := outboxData{State: state, Messages: []message{}}
	for _, m := range ms {
		s := messageState(m)
		if state != "" && s != state {
			continue
		}
		d.Messages = append(d.Messages, message{ID: m.ID, ProjectID: m.ProjectID, Channel: m.Channel, To: MaskRecipient(m.Recipient),
			State: s, CreatedAt: m.CreatedAt, SentAt: m.SentAt, Attempts: m.Attempts, LastError: maskIn(m.LastError, m.Recipient)})
	}
	c.page(w, v, "outbox", "outbox", "Outbox", d, "")
}

func (c *Console) retryMessage(w http.ResponseWriter, r *http.Request, v *visit) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.fail(w, r, v, store.ErrNotFound)
		return
	}
	if err := c.data.RetryMessage(r.Context(), id, c.svc.Now()); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.audit(r, v.Session.Email, "outbox.retry", strconv.FormatInt(id, 10))
	http.Redirect(w, r, Prefix+"outbox", http.StatusSeeOther)
}

const auditPage = 200

type auditData struct {
	Entries   []store.AuditEntry
	Operators []store.ConsoleOperator
}

// auditLog is GET /console/audit.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, v *visit) {
	es, err := c.data.ListAudit(r.Context(), auditPage)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	ops, err := c.svc.Operators(r.Context())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.page(w, v, "audit", "audit", "Audit log", auditData{Entries: es, Operators: ops}, "")
}
