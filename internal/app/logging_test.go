package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretAttributesAreRedactedAtEveryDepth: a secret-bearing attribute
// is redacted whether logged directly, in a group, or bound with With.
func TestSecretAttributesAreRedactedAtEveryDepth(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(RedactSecrets(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	lg.With("session_token", "tok-1").Debug("a", "code", "123456", slog.Group("msg", "Text", "link https://x/?token=tok-2"), "to", "ada@example.com")
	lg.WithGroup("g").Info("b", "secret", "tok-3")
	out := buf.String()
	for _, s := range []string{"tok-1", "123456", "tok-2", "tok-3"} {
		if strings.Contains(out, s) {
			t.Errorf("%q is in the log:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "ada@example.com") || strings.Count(out, Redacted) != 4 {
		t.Errorf("want 4 redactions and the recipient:\n%s", out)
	}
}
