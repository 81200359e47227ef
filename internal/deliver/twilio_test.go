package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/storetest"
)

const (
	twSID     = "AC0123456789abcdef0123456789abcdef"
	twToken   = "tw-auth-token"
	twFrom    = "+15005550006"
	twWAFrom  = "+14155238886"
	twMsgPath = "/2010-04-01/Accounts/" + twSID + "/Messages.json"
)

// twilioSMS is one request the double accepted as well-formed.
type twilioSMS struct{ To, From, Body string }

// twilioReply is a scripted answer: status and, for errors, Twilio's code.
type twilioReply struct {
	status int
	code   int
}

// twilioDouble speaks Twilio's Messages API over HTTP: it checks the path,
// Basic auth and form, records each request and answers from a script
// (201 Created once the script is used up).
type twilioDouble struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	got    []twilioSMS
	script []twilioReply
}

func newTwilioDouble(t *testing.T) *twilioDouble {
	d := &twilioDouble{t: t}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *twilioDouble) Script(r ...twilioReply) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.script = append(d.script, r...)
}

func (d *twilioDouble) Requests() []twilioSMS {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]twilioSMS(nil), d.got...)
}

func (d *twilioDouble) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, format string, a ...any) {
		d.t.Errorf("twilio double: "+format, a...)
		w.WriteHeader(status)
	}
	if r.Method != http.MethodPost || r.URL.Path != twMsgPath {
		fail(http.StatusNotFound, "%s %s, want POST %s", r.Method, r.URL.Path, twMsgPath)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != twSID || p != twToken {
		fail(http.StatusUnauthorized, "basic auth %q:%q", u, p)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, "content type %q", ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "form: %v", err)
		return
	}
	for k := range r.PostForm {
		if k != "To" && k != "From" && k != "Body" {
			fail(http.StatusBadRequest, "unexpected form field %q", k)
			return
		}
	}
	sms := twilioSMS{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body")}

	d.mu.Lock()
	d.got = append(d.got, sms)
	reply := twilioReply{status: http.StatusCreated}
	if len(d.script) > 0 {
		reply, d.script = d.script[0], d.script[1:]
	}
	d.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.status)
	if reply.status == http.StatusCreated {
		json.NewEncoder(w).Encode(map[string]any{
			"sid": "SM0123", "status": "queued", "to": sms.To, "from": sms.From, "body": sms.Body,
		})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{
		"code":      reply.code,
		"message":   fmt.Sprintf("error %d from the double", reply.code),
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", reply.code),
		"status":    reply.status,
	})
}

func (d *twilioDouble) transport(logger *slog.Logger) *Twilio {
	tw := NewTwilio(d.srv.URL, twSID, twToken, twFrom, twWAFrom, d.srv.Client())
	tw.Logger = logger
	return tw
}

func TestTwilioSendsSMS(t *testing.T) {
	d := newTwilioDouble(t)
	msg := OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", 2*time.Minute)
	if err := d.transport(newTestLogger(t)).Deliver(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	want := []twilioSMS{{To: "+15555550100", From: twFrom, Body: "Your Acme verification code is 123456. It expires in 2 minutes."}}
	if got := d.Requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
}

func TestWhatsAppNumbersArePrefixed(t *testing.T) {
	d := newTwilioDouble(t)
	msg := OTPText(store.ChannelWhatsApp, "Acme", "+15555550100", "654321", 10*time.Minute)
	if err := d.transport(newTestLogger(t)).Deliver(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := d.Requests()
	if len(got) != 1 {
		t.Fatalf("requests = %q", got)
	}
	if got[0].To != "whatsapp:+15555550100" || got[0].From != "whatsapp:"+twWAFrom {
		t.Fatalf("To %q From %q, want both prefixed with whatsapp:", got[0].To, got[0].From)
	}
	if !strings.Contains(got[0].Body, "654321") {
		t.Fatalf("body %q lacks the code", got[0].Body)
	}
}

func TestTwilioWithoutASenderNumberRetries(t *testing.T) {
	d := newTwilioDouble(t)
	tw := NewTwilio(d.srv.URL, twSID, twToken, twFrom, "", d.srv.Client())
	err := tw.Deliver(context.Background(), OTPText(store.ChannelWhatsApp, "Acme", "+15555550100", "654321", time.Minute))
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if len(d.Requests()) != 0 {
		t.Fatal("a request was made")
	}
}

func TestTwilioRepliesAreClassified(t *testing.T) {
	cases := []struct {
		reply     twilioReply
		permanent bool
	}{
		{twilioReply{400, 21211}, true},  // invalid To
		{twilioReply{400, 21610}, true},  // recipient unsubscribed (STOP)
		{twilioReply{400, 21614}, true},  // not a mobile number
		{twilioReply{429, 20429}, false}, // too many requests
		{twilioReply{500, 20500}, false},
		{twilioReply{503, 0}, false},
		{twilioReply{401, 20003}, false}, // our credentials: fix them, lose nothing
		{twilioReply{404, 20404}, false}, // our account SID
		{twilioReply{400, 21606}, false}, // our From number
		{twilioReply{400, 21212}, false}, // our From number
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%d", tc.reply.status, tc.reply.code), func(t *testing.T) {
			d := newTwilioDouble(t)
			d.Script(tc.reply)
			err := d.transport(newTestLogger(t)).Deliver(context.Background(), OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", time.Minute))
			if err == nil {
				t.Fatal("Deliver succeeded")
			}
			if IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %v, want %v (err %v)", IsPermanent(err), tc.permanent, err)
			}
			if tc.reply.code != 0 && !strings.Contains(err.Error(), fmt.Sprint(tc.reply.code)) {
				t.Fatalf("error %q does not carry Twilio's code", err)
			}
		})
	}
}

