package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// The operators' console signs its operators in with Latch's own magic
// links: an operator (an address on `latch console operators`) asks for a
// link, Latch mails it through the outbox, and the link, used once, starts
// a console session held in a cookie. These are the rules; internal/console
// is the HTTP.
const (
	ConsoleLinkTTL     = 15 * time.Minute // a sign-in link's life
	ConsoleSessionTTL  = 8 * time.Hour    // a console session's longest life
	ConsoleIdleTimeout = time.Hour        // a console session unused this long ends
	// consoleTouchEvery bounds the writes of last_seen_at.
	consoleTouchEvery = time.Minute
	// ConsoleLinksPerMinute bounds the links sent to one operator.
	ConsoleLinksPerMinute = 5
)

// Console errors (the console renders them; the API never sees them).
var (
	ErrConsoleLinkInvalid  = errors.New("this sign-in link is not valid: it was used already, has expired, or its address is no longer an operator; ask for a new one")
	ErrConsoleNoSession    = errors.New("not signed in to the console")
	ErrConsoleTooManyLinks = errors.New("too many sign-in links asked for this address; wait a minute")
)

// consoleStore is the console's part of the store.
func (s *Service) consoleStore(st store.Store) (store.Console, error) {
	c, ok := st.(store.Console)
	if !ok {
		return nil, errors.New("auth: this store has no console tables")
	}
	return c, nil
}

// NormalizeOperator is an operator's address as stored: NormalizeEmail's.
func NormalizeOperator(raw string) (string, error) {
	return NormalizeEmail(raw)
}

// AddOperator puts an address on the list of console operators and, in
// the same transaction, writes the audit log's line for it by actor (none
// when actor is "", or when the address was already on the list).
func (s *Service) AddOperator(ctx context.Context, email, actor string) (string, error) {
	return s.changeOperator(ctx, email, actor, "add")
}

// RemoveOperator takes an address off the list, its console sessions and
// links ending with it, and writes the audit log's line as AddOperator does.
func (s *Service) RemoveOperator(ctx context.Context, email, actor string) (string, error) {
	return s.changeOperator(ctx, email, actor, "remove")
}

func (s *Service) changeOperator(ctx context.Context, email, actor, verb string) (string, error) {
	e, err := NormalizeOperator(email)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address", email)
	}
	err = s.store.InTx(ctx, func(tx store.Store) error {
		c, err := s.consoleStore(tx)
		if err != nil {
			return err
		}
		if verb == "add" {
			err = c.AddOperator(ctx, store.ConsoleOperator{Email: e, CreatedAt: s.Now()})
			if errors.Is(err, store.ErrAlreadyExists) {
				return nil // nothing changed: nothing to log
			}
		} else if err = c.RemoveOperator(ctx, e); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s is not an operator", e)
		}
		if err != nil || actor == "" {
			return err
		}
		return c.AddAudit(ctx, store.AuditEntry{At: s.Now(), Email: actor, Action: "operator." + verb, Target: e,
			UserAgent: "latch console operators " + verb})
	})
	return e, err
}

// Operators lists the console operators.
func (s *Service) Operators(ctx context.Context) ([]store.ConsoleOperator, error) {
	c, err := s.consoleStore(s.store)
	if err != nil {
		return nil, err
	}
	return c.ListOperators(ctx)
}

