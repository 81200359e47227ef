package api

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store"
)

// passwordJSON is the user object's password field.
type passwordJSON struct {
	PasswordID    string `json:"password_id"`
	RequiresReset bool   `json:"requires_reset"`
}

func renderPassword(u store.User) *passwordJSON {
	if u.PasswordID == "" {
		return nil
	}
	return &passwordJSON{PasswordID: u.PasswordID, RequiresReset: u.PasswordRequiresReset}
}

// passwordLoginBody answers every password call that may log in.
type passwordLoginBody struct {
	envelope
	UserID       string       `json:"user_id"`
	EmailID      string       `json:"email_id,omitempty"`
	SessionToken string       `json:"session_token"`
	SessionJWT   string       `json:"session_jwt"`
	Session      *sessionJSON `json:"session"`
	User         userJSON     `json:"user"`
}

func writePasswordLogin(w http.ResponseWriter, r *http.Request, res auth.SessionResult, emailID string) {
	writeJSON(w, http.StatusOK, passwordLoginBody{
		envelope: ok(r), UserID: res.User.ID, EmailID: emailID,
		SessionToken: res.Token, SessionJWT: res.JWT, Session: renderSession(res.Session), User: renderUser(res.User),
	})
}

// passwordRoute decodes a request of type T and answers a login from call.
func passwordRoute[T any](call func(r *http.Request, p store.Project, req T) (auth.SessionResult, error)) func(http.ResponseWriter, *http.Request, store.Project) {
	return func(w http.ResponseWriter, r *http.Request, p store.Project) {
		var req T
		if err := decode(r, &req); err != nil {
			writeError(w, r, err)
			return
		}
		res, err := call(r, p, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writePasswordLogin(w, r, res, "")
	}
}

func (s *Server) passwordRoutes() {
	s.handle("POST /v1/passwords", s.authed(s.passwordCreate))
	s.handle("POST /v1/passwords/authenticate", s.authed(passwordRoute(func(r *http.Request, p store.Project, req auth.PasswordAuthenticateRequest) (auth.SessionResult, error) {
		return s.svc.AuthenticatePassword(r.Context(), p, req)
	})))
	s.handle("POST /v1/passwords/strength_check", s.authed(s.passwordStrengthCheck))
	s.handle("POST /v1/passwords/email/reset/start", s.authed(s.passwordResetStart))
	s.handle("POST /v1/passwords/email/reset", s.authed(passwordRoute(func(r *http.Request, p store.Project, req auth.EmailResetRequest) (auth.SessionResult, error) {
		return s.svc.ResetPasswordByEmail(r.Context(), p, req)
	})))
	s.handle("POST /v1/passwords/existing_password/reset", s.authed(passwordRoute(func(r *http.Request, p store.Project, req auth.ExistingPasswordResetRequest) (auth.SessionResult, error) {
		return s.svc.ResetExistingPassword(r.Context(), p, req)
	})))
	s.handle("POST /v1/passwords/session/reset", s.authed(passwordRoute(func(r *http.Request, p store.Project, req auth.SessionResetRequest) (auth.SessionResult, error) {
		return s.svc.ResetPasswordBySession(r.Context(), p, req)
	})))
	s.handle("POST /v1/passwords/migrate", s.authed(s.passwordMigrate))
	s.handle("DELETE /v1/users/passwords/{password_id}", s.authed(s.deletePassword))
}

func (s *Server) passwordCreate(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.PasswordCreateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.CreatePassword(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writePasswordLogin(w, r, res.SessionResult, res.EmailID)
}

func (s *Server) passwordStrengthCheck(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.StrengthCheckRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.StrengthCheck(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		auth.Strength
	}{ok(r), res})
}

func (s *Server) passwordResetStart(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.ResetStartRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.StartPasswordReset(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sentBody{envelope: ok(r), UserID: res.UserID, EmailID: res.EmailID})
}

func (s *Server) passwordMigrate(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.PasswordMigrateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.MigratePassword(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		UserID      string   `json:"user_id"`
		EmailID     string   `json:"email_id"`
		UserCreated bool     `json:"user_created"`
		User        userJSON `json:"user"`
	}{ok(r), res.User.ID, res.EmailID, res.UserCreated, renderUser(res.User)})
}

func (s *Server) deletePassword(w http.ResponseWriter, r *http.Request, p store.Project) {
	u, err := s.svc.DeletePassword(r.Context(), p, r.PathValue("password_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody{ok(r), u.ID, renderUser(u)})
}
