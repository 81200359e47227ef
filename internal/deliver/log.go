package deliver

import (
	"context"
	"log/slog"
)

// Log is the development transport, used when no SMTP server or Twilio
// account is configured: it writes the whole message (recipient, subject and
// text, so the link or code) to the log at INFO and reports success. The
// message also stays in the outbox, readable with `latch outbox`.
type Log struct{ Logger *slog.Logger }

// Deliver logs m and returns nil.
func (l Log) Deliver(ctx context.Context, m Message) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	attrs := []any{"channel", m.Channel, "to", m.To}
	if m.Subject != "" {
		attrs = append(attrs, "subject", m.Subject)
	}
	attrs = append(attrs, "text", m.Text)
	lg.InfoContext(ctx, "message not sent: no "+m.Channel+" transport configured, logged instead", attrs...)
	return nil
}
