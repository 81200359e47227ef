package api

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store"
)

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p store.Project) {
	ss, err := s.svc.ListSessions(r.Context(), p, r.URL.Query().Get("user_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]*sessionJSON, 0, len(ss))
	for i := range ss {
		out = append(out, renderSession(&ss[i]))
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		Sessions []*sessionJSON `json:"sessions"`
	}{ok(r), out})
}

type sessionBody struct {
	envelope
	Session      *sessionJSON `json:"session"`
	SessionToken string       `json:"session_token"`
	SessionJWT   string       `json:"session_jwt"`
	User         userJSON     `json:"user"`
}

func (s *Server) authenticateSession(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.AuthenticateSessionRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.AuthenticateSession(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionBody{ok(r), renderSession(res.Session), res.Token, res.JWT, renderUser(res.User)})
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.RevokeRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.svc.RevokeSession(r.Context(), p, req); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ok(r))
}