// RequestConsoleLink mails a sign-in link to email if it is an operator's
// address, the link's token written with the message in one transaction;
// for any other address it does nothing and returns "", so the caller
// answers both the same. It returns the operator's address when it queued
// a link. linkBase is the console's confirm URL, to which "?token=…" is
// appended.
func (s *Service) RequestConsoleLink(ctx context.Context, email, linkBase string) (string, error) {
	e, err := NormalizeOperator(email)
	if err != nil {
		return "", nil // no operator has it
	}
	c, err := s.consoleStore(s.store)
	if err != nil {
		return "", err
	}
	ok, err := c.IsOperator(ctx, e)
	if err != nil || !ok {
		return "", err
	}
	now := s.Now()
	n, err := s.store.CountHit(ctx, "", "console-link:"+e, now.Truncate(time.Minute))
	if err != nil {
		return "", err
	}
	if n > ConsoleLinksPerMinute {
		return "", ErrConsoleTooManyLinks
	}
	token := base64.RawURLEncoding.EncodeToString(secret.Bytes(32))
	link := linkBase + "?token=" + token
	msg := consoleLinkMessage(e, link)
	err = s.store.InTx(ctx, func(tx store.Store) error {
		ct, err := s.consoleStore(tx)
		if err != nil {
			return err
		}
		if err := ct.CreateConsoleToken(ctx, store.ConsoleToken{TokenHash: secret.Hash(token), Email: e, CreatedAt: now, ExpiresAt: now.Add(ConsoleLinkTTL)}); err != nil {
			return err
		}
		// The console is no project: its messages have no project id.
		return deliver.Enqueue(ctx, tx, s.ring, "", msg, now)
	})
	if errors.Is(err, store.ErrNotFound) { // removed meanwhile
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s.notify()
	return e, nil
}

var consoleEmailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in to the Latch console</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1a1a1a; line-height: 1.5;">
<p>Click the link below to sign in to the Latch console.</p>
<p><a href="{{.}}" style="display: inline-block; padding: 10px 18px; background: #1a1a1a; color: #ffffff; text-decoration: none; border-radius: 6px;">Sign in</a></p>
<p style="font-size: 13px; color: #555555;">Or copy this link into your browser:<br>{{.}}</p>
<p>The link works once and expires in 15 minutes.</p>
<p style="font-size: 13px; color: #555555;">If you did not ask to sign in, you can ignore this email.</p>
</body></html>
`))

func consoleLinkMessage(to, link string) deliver.Message {
	var b strings.Builder
	// The link is ours (the configured console URL); html/template escapes it.
	if err := consoleEmailHTML.Execute(&b, template.URL(link)); err != nil {
		panic("auth: console email template: " + err.Error())
	}
	return deliver.Message{
		Channel: store.ChannelEmail,
		To:      to,
		Subject: "Your sign-in link for the Latch console",
		Text:    "Sign in to the Latch console:\n\n" + link + "\n\nThe link works once and expires in 15 minutes. If you did not ask to sign in, you can ignore this email.\n",
		HTML:    b.String(),
	}
}

// ConsoleLogin is a console session just started and its cookie value
// (the only copy).
type ConsoleLogin struct {
	Session store.ConsoleSession
	Cookie  string
}

// RedeemConsoleLink uses a sign-in link once and starts a console session.
func (s *Service) RedeemConsoleLink(ctx context.Context, token, ip, ua string) (ConsoleLogin, error) {
	if token == "" || len(token) > 200 {
		return ConsoleLogin{}, ErrConsoleLinkInvalid
	}
	c, err := s.consoleStore(s.store)
	if err != nil {
		return ConsoleLogin{}, err
	}
	now := s.Now()
	email, err := c.RedeemConsoleToken(ctx, secret.Hash(token), now)
	if errors.Is(err, store.ErrConsumed) {
		return ConsoleLogin{}, ErrConsoleLinkInvalid
	}
	if err != nil {
		return ConsoleLogin{}, err
	}
	cookie := base64.RawURLEncoding.EncodeToString(secret.Bytes(32))
	sess := store.ConsoleSession{
		ID: "console-session-" + uuid.NewString(), TokenHash: secret.Hash(cookie), Email: email,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ConsoleSessionTTL),
		IPAddress: ip, UserAgent: ua,
	}
	if err := c.CreateConsoleSession(ctx, sess); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ConsoleLogin{}, ErrConsoleLinkInvalid
		}
		return ConsoleLogin{}, err
	}
	return ConsoleLogin{Session: sess, Cookie: cookie}, nil
}

// ConsoleSession returns the live console session of a cookie value:
// ErrConsoleNoSession if it is unknown, expired, idle too long, or its
// operator is no longer on the list.
func (s *Service) ConsoleSession(ctx context.Context, cookie string) (store.ConsoleSession, error) {
	if cookie == "" || len(cookie) > 200 {
		return store.ConsoleSession{}, ErrConsoleNoSession
	}
	c, err := s.consoleStore(s.store)
	if err != nil {
		return store.ConsoleSession{}, err
	}
	now := s.Now()
	sess, err := c.GetConsoleSession(ctx, secret.Hash(cookie), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.ConsoleSession{}, ErrConsoleNoSession
	}
	if err != nil {
		return store.ConsoleSession{}, err
	}
	if !sess.LastSeenAt.Add(ConsoleIdleTimeout).After(now) {
		_ = c.DeleteConsoleSession(ctx, sess.ID)
		return store.ConsoleSession{}, ErrConsoleNoSession
	}
	if now.Sub(sess.LastSeenAt) >= consoleTouchEvery {
		if err := c.TouchConsoleSession(ctx, sess.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ConsoleSession{}, err
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// EndConsoleSession signs a console session out on the server.
func (s *Service) EndConsoleSession(ctx context.Context, id string) error {
	c, err := s.consoleStore(s.store)
	if err != nil {
		return err
	}
	return c.DeleteConsoleSession(ctx, id)
}

// CSRFToken is the anti-forgery token of a cookie value (a console
// session's, or the pre-sign-in cookie's): derived from it, so nothing
// more is stored, and unknowable without it.
func CSRFToken(cookie string) string {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("latch console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF compares a form's token with the cookie's in constant time.
func CheckCSRF(cookie, token string) bool {
	return cookie != "" && token != "" && hmac.Equal([]byte(CSRFToken(cookie)), []byte(token))
}

// Audit writes a line of the console's audit log.
func (s *Service) Audit(ctx context.Context, e store.AuditEntry) error {
	c, err := s.consoleStore(s.store)
	if err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = s.Now()
	}
	return c.AddAudit(ctx, e)
}

// ConsoleData gives the console read access to its own rows and the
// cross-project views (audit, recent sessions, outbox retry).
func (s *Service) ConsoleData() (store.Console, error) { return s.consoleStore(s.store) }
