package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/clientaddr"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// preCookie returns the pre-sign-in cookie's value, setting a new one
// when the visitor has none.
func (c *Console) preCookie(w http.ResponseWriter, r *http.Request) string {
	if ck, _ := r.Cookie(PreCookie); ck != nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		return ck.Value
	}
	v := secret.SessionToken()
	c.cookie(w, r, PreCookie, v, 3600)
	return v
}

// checkPre checks a sign-in form's CSRF token against the pre-sign-in cookie.
func (c *Console) checkPre(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "error", view{Title: "Refused", Error: "The form could not be read."})
		return false
	}
	ck, _ := r.Cookie(PreCookie)
	if ck == nil || !auth.CheckCSRF(ck.Value, r.PostForm.Get("csrf")) {
		c.render(w, http.StatusForbidden, "error", view{Title: "Refused",
			Error: "This form was refused: its security token is missing or wrong. Reload the sign-in page and try again."})
		return false
	}
	return true
}

type signInData struct {
	Sent  bool
	Email string
}

// signInPage is GET /console/sign-in.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if ck, _ := r.Cookie(SessionCookie); ck != nil {
		if _, err := c.svc.ConsoleSession(r.Context(), ck.Value); err == nil {
			http.Redirect(w, r, Prefix, http.StatusSeeOther) // signed in already
			return
		}
	}
	pre := c.preCookie(w, r)
	c.render(w, http.StatusOK, "signin", view{Title: "Sign in", CSRF: auth.CSRFToken(pre), Data: signInData{}})
}

// signIn is POST /console/sign-in: an operator's address gets a link, any
// other address the same page and no message. The look-up and the sending
// run after the answer, so that its time does not tell an operator's
// address from a stranger's either.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if !c.checkPre(w, r) {
		return
	}
	email := r.PostForm.Get("email")
	ip, ua := c.clientIP(r), clientaddr.UserAgent(r)
	send := func(ctx context.Context) {
		sent, err := c.svc.RequestConsoleLink(ctx, email, c.base+"sign-in/confirm")
		if sent != "" {
			if aerr := c.svc.Audit(ctx, store.AuditEntry{Email: sent, Action: "sign-in.link-sent", Target: sent, IPAddress: ip, UserAgent: ua}); aerr != nil {
				c.log.Error("console: audit log write failed", "action", "sign-in.link-sent", "err", aerr)
			}
		}
		switch {
		case errors.Is(err, auth.ErrConsoleTooManyLinks):
			// Only an operator's address reaches its limit; the page says
			// nothing of it. No link.
			c.log.Warn("console: too many sign-in links asked for an operator's address; none sent", "ip", ip)
		case err != nil:
			c.log.Error("console: sign-in link not sent", "err", err)
		}
	}
	select {
	case c.linkSlots <- struct{}{}:
		c.linkSends.Add(1)
		go func() {
			defer func() { <-c.linkSlots; c.linkSends.Done() }()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
			defer cancel()
			send(ctx)
		}()
	default:
		send(r.Context()) // many at once: in line, so they stay bounded
	}
	shown := email
	if e, nerr := auth.NormalizeOperator(email); nerr == nil {
		shown = e
	}
	c.render(w, http.StatusOK, "signin", view{Title: "Check your email", CSRF: auth.CSRFToken(c.preCookie(w, r)), Data: signInData{Sent: true, Email: shown}})
}

// Wait waits for the sign-in links being sent after their answers.
func (c *Console) Wait() { c.linkSends.Wait() }

// confirmPage is GET /console/sign-in/confirm?token=…: a page with one
// button, so that a mail scanner that opens the link does not use it up.
func (c *Console) confirmPage(w http.ResponseWriter, r *http.Request) {
	pre := c.preCookie(w, r)
	c.render(w, http.StatusOK, "confirm", view{Title: "Sign in", CSRF: auth.CSRFToken(pre), Data: r.URL.Query().Get("token")})
}

// confirm is POST /console/sign-in/confirm: the link, used once, starts a
// console session.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	if !c.checkPre(w, r) {
		return
	}
	login, err := c.svc.RedeemConsoleLink(r.Context(), r.PostForm.Get("token"), c.clientIP(r), clientaddr.UserAgent(r))
	if errors.Is(err, auth.ErrConsoleLinkInvalid) {
		c.render(w, http.StatusBadRequest, "signin", view{Title: "Sign in", CSRF: auth.CSRFToken(c.preCookie(w, r)), Error: err.Error(), Data: signInData{}})
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.cookie(w, r, SessionCookie, login.Cookie, int(auth.ConsoleSessionTTL.Seconds()))
	c.cookie(w, r, PreCookie, "", -1)
	c.audit(r, login.Session.Email, "sign-in", login.Session.ID)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// signOut is POST /console/sign-out: the session ends on the server.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := c.svc.EndConsoleSession(r.Context(), v.Session.ID); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.cookie(w, r, SessionCookie, "", -1)
	c.audit(r, v.Session.Email, "sign-out", v.Session.ID)
	http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
}
