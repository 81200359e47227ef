package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/latchtest"
)

// The README's walk-through is a test: each fenced block after a
// `<!-- walkthrough -->` line runs, in order, in a shell, against a fresh
// `latch serve` started as the README starts it (no flags but --addr, in an
// empty folder). A `…` in a command stands for a value an earlier step
// printed:
//
//   - kind-test-… (user-test-…, session-test-…) is the first id of that kind
//     in the newest output that had one (the first start's banner included:
//     project-test-…, secret-test-…);
//   - "key":"…" (any text after the …, as in "token":"…=") is the newest
//     value of that JSON field in an output; `latch outbox` supplies
//     "token" (from the link, URL-decoded) and "code" (six digits);
//   - "…secret…" is the newest "secret" field (a TOTP's), and `oathtool`
//     (the authenticator app) supplies "totp_code".
//
// localhost:8080 becomes the test server's address. A trailing
// `# 404 user_not_found` says the status and error_type the call answers;
// other curl calls must answer 200. The fields quoted in a `# → {…}`
// comment under a command must be in its output.

type walkStep struct {
	command string   // the command, continuation lines joined
	expect  string   // "404 user_not_found" from a trailing comment
	fields  []string // the fields named by the `# →` comments that follow
	line    int      // in the README
}

var (
	walkMarker   = "<!-- walkthrough -->"
	trailingWant = regexp.MustCompile(`#\s*(\d{3})\s+([a-z_]+)`)
	quotedField  = regexp.MustCompile(`"([a-z_]+)":`)
	idPattern    = regexp.MustCompile(`\b([a-z]+(?:-[a-z]+)*)-test-([A-Za-z0-9_-]+)`)
	idHole       = regexp.MustCompile(`\b([a-z]+(?:-[a-z]+)*)-test-…`)
	fieldHole    = regexp.MustCompile(`"([a-z_]+)":"…[^"]*"`)
	linkToken    = regexp.MustCompile(`[?&]token=([^&\s"<>]+)`)
	sixDigits    = regexp.MustCompile(`\b\d{6}\b`)
)

// walkthrough reads the marked blocks of the README into steps, and fails
// if a shell block of the walk-through section is left unmarked.
func walkthrough(t *testing.T, readme string) []walkStep {
	t.Helper()
	lines := strings.Split(readme, "\n")
	var steps []walkStep
	inSection, marked, inBlock := false, false, false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "## "):
			inSection = strings.HasPrefix(l, "## A walk-through with curl")
		case strings.TrimSpace(l) == walkMarker:
			marked = true
		case strings.HasPrefix(l, "```") && !inBlock:
			inBlock = true
			if inSection && !marked {
				t.Fatalf("README.md:%d: a block of the walk-through has no %s line before it, so no test runs it", i+1, walkMarker)
			}
			if !marked {
				continue
			}
			marked = false
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				l := lines[i]
				switch {
				case strings.TrimSpace(l) == "":
				case strings.HasPrefix(strings.TrimSpace(l), "#"):
					if len(steps) > 0 && strings.HasPrefix(strings.TrimSpace(l), "# →") {
						s := &steps[len(steps)-1]
						for _, m := range quotedField.FindAllStringSubmatch(l, -1) {
							s.fields = append(s.fields, m[1])
						}
					}
				default:
					step := walkStep{line: i + 1}
					cmd := l
					for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
						i++
						cmd = strings.TrimSuffix(cmd, "\\") + " " + strings.TrimSpace(lines[i])
					}
					if j := strings.Index(cmd, "  #"); j >= 0 {
						if m := trailingWant.FindStringSubmatch(cmd[j:]); m != nil {
							step.expect = m[1] + " " + m[2]
						}
						cmd = cmd[:j]
					}
					step.command = strings.TrimSpace(cmd)
					steps = append(steps, step)
				}
			}
			inBlock = false
		case strings.HasPrefix(l, "```"):
			inBlock = false
		}
	}
	return steps
}

