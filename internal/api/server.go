// Package api serves Stytch's Consumer API over HTTP: routing, project
// authentication, the request id, logging, panics, body limits and the
// error envelope. Handlers are short: decode, call one auth method, encode.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/store"
)

// Server is Latch's HTTP handler.
type Server struct {
	svc     *auth.Service
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	// Routes lists every pattern served, for the conformance check.
	Routes []string
}

// New builds the router.
func New(svc *auth.Service, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{svc: svc, log: logger, mux: http.NewServeMux(), metrics: newMetrics(svc)}
	s.routes()
	return s
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.Routes = append(s.Routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// authed wraps a handler that needs the caller's project.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, store.Project)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := basicAuth(r)
		if !ok {
			writeError(w, r, auth.ErrUnauthorizedCredentials)
			return
		}
		p, err := s.svc.AuthenticateProject(r.Context(), id, sec)
		if err != nil {
			writeError(w, r, err)
			return
		}
		info(r).project = p.ID
		h(w, r, p)
	}
}

// authedLazily wraps sessions/authenticate, the call on every request of
// every app: the project is found from the credentials, and the secret is
// checked by the handler's own read of the store (auth.Credentials) rather
// than by a query of its own. Whatever the handler returns, nothing but the
// 401 leaves before the secret has been verified.
func (s *Server) authedLazily(h func(*http.Request, store.Project, *auth.Credentials) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := basicAuth(r)
		if !ok {
			writeError(w, r, auth.ErrUnauthorizedCredentials)
			return
		}
		p, c, err := s.svc.ProjectFor(r.Context(), id, sec)
		if err != nil {
			writeError(w, r, err)
			return
		}
		body, err := h(r, p, c)
		if !c.Verified() {
			if verr := s.svc.VerifyCredentials(r.Context(), p, c); verr != nil {
				writeError(w, r, verr)
				return
			}
		}
		info(r).project = p.ID
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// basicAuth returns the project id and secret of the request's one
// Authorization header. Two headers are refused rather than the first
// believed: a proxy and a client that each add one must not disagree
// silently about who is calling.
func basicAuth(r *http.Request) (id, sec string, ok bool) {
	if len(r.Header.Values("Authorization")) != 1 {
		return "", "", false
	}
	id, sec, ok = r.BasicAuth()
	return id, sec, ok && cleanText(id) && cleanText(sec)
}

func (s *Server) routes() {
	s.handle("GET /healthz", s.health)
	s.handle("GET /metrics", s.metrics.handler().ServeHTTP)

	s.handle("POST /v1/users", s.authed(s.createUser))
	s.handle("POST /v1/users/search", s.authed(s.searchUsers))
	s.handle("GET /v1/users/{user_id}", s.authed(s.getUser))
	s.handle("PUT /v1/users/{user_id}", s.authed(s.updateUser))
	s.handle("DELETE /v1/users/{user_id}", s.authed(s.deleteUser))
	s.handle("DELETE /v1/users/emails/{email_id}", s.authed(s.deleteEmail))
	s.handle("DELETE /v1/users/phone_numbers/{phone_id}", s.authed(s.deletePhone))

	s.handle("POST /v1/magic_links/email/login_or_create", s.authed(s.magicLinkLoginOrCreate))
	s.handle("POST /v1/magic_links/email/send", s.authed(s.magicLinkSend))
	s.handle("POST /v1/magic_links/email/invite", s.authed(s.magicLinkInvite))
	s.handle("POST /v1/magic_links/email/revoke_invite", s.authed(s.magicLinkRevokeInvite))
	s.handle("POST /v1/magic_links", s.authed(s.magicLinkCreate))
	s.handle("POST /v1/magic_links/authenticate", s.authed(s.magicLinkAuthenticate))

	for _, ch := range []string{store.ChannelSMS, store.ChannelWhatsApp, store.ChannelEmail} {
		s.handle("POST /v1/otps/"+ch+"/send", s.authed(s.otpSend(ch, false)))
		s.handle("POST /v1/otps/"+ch+"/login_or_create", s.authed(s.otpSend(ch, true)))
	}
	s.handle("POST /v1/otps/authenticate", s.authed(s.otpAuthenticate))

	s.handle("GET /v1/sessions", s.authed(s.listSessions))
	s.handle("POST /v1/sessions/authenticate", s.authedLazily(s.authenticateSession))
	// Stytch's session guide posts to this path without /v1.
	s.handle("POST /sessions/authenticate", s.authedLazily(s.authenticateSession))
	s.handle("POST /v1/sessions/revoke", s.authed(s.revokeSession))
	s.handle("GET /v1/sessions/jwks/{project_id}", s.jwks)

	// No catch-all: the router's own 404 and 405 (which knows the methods
	// of a path) are rewritten into envelopes by the recorder.
}

// requestTimeout bounds the work of one request, as the database's own
// waits do (SQLite's busy_timeout is 10 s).
const requestTimeout = 10 * time.Second

// ServeHTTP runs the middleware chain: request id, recovery, body limit,
// metrics and the access log, around the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	env := "test"
	if u, _, ok := r.BasicAuth(); ok && strings.HasPrefix(u, "project-live-") {
		env = "live"
	}
	ri := &requestInfo{}
	id := "request-id-" + env + "-" + uuid.NewString()
	// A deadline for the request's work: a database that stops answering
	// (a host gone, a network partition) makes every query wait; with it
	// the caller gets a 503 envelope instead of a hang.
	ctx, cancel := context.WithTimeout(withValues(r.Context(), id, ri), requestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	rec := &recorder{ResponseWriter: w, r: r}
	panicked := false
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			perr := fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			if !rec.wrote {
				writeError(rec, r, auth.ErrInternal)
			}
			ri.err, panicked = perr, true // writeError recorded ErrInternal; the log wants the panic
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.metrics.observe(route, rec.status, d)
		attrs := []any{"request_id", id, "method", r.Method, "route", route, "status", rec.status, "duration_ms", float64(d.Microseconds()) / 1000}
		if ri.project != "" {
			attrs = append(attrs, "project_id", ri.project)
		}
		level := slog.LevelInfo
		if rec.status >= 500 || panicked {
			level = slog.LevelError
		}
		if ri.err != nil && (rec.status >= 500 || panicked) {
			attrs = append(attrs, "err", ri.err.Error())
		}
		s.log.Log(context.Background(), level, "request", attrs...)
	}()
	if !cleanURL(r.URL) {
		writeError(rec, r, auth.ErrBadRequest.With("The path and query must be UTF-8 without NUL characters."))
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// recorder notes the status and turns the router's own answers into Stytch
// envelopes: its plain-text 404 and 405, and its redirect of a path with an
// empty, "." or ".." segment to the cleaned path (a redirect a client would
// follow with a GET, whatever it sent). No route of the API has such a
// segment, so that one becomes a 404.
type recorder struct {
	http.ResponseWriter
	r      *http.Request
	status int
	wrote  bool
	muted  bool
}

func (w *recorder) WriteHeader(code int) {
	if w.wrote {
		return
	}
	redirect := code >= 300 && code < 400
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound || redirect) && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.muted = true
		e := auth.ErrRouteNotFound
		if code == http.StatusMethodNotAllowed {
			e = auth.ErrMethodNotAllowed
		}
		w.Header().Del("Location")
		writeError(&recorder{ResponseWriter: w.ResponseWriter, r: w.r}, w.r, e)
		w.wrote, w.status = true, e.Status
		return
	}
	w.wrote, w.status = true, code
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.muted {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Store().Ping(ctx); err != nil {
		writeError(w, r, fmt.Errorf("%w: %v", auth.ErrServiceUnavailable, err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		Status    string `json:"status"`
		JWTSigner string `json:"jwt_signer"` // "OpenSSL 3.x …" or "go crypto/rsa"
	}{ok(r), "ok", keys.SignerName()})
}

// jwks answers without credentials: jose's remote key set sends none.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("project_id")
	if _, err := s.svc.Store().GetProject(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, r, auth.ErrProjectNotFound)
			return
		}
		writeError(w, r, err)
		return
	}
	keys, err := s.svc.Keys().JWKS(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		Keys any `json:"keys"`
	}{ok(r), keys})
}
