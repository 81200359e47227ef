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
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Server is Latch's HTTP handler.
type Server struct {
	svc     *auth.Service
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler // the middleware around mux
	metrics *metrics
	// Routes lists every pattern served, for the conformance check.
	Routes []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (sdk.go, clientIP); set before serving.
	TrustedProxies []netip.Prefix
}

// New builds the router.
func New(svc *auth.Service, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{svc: svc, log: logger, mux: http.NewServeMux(), metrics: newMetrics()}
	s.routes()
	s.handler = s.middleware()
	return s
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.Routes = append(s.Routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// authed wraps every handler that needs the caller's project: the one
// place where "is this caller the project?" is answered. The secret is
// checked (auth.AuthenticateProject) before the handler runs, so a caller
// without it gets the 401 and nothing else: no other error, no decoding
// of its body, no read or write on its behalf, and the same work whatever
// it names.
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
	s.handle("POST /v1/sessions/authenticate", s.authed(s.authenticateSession))
	// Stytch's session guide posts to this path without /v1.
	s.handle("POST /sessions/authenticate", s.authed(s.authenticateSession))
	s.handle("POST /v1/sessions/revoke", s.authed(s.revokeSession))
	s.handle("GET /v1/sessions/jwks/{project_id}", s.jwks)

	// The frontend SDK's API (sdk.go).
	s.sdkRoutes()

	// No catch-all: the router's own 404 and 405 (which knows the methods
	// of a path) are rewritten into envelopes by the recorder.
}

// requestTimeout bounds the work of one request, as the database's own
// waits do (SQLite's busy_timeout is 10 s).
const requestTimeout = 10 * time.Second

// StatusClientClosedRequest is what the log and the metrics record for a
// request whose client hung up before the answer (nginx's convention): the
// client's doing, not a fault of Latch, so never counted as a 5xx.
const StatusClientClosedRequest = 499

// ServeHTTP runs the middleware chain around the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// middleware builds the chain, outermost first: each concern is one
// func(http.Handler) http.Handler.
func (s *Server) middleware() http.Handler {
	mws := []func(http.Handler) http.Handler{
		requestContext,     // request id, the log's requestInfo, the recorder
		s.accessLog,        // one line a request; 499 for a client gone
		s.countRequests,    // latch_http_requests_total and latency
		recoverPanics,      // a panic is a 500 envelope and an ERROR line
		withDeadline,       // requestTimeout for the request's work
		limitBody,          // maxBody
		rejectUncleanPaths, // NUL or bad UTF-8 in the path or query
	}
	h := notePattern(s.mux)
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// requestContext gives the request its id and requestInfo, and wraps the
// writer in a recorder (the status; the router's own answers as envelopes).
func requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		live := false
		if u, _, ok := r.BasicAuth(); ok {
			live, _ = secret.IDEnv("project", u)
			if pub, ok := secret.IDEnv("public-token", u); ok {
				live = pub // the frontend SDK's (sdk.go)
			}
		}
		ri := &requestInfo{start: time.Now()}
		r = r.WithContext(withValues(r.Context(), secret.ID("request-id", live), ri))
		next.ServeHTTP(&recorder{ResponseWriter: w, r: r, ri: ri}, r)
	})
}

// outcome is the status a finished request is logged and counted under:
// the status written, or StatusClientClosedRequest when the client hung up
// before the answer (its context was cancelled; a deadline of Latch's own
// is not that). A panic stays a 500.
func outcome(r *http.Request, ri *requestInfo) int {
	if !ri.panicked && errors.Is(r.Context().Err(), context.Canceled) {
		return StatusClientClosedRequest
	}
	return ri.status
}

// notePattern keeps the route the router matched for the middleware
// outside it, which holds an earlier copy of the request.
func notePattern(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { info(r).pattern = r.Pattern }() // a panic too
		mux.ServeHTTP(w, r)
	})
}

func route(r *http.Request) string {
	if p := info(r).pattern; p != "" && p != "/" {
		return p
	}
	return "unmatched"
}

// accessLog writes one line a request: INFO, or ERROR for a 5xx (with the
// error, which never holds a secret: errors name what failed, not values).
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		ri := info(r)
		status := outcome(r, ri)
		d := time.Since(ri.start)
		attrs := []any{"request_id", requestID(r), "method", r.Method, "route", route(r), "status", status, "duration_ms", float64(d.Microseconds()) / 1000}
		if ri.project != "" {
			attrs = append(attrs, "project_id", ri.project)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
			if ri.err != nil {
				attrs = append(attrs, "err", ri.err.Error())
			}
		}
		if status == StatusClientClosedRequest && ri.status != 0 {
			attrs = append(attrs, "status_written", ri.status)
		}
		s.log.Log(context.Background(), level, "request", attrs...)
	})
}

// countRequests records each request in the metrics, under its outcome.
func (s *Server) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		ri := info(r)
		s.metrics.observe(route(r), outcome(r, ri), time.Since(ri.start))
	})
}

// recoverPanics answers a panic with a 500 envelope (when nothing was
// written yet) and keeps the panic and its stack for the log.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			ri := info(r)
			if ri.status == 0 {
				writeError(w, r, auth.ErrInternal)
			}
			// writeError recorded ErrInternal; the log wants the panic.
			ri.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			ri.panicked, ri.status = true, http.StatusInternalServerError
		}()
		next.ServeHTTP(w, r)
	})
}

// withDeadline bounds the request's work: a database that stops answering
// (a host gone, a network partition) makes every query wait; with it the
// caller gets a 503 envelope instead of a hang.
func withDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody caps the body at maxBody.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// rejectUncleanPaths refuses a path or query that is not UTF-8 or holds NUL.
func rejectUncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanURL(r.URL) {
			writeError(w, r, auth.ErrBadRequest.With("The path and query must be UTF-8 without NUL characters."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recorder notes the status and turns the router's own answers into Stytch
// envelopes: its plain-text 404 and 405, and its redirect of a path with an
// empty, "." or ".." segment to the cleaned path (a redirect a client would
// follow with a GET, whatever it sent). No route of the API has such a
// segment, so that one becomes a 404.
type recorder struct {
	http.ResponseWriter
	r     *http.Request
	ri    *requestInfo
	wrote bool
	muted bool
}

func (w *recorder) WriteHeader(code int) {
	if w.wrote {
		return
	}
	redirect := code >= 300 && code < 400
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound || redirect) && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.muted = true
		e := errRouteNotFound
		if code == http.StatusMethodNotAllowed {
			e = errMethodNotAllowed
		}
		w.Header().Del("Location")
		writeError(&recorder{ResponseWriter: w.ResponseWriter, r: w.r, ri: &requestInfo{}}, w.r, e)
		w.wrote, w.ri.status = true, e.Status
		return
	}
	w.wrote, w.ri.status = true, code
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
