package api

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store"
)

// The TOTP routes (Stytch: https://stytch.com/docs/api/totp-create and the
// pages after it; stytch@14.2.0 types/lib/b2c/totps.d.ts).

type totpJSON struct {
	TOTPID   string `json:"totp_id"`
	Verified bool   `json:"verified"`
}

func renderTOTPs(ts []store.TOTP) []totpJSON {
	out := make([]totpJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, totpJSON{TOTPID: t.ID, Verified: t.Verified})
	}
	return out
}

func (s *Server) createTOTP(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.CreateTOTPRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.CreateTOTP(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		TOTPID        string   `json:"totp_id"`
		Secret        string   `json:"secret"`
		QRCode        string   `json:"qr_code"`
		RecoveryCodes []string `json:"recovery_codes"`
		User          userJSON `json:"user"`
		UserID        string   `json:"user_id"`
	}{ok(r), res.TOTPID, res.Secret, res.QRCode, res.RecoveryCodes, renderUser(res.User), res.User.ID})
}

// totpLoginBody answers totps/authenticate and totps/recover.
type totpLoginBody struct {
	envelope
	UserID       string       `json:"user_id"`
	TOTPID       string       `json:"totp_id"`
	SessionToken string       `json:"session_token"`
	SessionJWT   string       `json:"session_jwt"`
	Session      *sessionJSON `json:"session"`
	User         userJSON     `json:"user"`
}

func writeTOTPLogin(w http.ResponseWriter, r *http.Request, res auth.TOTPResult) {
	writeJSON(w, http.StatusOK, totpLoginBody{
		envelope: ok(r), UserID: res.User.ID, TOTPID: res.TOTPID,
		SessionToken: res.Token, SessionJWT: res.JWT, Session: renderSession(res.Session), User: renderUser(res.User),
	})
}

func (s *Server) authenticateTOTP(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.AuthenticateTOTPRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.AuthenticateTOTP(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeTOTPLogin(w, r, res)
}

func (s *Server) recoverTOTP(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req auth.RecoverTOTPRequest
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.RecoverTOTP(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeTOTPLogin(w, r, res)
}

type totpRecoveryCodesJSON struct {
	TOTPID        string   `json:"totp_id"`
	Verified      bool     `json:"verified"`
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) totpRecoveryCodes(w http.ResponseWriter, r *http.Request, p store.Project) {
	var req struct {
		UserID string `json:"user_id"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	u, ts, err := s.svc.RecoveryCodes(r.Context(), p, req.UserID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]totpRecoveryCodesJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, totpRecoveryCodesJSON{t.TOTPID, t.Verified, t.RecoveryCodes})
	}
	writeJSON(w, http.StatusOK, struct {
		envelope
		UserID string                  `json:"user_id"`
		TOTPs  []totpRecoveryCodesJSON `json:"totps"`
	}{ok(r), u.ID, out})
}

func (s *Server) deleteTOTP(w http.ResponseWriter, r *http.Request, p store.Project) {
	u, err := s.svc.DeleteTOTP(r.Context(), p, r.PathValue("totp_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody{ok(r), u.ID, renderUser(u)})
}
