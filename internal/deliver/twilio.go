package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// TwilioBaseURL is Twilio's REST API root.
const TwilioBaseURL = "https://api.twilio.com"

// Twilio delivers SMS and WhatsApp messages through Twilio's Messages API.
type Twilio struct {
	// Logger receives Twilio's error code and message when a request is
	// refused; slog.Default() when nil.
	Logger *slog.Logger

	endpoint     string
	sid, token   string
	from, waFrom string
	client       *http.Client
}

// NewTwilio returns a Twilio transport. baseURL "" means TwilioBaseURL (tests
// pass an httptest server). from and whatsappFrom are E.164 sender numbers;
// either may be "" when that channel is not used. client nil means an
// http.Client with a 30 s timeout.
func NewTwilio(baseURL, accountSID, authToken, from, whatsappFrom string, client *http.Client) *Twilio {
	if baseURL == "" {
		baseURL = TwilioBaseURL
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Twilio{
		endpoint: strings.TrimRight(baseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(accountSID) + "/Messages.json",
		sid:      accountSID,
		token:    authToken,
		from:     from,
		waFrom:   whatsappFrom,
		client:   client,
	}
}

// twilioError is the body of a Twilio error reply.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// senderSideCodes are Twilio error codes, sent with a 4xx status, that are
// about our own sender number or account rather than the recipient. They are
// retried like outages: once the configuration is fixed the queued messages
// go out instead of having been thrown away.
var senderSideCodes = map[int]bool{
	20003: true, // authentication failed
	20404: true, // account or resource not found (wrong SID or base URL)
	21212: true, // invalid From number
	21601: true, // From is not a message-capable number of the account
	21606: true, // From cannot send to this destination or account
	21661: true, // From is not SMS-capable
}

// Deliver sends m.Text to m.To. For WhatsApp, To and From carry the
// "whatsapp:" prefix. 429, 5xx, network errors and sender-side errors are
// retryable; any other 4xx (an invalid or unreachable recipient, such as code
// 21211) is a *PermanentError.
func (t *Twilio) Deliver(ctx context.Context, m Message) error {
	to, from := m.To, ""
	switch m.Channel {
	case store.ChannelSMS:
		from = t.from
	case store.ChannelWhatsApp:
		if t.waFrom != "" {
			from = "whatsapp:" + strings.TrimPrefix(t.waFrom, "whatsapp:")
		}
		to = "whatsapp:" + strings.TrimPrefix(m.To, "whatsapp:")
	default:
		return &PermanentError{Err: fmt.Errorf("twilio cannot deliver %q messages", m.Channel)}
	}
	if from == "" {
		return fmt.Errorf("twilio: no %s sender number configured", m.Channel)
	}
	form := url.Values{"To": {to}, "From": {from}, "Body": {m.Text}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("twilio: request: %w", err)}
	}
	req.SetBasicAuth(t.sid, t.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}

	var te twilioError
	if json.Unmarshal(body, &te) != nil || te.Message == "" {
		te.Message = strings.TrimSpace(string(body))
		if len(te.Message) > 200 {
			te.Message = te.Message[:200]
		}
	}
	t.logger().WarnContext(ctx, "twilio refused message",
		"channel", m.Channel, "http_status", resp.StatusCode,
		"code", te.Code, "message", te.Message, "more_info", te.MoreInfo)
	rerr := fmt.Errorf("twilio: HTTP %d: code %d: %s", resp.StatusCode, te.Code, te.Message)
	if retryableStatus(resp.StatusCode) || senderSideCodes[te.Code] {
		return rerr
	}
	return &PermanentError{Err: rerr}
}

func retryableStatus(status int) bool {
	switch {
	case status == http.StatusTooManyRequests, status >= 500:
		return true
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusNotFound, status == http.StatusRequestTimeout:
		// Credentials, account or URL: our configuration, not the recipient.
		return true
	case status >= 400:
		return false
	}
	// 1xx and 3xx are not answers the Messages API gives; try again.
	return true
}

func (t *Twilio) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}
