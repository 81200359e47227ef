// Package deliver sends the emails, SMS and WhatsApp messages that carry
// magic links and one-time passcodes.
//
// A message is written to the outbox (sealed under the master key, in the
// same transaction as the token it carries) with Enqueue, and a Sender claims
// due messages and hands them to a Transport: SMTP for email, Twilio for SMS
// and WhatsApp, or Log when neither is configured. Failures are retried with
// capped exponential backoff until the transport reports a PermanentError.
package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Message is what gets delivered. For email, To is the address and Subject,
// Text and HTML are set. For sms and whatsapp, To is an E.164 number and Text
// is the body.
type Message struct {
	Channel string `json:"channel"` // store.ChannelEmail | ChannelSMS | ChannelWhatsApp
	To      string `json:"to"`
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
	// Key identifies the outbox row, the same on every attempt and every
	// node ("<outbox id>.<project id>"); SMTP derives the Message-ID from
	// it, so a receiver can drop a repeat. Set by the Sender, not stored.
	Key string `json:"-"`
}

// Transport delivers one message. A *PermanentError means the message must
// never be retried (the recipient was refused); any other error is retried.
type Transport interface {
	Deliver(ctx context.Context, m Message) error
}

// PermanentError marks a delivery failure that no retry can fix, such as a
// refused recipient.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "permanent delivery failure"
	}
	return "permanent delivery failure: " + e.Err.Error()
}

func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is or wraps a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func validChannel(c string) bool {
	return c == store.ChannelEmail || c == store.ChannelSMS || c == store.ChannelWhatsApp
}

// aad binds a sealed payload to the row's channel and recipient, so a
// payload cannot be moved to another row's recipient unnoticed.
func aad(channel, to string) []byte { return []byte(channel + ":" + to) }

// Enqueue seals m under ring and writes it to the outbox through st. st may
// be a transactional Store from InTx, so the message commits together with
// the token it carries. The message is due at now.
func Enqueue(ctx context.Context, st store.Store, ring *secret.Keyring, projectID string, m Message, now time.Time) error {
	if !validChannel(m.Channel) {
		return fmt.Errorf("deliver: unknown channel %q", m.Channel)
	}
	if m.To == "" {
		return errors.New("deliver: message has no recipient")
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("deliver: encode message: %w", err)
	}
	_, err = st.EnqueueMessage(ctx, store.OutboxMessage{
		ProjectID:     projectID,
		Channel:       m.Channel,
		Recipient:     m.To,
		Payload:       ring.Seal(plain, aad(m.Channel, m.To)),
		CreatedAt:     now,
		NextAttemptAt: now,
	})
	if err != nil {
		return fmt.Errorf("deliver: enqueue %s message: %w", m.Channel, err)
	}
	return nil
}

// Open decrypts a stored message.
func Open(ring *secret.Keyring, m store.OutboxMessage) (Message, error) {
	plain, err := ring.Open(m.Payload, aad(m.Channel, m.Recipient))
	if err != nil {
		return Message{}, fmt.Errorf("deliver: open message %d: %w", m.ID, err)
	}
	var msg Message
	if err := json.Unmarshal(plain, &msg); err != nil {
		return Message{}, fmt.Errorf("deliver: decode message %d: %w", m.ID, err)
	}
	if msg.Channel != m.Channel || msg.To != m.Recipient {
		return Message{}, fmt.Errorf("deliver: message %d does not match its row", m.ID)
	}
	return msg, nil
}
