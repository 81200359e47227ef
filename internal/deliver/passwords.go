package deliver

import (
	"fmt"
	"time"
)

// PasswordResetEmail is the email carrying a password-reset link.
func PasswordResetEmail(projectName, to, link string, expiry time.Duration) Message {
	name := oneLine(projectName)
	subject := fmt.Sprintf("Reset your password for %s", name)
	intro := fmt.Sprintf("Someone asked to reset the password of your account on %s. The link below lets you choose a new one.", name)
	exp := expiresIn(expiry)
	ignore := "If you did not ask to reset your password, ignore this email: your password stays as it is."
	text := intro + "\n\n" + link + "\n\n" + exp + "\n\n" + ignore + "\n"
	return email(to, text, emailData{Subject: subject, Intro: intro, Button: "Reset your password",
		Link: hrefValue(link), LinkText: link, Expiry: exp, Ignore: ignore})
}
