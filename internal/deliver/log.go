package deliver

import (
	"context"
	"log/slog"
)

// Log is the development transport of test projects, used when no SMTP
// server or Twilio account is configured: the message stays in the outbox,
// readable with `latch outbox`, and Log notes its recipient at INFO. It
// never logs the text, which carries the link or code: no secret reaches a
// log line. A live project's messages never go through Log (Sender).
type Log struct{ Logger *slog.Logger }

// Deliver notes m's recipient and returns nil.
func (l Log) Deliver(ctx context.Context, m Message) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.InfoContext(ctx, "message kept in the dev outbox (latch outbox): no "+m.Channel+" transport configured",
		"channel", m.Channel, "to", m.To)
	return nil
}
