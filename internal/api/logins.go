package api

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store"
)

// loginBody is the answer of magic-link and passcode authenticate.
type loginBody struct {
	envelope
	UserID        string       `json:"user_id"`
	MethodID      string       `json:"method_id"`
	SessionToken  string       `json:"session_token"`
	SessionJWT    string       `json:"session_jwt"`
	Session       *sessionJSON `json:"session"`
	User          userJSON     `json:"user"`
	ResetSessions bool         `json:"reset_sessions"`
}

func writeLogin(w http.ResponseWriter, r *http.Request, res auth.LoginResult) {
	writeJSON(w, http.StatusOK, loginBodyOf(r, res))
}

// loginBodyOf is a login's answer: the backend's, and the SDK's inside its
// "data" envelope.
func loginBodyOf(r *http.Request, res auth.LoginResult) loginBody {
	return loginBody{
		envelope: ok(r), UserID: res.User.ID, MethodID: res.MethodID,
		SessionToken: res.Token, SessionJWT: res.JWT, Session: renderSession(res.Session),
		User: renderUser(res.User),
	}
}

type sentBody struct {
	envelope
	UserID      string `json:"user_id"`
	EmailID     string `json:"email_id"`
	UserCreated *bool  `json:"user_created,omitempty"`
}

func (s *Server) magicLinkLoginOrCreate(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.EmailLinkRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	// login_or_create names no user to attach to.
	req.UserID, req.SessionToken, req.SessionJWT = "", "", ""
	res, err := s.svc.LoginOrCreateMagicLink(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sentBody{ok(r), res.UserID, res.EmailID, &res.UserCreated})
}

func (s *Server) magicLinkSend(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.EmailLinkRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	req.CreateUserAsPending = false
	res, err := s.svc.SendMagicLink(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sentBody{envelope: ok(r), UserID: res.UserID, EmailID: res.EmailID})
}

func (s *Server) magicLinkInvite(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.InviteRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.Invite(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sentBody{envelope: ok(r), UserID: res.UserID, EmailID: res.EmailID})
}

func (s *Server) magicLinkRevokeInvite(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req struct {
		Email string `json:"email"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.svc.RevokeInvite(r.Context(), p, req.Email); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ok(r))
}

func (s *Server) magicLinkCreate(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.EmbeddableRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	userID, token, err := s.svc.CreateEmbeddable(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}{ok(r), userID, token})
}

func (s *Server) magicLinkAuthenticate(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.AuthenticateMagicLinkRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.AuthenticateMagicLink(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeLogin(w, r, res)
}

func (s *Server) otpSend(channel string, create bool) func(http.ResponseWriter, *http.Request, store.Project) {
	return func(w http.ResponseWriter, r *http.Request, p store.Project) {
		var req auth.OTPSendRequest
		if err := decode(r, &req); err != nil {
			writeError(w, r, err)
			return
		}
		if create {
			req.UserID, req.SessionToken, req.SessionJWT = "", "", ""
		} else {
			req.CreateUserAsPending = false
		}
		res, err := s.svc.SendOTP(r.Context(), p, channel, create, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		body := map[string]any{"request_id": requestID(r), "status_code": http.StatusOK, "user_id": res.UserID}
		if channel == store.ChannelEmail {
			body["email_id"] = res.MethodID
		} else {
			body["phone_id"] = res.MethodID
		}
		if create {
			body["user_created"] = res.UserCreated
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *Server) otpAuthenticate(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.AuthenticateOTPRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.AuthenticateOTP(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeLogin(w, r, res)
}
