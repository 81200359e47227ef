package api

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store"
)

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.CreateUserRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.svc.CreateUser(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := struct {
		envelope
		UserID  string   `json:"user_id"`
		EmailID string   `json:"email_id"`
		PhoneID string   `json:"phone_id"`
		Status  string   `json:"status"`
		User    userJSON `json:"user"`
	}{envelope: ok(r), UserID: u.ID, Status: u.Status, User: renderUser(u)}
	if len(u.Emails) > 0 {
		out.EmailID = u.Emails[0].ID
	}
	if len(u.Phones) > 0 {
		out.PhoneID = u.Phones[0].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p store.Project) {
	u, err := s.svc.GetUser(r.Context(), p, r.PathValue("user_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	// Get returns the user's fields at the top level, with no wrapper.
	writeJSON(w, http.StatusOK, struct {
		envelope
		userJSON
	}{ok(r), renderUser(u)})
}

func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.SearchRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.SearchUsers(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	users := make([]userJSON, 0, len(res.Users))
	for _, u := range res.Users {
		users = append(users, renderUser(u))
	}
	var next *string
	if res.NextCursor != "" {
		next = &res.NextCursor
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		Results         []userJSON `json:"results"`
		ResultsMetadata struct {
			Total      int     `json:"total"`
			NextCursor *string `json:"next_cursor"`
		} `json:"results_metadata"`
	}{envelope: ok(r), Results: users, ResultsMetadata: struct {
		Total      int     `json:"total"`
		NextCursor *string `json:"next_cursor"`
	}{res.Total, next}})
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.UpdateUserRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.svc.UpdateUser(r.Context(), p, r.PathValue("user_id"), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ru := renderUser(u)
	writeJSON(w, http.StatusOK, struct {
		envelope
		UserID        string      `json:"user_id"`
		Emails        []emailJSON `json:"emails"`
		PhoneNumbers  []phoneJSON `json:"phone_numbers"`
		CryptoWallets []struct{}  `json:"crypto_wallets"`
		User          userJSON    `json:"user"`
	}{ok(r), u.ID, ru.Emails, ru.PhoneNumbers, ru.CryptoWallets, ru})
}

type userIDBody struct {
	envelope
	UserID string `json:"user_id"`
}

type userBody struct {
	envelope
	UserID string   `json:"user_id"`
	User   userJSON `json:"user"`
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p store.Project) {
	id, err := s.svc.DeleteUser(r.Context(), p, r.PathValue("user_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userIDBody{ok(r), id})
}

func (s *Server) deleteEmail(w http.ResponseWriter, r *http.Request, p store.Project) {
	u, err := s.svc.DeleteEmail(r.Context(), p, r.PathValue("email_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody{ok(r), u.ID, renderUser(u)})
}

func (s *Server) deletePhone(w http.ResponseWriter, r *http.Request, p store.Project) {
	u, err := s.svc.DeletePhone(r.Context(), p, r.PathValue("phone_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody{ok(r), u.ID, renderUser(u)})
}
