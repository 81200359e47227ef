package app

import (
	"context"
	"log/slog"
	"strings"
)

// secretKeys are the log attribute keys whose values are secrets or carry
// them: a message's text or HTML holds a link or code. The rule of Latch's
// logs, applied in one place (RedactSecrets): no line at any level shows a
// session token or JWT, a magic-link token or link, a passcode, a project
// secret, a password or a queued message. Code never needs to log them;
// this is the net under that rule.
var secretKeys = map[string]bool{
	"token": true, "session_token": true, "session_jwt": true, "jwt": true,
	"code": true, "otp": true, "link": true, "url": true, "magic_link_url": true,
	"secret": true, "password": true, "existing_password": true, "new_password": true, "authorization": true,
	"text": true, "html": true, "body": true, "payload": true,
}

// Redacted replaces the value of a secret attribute.
const Redacted = "[redacted]"

// RedactSecrets wraps h so that every attribute named in secretKeys, at any
// depth, is logged as Redacted.
func RedactSecrets(h slog.Handler) slog.Handler {
	if _, ok := h.(redactor); ok {
		return h
	}
	return redactor{h}
}

type redactor struct{ slog.Handler }

func (r redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return r.Handler.Handle(ctx, out)
}

func (r redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redact(a)
	}
	return redactor{r.Handler.WithAttrs(red)}
}

func (r redactor) WithGroup(name string) slog.Handler { return redactor{r.Handler.WithGroup(name)} }

func redact(a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = redact(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