func TestTheREADMEWalkThroughRunsAsWritten(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps := walkthrough(t, string(readme))
	if len(steps) < 20 {
		t.Fatalf("found %d walk-through commands in README.md; the markers are lost?", len(steps))
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README walk-through needs curl (apt-get install curl)")
	}

	dir := t.TempDir()
	s := startServer(t, dir, nil, "")
	ids := map[string]string{}    // kind → id
	fields := map[string]string{} // JSON field → value
	harvestIDs := func(out string) {
		seen := map[string]bool{}
		for _, m := range idPattern.FindAllStringSubmatch(out, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				ids[m[1]] = m[0]
			}
		}
	}
	harvestIDs(s.stdout.String())
	if ids["project"] == "" || ids["secret"] == "" {
		t.Fatalf("the first start printed no credentials:\n%s", s.stdout)
	}

	var env []string // the export lines run so far, for every later step
	path := filepath.Dir(latchBin) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, st := range steps {
		where := "README.md:" + strconv.Itoa(st.line)
		cmd := strings.ReplaceAll(st.command, "localhost:8080", s.addr)
		var missing []string
		cmd = idHole.ReplaceAllStringFunc(cmd, func(h string) string {
			kind := idHole.FindStringSubmatch(h)[1]
			if ids[kind] == "" {
				missing = append(missing, h)
			}
			return ids[kind]
		})
		cmd = fieldHole.ReplaceAllStringFunc(cmd, func(h string) string {
			key := fieldHole.FindStringSubmatch(h)[1]
			if fields[key] == "" {
				missing = append(missing, h)
			}
			return `"` + key + `":"` + fields[key] + `"`
		})
		cmd = strings.ReplaceAll(cmd, "…secret…", fields["secret"])
		if strings.Contains(cmd, "…") || len(missing) > 0 {
			t.Fatalf("%s: no earlier step printed a value for %v in\n%s", where, missing, st.command)
		}
		if strings.HasPrefix(cmd, "export ") {
			env = append(env, cmd)
			if cmd != "export P="+ids["project"]+" S="+ids["secret"] {
				t.Fatalf("%s: the README's %q is not the line the first start prints", where, st.command)
			}
			if !strings.Contains(s.stdout.String(), "\n  "+cmd+"\n") {
				t.Fatalf("%s: the first start does not print %q ready to paste:\n%s", where, cmd, s.stdout)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		sh := exec.CommandContext(ctx, "sh", "-c", strings.Join(append(env, cmd), "\n"))
		sh.Dir, sh.Env = dir, latchtest.Environ("PATH="+path)
		var stdout, stderr bytes.Buffer
		sh.Stdout, sh.Stderr = &stdout, &stderr
		err := sh.Run()
		cancel()
		out := stdout.String()
		if err != nil || out == "" {
			t.Fatalf("%s: %s\n→ %v, stdout %q, stderr %q", where, cmd, err, out, stderr.String())
		}
		harvestIDs(out)
		if strings.HasPrefix(cmd, "oathtool") {
			if fields["totp_code"] = sixDigits.FindString(out); fields["totp_code"] == "" {
				t.Fatalf("%s: %s\n→ no code: %q", where, cmd, out)
			}
			continue
		}
		if strings.HasPrefix(cmd, "latch outbox") {
			if m := linkToken.FindStringSubmatch(out); m != nil {
				tok, err := url.QueryUnescape(m[1])
				if err != nil {
					t.Fatalf("%s: the link's token %q: %v", where, m[1], err)
				}
				fields["token"] = tok
			}
			if m := sixDigits.FindString(out); m != "" {
				fields["code"] = m
			}
			continue
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(out), &body); err != nil {
			t.Fatalf("%s: %s\n→ not a JSON object: %s", where, cmd, out)
		}
		harvestFields(body, fields, true)
		got := ""
		if code, ok := body["status_code"].(float64); ok {
			got = strconv.Itoa(int(code))
			if et, ok := body["error_type"].(string); ok {
				got += " " + et
			}
		}
		want := st.expect
		if want == "" && got != "" {
			want = "200"
		}
		t.Logf("%s: %s → %s", where, cmd, strings.TrimSpace(got+" "+strings.Join(st.fields, ",")))
		if got != want {
			t.Fatalf("%s: %s\n→ answered %q, the README says %q:\n%s", where, cmd, got, want, out)
		}
		for _, f := range st.fields {
			if !strings.Contains(out, `"`+f+`":`) {
				t.Fatalf("%s: %s\n→ the README shows %q in the answer, which has none:\n%s", where, cmd, f, out)
			}
		}
	}
}

// harvestFields records the string fields of an answer: the top level
// first, so that a nested field of the same name does not override it.
func harvestFields(v any, into map[string]string, top bool) {
	m, ok := v.(map[string]any)
	if !ok {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				harvestFields(e, into, false)
			}
		}
		return
	}
	set := map[string]bool{}
	for k, e := range m {
		if s, ok := e.(string); ok && s != "" {
			into[k], set[k] = s, true
		}
	}
	for _, e := range m {
		if _, ok := e.(string); !ok {
			nested := map[string]string{}
			harvestFields(e, nested, false)
			for k, s := range nested {
				if !set[k] || !top {
					into[k] = s
				}
			}
		}
	}
}
