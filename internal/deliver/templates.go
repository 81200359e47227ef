package deliver

import (
	"bytes"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// The templates are English only for now.

// magicLinkWords is the wording of one kind of magic-link email.
type magicLinkWords struct {
	subject string // %s = project name
	intro   string // %s = project name
	button  string
	ignore  string
}

var magicLinkKinds = map[string]magicLinkWords{
	store.MagicLinkLogin: {
		subject: "Your login link for %s",
		intro:   "Click the link below to log in to %s.",
		button:  "Log in",
		ignore:  ignoreNote,
	},
	store.MagicLinkSignup: {
		subject: "Your sign-up link for %s",
		intro:   "Click the link below to finish signing up for %s.",
		button:  "Sign up",
		ignore:  ignoreNote,
	},
	store.MagicLinkInvite: {
		subject: "You have been invited to %s",
		intro:   "You have been invited to join %s. Click the link below to accept.",
		button:  "Accept invitation",
		ignore:  "If you were not expecting this invitation, you can ignore this email.",
	},
}

var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1a1a1a; line-height: 1.5;">
<p>{{.Intro}}</p>
{{- if .Link}}
<p><a href="{{.Link}}" style="display: inline-block; padding: 10px 18px; background: #1a1a1a; color: #ffffff; text-decoration: none; border-radius: 6px;">{{.Button}}</a></p>
<p style="font-size: 13px; color: #555555;">Or copy this link into your browser:<br><a href="{{.Link}}">{{.LinkText}}</a></p>
{{- end}}
{{- if .Code}}
<p style="font-size: 28px; font-weight: bold; letter-spacing: 4px;">{{.Code}}</p>
{{- end}}
{{- if .Expiry}}
<p>{{.Expiry}}</p>
{{- end}}
<p style="font-size: 13px; color: #555555;">{{.Ignore}}</p>
</body>
</html>
`))

type emailData struct {
	Subject  string
	Intro    string
	Link     any // template.URL for links with a safe scheme, string otherwise
	LinkText string
	Button   string
	Code     string
	Expiry   string
	Ignore   string
}

func renderHTML(d emailData) string {
	var b bytes.Buffer
	if err := emailHTML.Execute(&b, d); err != nil {
		// The template and its data are ours; this cannot fail.
		panic("deliver: email template: " + err.Error())
	}
	return b.String()
}

// hrefValue lets links with app schemes (myapp://…) through html/template,
// which would otherwise replace them; script-like schemes stay filtered.
func hrefValue(link string) any {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	switch strings.ToLower(u.Scheme) {
	case "", "javascript", "vbscript", "data", "file":
		return link
	}
	return template.URL(link)
}

const ignoreNote = "If you did not request this, you can ignore this email."

// MagicLinkEmail is the email carrying a magic link. kind is login, signup or
// invite (anything else reads as login). The subject names the project.
func MagicLinkEmail(projectName, to, link, kind string) Message {
	w, ok := magicLinkKinds[kind]
	if !ok {
		w = magicLinkKinds[store.MagicLinkLogin]
	}
	name := oneLine(projectName)
	subject := fmt.Sprintf(w.subject, name)
	intro := fmt.Sprintf(w.intro, name)
	text := intro + "\n\n" + link + "\n\n" + w.ignore + "\n"
	return email(to, text, emailData{Subject: subject, Intro: intro, Button: w.button,
		Link: hrefValue(link), LinkText: link, Ignore: w.ignore})
}

// email is an email of text and, rendered from d, its HTML part.
func email(to, text string, d emailData) Message {
	return Message{Channel: store.ChannelEmail, To: to, Subject: d.Subject, Text: text, HTML: renderHTML(d)}
}

// expiresIn is the sentence every message with an expiry carries.
func expiresIn(d time.Duration) string { return fmt.Sprintf("It expires in %s.", humanDuration(d)) }

// attachIgnore ends every message of an attach: the one thing its reader
// must know is that acting on it gives the address to someone else's
// account unless that account is theirs.
const attachIgnore = "If you did not ask to add this address to your own account, ignore this message and do not share it: " +
	"using it would give someone else's account this address."

// AttachLinkEmail is the email that a send naming an existing user (by
// user_id or session) sends to an address being added to that user. It
// says so, and that the link is not a way to log in: a link clicked by
// anyone else than the account's owner would give that account the
// address (account pre-hijacking).
func AttachLinkEmail(projectName, to, link string, expiry time.Duration) Message {
	name := oneLine(projectName)
	subject := fmt.Sprintf("Confirm adding this email address to an account on %s", name)
	intro := fmt.Sprintf("Someone asked to add this email address to an existing account on %s. "+
		"The link below adds it to that account; it does not log you in to an account of your own.", name)
	exp := expiresIn(expiry)
	text := intro + "\n\n" + link + "\n\n" + exp + "\n\n" + attachIgnore + "\n"
	return email(to, text, emailData{Subject: subject, Intro: intro, Button: "Add this address to the account",
		Link: hrefValue(link), LinkText: link, Expiry: exp, Ignore: attachIgnore})
}

// AttachOTPEmail is the email carrying the passcode that adds an address
// to an existing account (see AttachLinkEmail).
func AttachOTPEmail(projectName, to, code string, expiry time.Duration) Message {
	name := oneLine(projectName)
	subject := fmt.Sprintf("Your code to add this email address to an account on %s", name)
	intro := fmt.Sprintf("Someone asked to add this email address to an existing account on %s. "+
		"This code adds it to that account; it does not log you in to an account of your own:", name)
	exp := expiresIn(expiry)
	text := fmt.Sprintf("%s %s. %s\n\n%s\n", intro, code, exp, attachIgnore)
	return email(to, text, emailData{Subject: subject, Intro: intro, Code: code, Expiry: exp, Ignore: attachIgnore})
}

// AttachOTPText is the SMS or WhatsApp message carrying the passcode that
// adds a phone number to an existing account, e.g. "Your Acme code to add
// this number to an existing account is 123456. It expires in 5 minutes. …"
func AttachOTPText(channel, projectName, to, code string, expiry time.Duration) Message {
	return Message{
		Channel: channel,
		To:      to,
		Text: fmt.Sprintf("Your %s code to add this number to an existing account is %s. %s "+
			"Not a login code: if you did not ask for this, do not share it.",
			oneLine(projectName), code, expiresIn(expiry)),
	}
}

// OTPEmail is the email carrying a one-time passcode.
func OTPEmail(projectName, to, code string, expiry time.Duration) Message {
	name := oneLine(projectName)
	subject := fmt.Sprintf("Your verification code for %s", name)
	intro := fmt.Sprintf("Your %s verification code is:", name)
	exp := expiresIn(expiry)
	text := fmt.Sprintf("Your %s verification code is %s. %s\n\n%s\n", name, code, exp, ignoreNote)
	return email(to, text, emailData{Subject: subject, Intro: intro, Code: code, Expiry: exp, Ignore: ignoreNote})
}

// OTPText is the SMS or WhatsApp message carrying a one-time passcode, e.g.
// "Your Acme verification code is 123456. It expires in 2 minutes."
func OTPText(channel, projectName, to, code string, expiry time.Duration) Message {
	return Message{
		Channel: channel,
		To:      to,
		Text: fmt.Sprintf("Your %s verification code is %s. %s",
			oneLine(projectName), code, expiresIn(expiry)),
	}
}

// humanDuration writes d in whole minutes (rounded up), or hours when it is
// a whole number of hours: "1 minute", "10 minutes", "2 hours".
func humanDuration(d time.Duration) string {
	mins := int((d + time.Minute - 1) / time.Minute)
	if mins < 1 {
		mins = 1
	}
	if mins >= 60 && mins%60 == 0 {
		return plural(mins/60, "hour")
	}
	return plural(mins, "minute")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