func TestTwilioNetworkErrorIsRetried(t *testing.T) {
	d := newTwilioDouble(t)
	tw := d.transport(newTestLogger(t))
	d.srv.Close()
	err := tw.Deliver(context.Background(), OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", time.Minute))
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

// twilioSender is a Sender on a fresh SQLite store whose SMS and WhatsApp go
// to the double; logs are kept for inspection.
func twilioSender(t *testing.T, d *twilioDouble) (*Sender, *fakeClock, *bytes.Buffer, func(Message)) {
	t.Helper()
	st := openStore(t, storetest.SQLiteURL(t))
	ring := newRing(t)
	project := newProject(t, st)
	clock := newClock()
	logs := new(bytes.Buffer)
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))
	tw := d.transport(logger)
	s := &Sender{Store: st, Ring: ring, SMS: tw, WhatsApp: tw, Logger: logger, Now: clock.Now}
	return s, clock, logs, func(m Message) { enqueue(t, st, ring, project, m, clock.Now()) }
}

func TestTwilio429ThenSuccessIsRetried(t *testing.T) {
	d := newTwilioDouble(t)
	d.Script(twilioReply{429, 20429})
	s, clock, _, add := twilioSender(t, d)
	add(OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", 2*time.Minute))

	if n := runOnce(t, s); n != 1 {
		t.Fatalf("RunOnce handled %d", n)
	}
	row := onlyMessage(t, s.Store.(store.Store))
	if row.SentAt != nil || row.DeadAt != nil || !strings.Contains(row.LastError, "20429") {
		t.Fatalf("after 429: %+v", row)
	}
	clock.Advance(2 * time.Second)
	if n := runOnce(t, s); n != 1 {
		t.Fatalf("retry handled %d", n)
	}
	clock.Advance(time.Hour)
	runOnce(t, s)
	if row := onlyMessage(t, s.Store.(store.Store)); row.SentAt == nil || row.Attempts != 2 {
		t.Fatalf("after retry: %+v", row)
	}
	got := d.Requests()
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("requests = %q, want the same message twice", got)
	}
}

func TestTwilioInvalidNumberIsDead(t *testing.T) {
	d := newTwilioDouble(t)
	d.Script(twilioReply{400, 21211})
	s, clock, logs, add := twilioSender(t, d)
	add(OTPText(store.ChannelWhatsApp, "Acme", "+15555550100", "123456", 2*time.Minute))

	if n := runOnce(t, s); n != 1 {
		t.Fatalf("RunOnce handled %d", n)
	}
	row := onlyMessage(t, s.Store.(store.Store))
	if row.DeadAt == nil || row.SentAt != nil || !strings.Contains(row.LastError, "21211") {
		t.Fatalf("after 400/21211: %+v", row)
	}
	clock.Advance(24 * time.Hour)
	if n := runOnce(t, s); n != 0 || len(d.Requests()) != 1 {
		t.Fatalf("a dead message was retried")
	}
	for _, want := range []string{"code=21211", `message="error 21211 from the double"`, "http_status=400"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestTwilio500IsRetried(t *testing.T) {
	d := newTwilioDouble(t)
	d.Script(twilioReply{500, 20500}, twilioReply{503, 0})
	s, clock, _, add := twilioSender(t, d)
	add(OTPText(store.ChannelSMS, "Acme", "+15555550100", "123456", 2*time.Minute))

	for range 3 {
		if n := runOnce(t, s); n != 1 {
			t.Fatalf("RunOnce handled %d", n)
		}
		clock.Advance(10 * time.Second)
	}
	if row := onlyMessage(t, s.Store.(store.Store)); row.SentAt == nil || row.DeadAt != nil || row.Attempts != 3 {
		t.Fatalf("row = %+v, want sent on the third attempt", row)
	}
	if n := len(d.Requests()); n != 3 {
		t.Fatalf("double saw %d requests, want 3", n)
	}
}
