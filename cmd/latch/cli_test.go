package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// leafCommands are every command that takes flags, with those flags.
var leafCommands = []struct {
	args  []string
	flags []string
	// positional is true for the commands that take arguments (URLs).
	positional bool
}{
	{[]string{"serve"}, []string{"addr", "database", "master-key", "master-key-file", "smtp", "email-from", "twilio-url", "twilio-account-sid", "twilio-auth-token", "twilio-from", "twilio-whatsapp-from", "log-format", "metrics-addr", "console-addr", "console-url", "max-connections", "tls-cert", "tls-key", "trusted-proxies", "breached-passwords-dir"}, false},
	{[]string{"migrate"}, []string{"database"}, false},
	{[]string{"version"}, nil, false},
	{[]string{"outbox"}, []string{"database", "master-key", "master-key-file", "to", "limit", "json"}, false},
	{[]string{"project", "create"}, []string{"database", "master-key", "master-key-file", "name", "live", "redirect-url", "sdk-origin", "json"}, false},
	{[]string{"project", "list"}, []string{"database", "json"}, false},
	{[]string{"project", "delete"}, []string{"database", "project"}, false},
	{[]string{"project", "settings"}, []string{"database", "master-key", "master-key-file", "project", "name", "lock-threshold", "lock-ttl", "recipient-sends-per-minute", "project-sends-per-minute", "password-policy", "luds-min-length", "luds-complexity"}, false},
	{[]string{"project", "rotate-secret"}, []string{"database", "master-key", "master-key-file", "project", "revoke-secret", "json"}, false},
	{[]string{"project", "redirect-urls", "add"}, []string{"database", "project"}, true},
	{[]string{"project", "redirect-urls", "list"}, []string{"database", "project"}, false},
	{[]string{"project", "redirect-urls", "remove"}, []string{"database", "project"}, true},
	{[]string{"project", "sdk-origins", "add"}, []string{"database", "project"}, true},
	{[]string{"project", "sdk-origins", "list"}, []string{"database", "project"}, false},
	{[]string{"project", "sdk-origins", "remove"}, []string{"database", "project"}, true},
	{[]string{"project", "sdk-settings"}, []string{"database", "project", "pkce-required"}, false},
	{[]string{"keys", "rotate"}, []string{"database", "master-key", "master-key-file", "project", "grace", "lead", "now"}, false},
	{[]string{"console", "operators", "add"}, []string{"database"}, true},
	{[]string{"console", "operators", "list"}, []string{"database"}, false},
	{[]string{"console", "operators", "remove"}, []string{"database"}, true},
}

// groups are the commands made of subcommands.
var groups = []struct {
	args []string
	subs []string
}{
	{[]string{"project"}, []string{"create", "list", "delete", "settings", "rotate-secret", "redirect-urls", "sdk-origins", "sdk-settings"}},
	{[]string{"project", "redirect-urls"}, []string{"add", "list", "remove"}},
	{[]string{"project", "sdk-origins"}, []string{"add", "list", "remove"}},
	{[]string{"console"}, []string{"operators"}},
	{[]string{"console", "operators"}, []string{"add", "list", "remove"}},
	{[]string{"keys"}, []string{"rotate"}},
}

// emptyAfter fails if anything was created in dir.
func emptyAfter(t *testing.T, dir string, what string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) > 0 {
		t.Fatalf("%s created %s in its folder", what, es[0].Name())
	}
}

func TestEveryCommandShowsItsOwnFlagsOnceWithHelp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flagName := regexp.MustCompile(`(?m)^  --([a-z-]+)(?:   \$|$)`)
	for i, c := range leafCommands {
		name := strings.Join(c.args, " ")
		helps := []string{"--help"}
		if i == 0 {
			helps = append(helps, "-h", "-help")
		}
		for _, help := range helps {
			r := latch(t, dir, nil, append(c.args, help)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("latch %s %s: exit %d, stderr %q", name, help, r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "Usage: latch "+name+" [flags]") {
				t.Fatalf("latch %s %s does not start with its usage line:\n%s", name, help, r.stdout)
			}
			var got []string
			for _, m := range flagName.FindAllStringSubmatch(r.stdout, -1) {
				got = append(got, m[1])
			}
			seen := map[string]int{}
			for _, f := range got {
				seen[f]++
			}
			for _, f := range c.flags {
				if seen[f] != 1 {
					t.Fatalf("latch %s --help shows --%s %d times:\n%s", name, f, seen[f], r.stdout)
				}
			}
			if len(got) != len(c.flags) {
				t.Fatalf("latch %s --help shows flags %v, want %v", name, got, c.flags)
			}
			// One default per flag at most: no "default 1h" beside `(default "0s")`.
			for _, block := range strings.Split(r.stdout, "\n  --")[1:] {
				if n := strings.Count(block, "default"); n > 1 {
					t.Fatalf("latch %s --help gives --%s two defaults", name, block)
				}
			}
		}
	}
	for i, g := range groups {
		name := strings.Join(g.args, " ")
		helps := []string{"--help"}
		if i == 0 {
			helps = append(helps, "-h", "help")
		}
		for _, help := range helps {
			r := latch(t, dir, nil, append(g.args, help)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("latch %s %s: exit %d, stderr %q", name, help, r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "Usage: latch "+name+" <command>") {
				t.Fatalf("latch %s %s:\n%s", name, help, r.stdout)
			}
			for _, sub := range g.subs {
				if !regexp.MustCompile(`(?m)^  ` + sub + ` `).MatchString(r.stdout) {
					t.Fatalf("latch %s --help does not list %s:\n%s", name, sub, r.stdout)
				}
			}
		}
	}
	if r := latch(t, dir, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage: latch <command>") {
		t.Fatalf("latch --help: exit %d\n%s", r.code, r.stdout)
	}
	emptyAfter(t, dir, "--help")
}

// wrongUsage fails unless the command exits 2 with one line on stderr
// that holds want, and nothing on stdout.
func wrongUsage(t *testing.T, dir string, want string, args ...string) result {
	t.Helper()
	r := latch(t, dir, nil, args...)
	if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("latch %q: want exit 2 and one line with %q; got exit %d\nstdout: %q\nstderr: %q", args, want, r.code, r.stdout, r.stderr)
	}
	return r
}

func TestWrongUsageExitsTwoWithOneLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range leafCommands {
		args := append([]string{}, c.args...)
		if c.positional {
			args = append(args, "https://a.example/")
		}
		// The unknown flag is named once.
		r := wrongUsage(t, dir, "flag provided but not defined: -no-such-flag", append(args, "--no-such-flag")...)
		if strings.Count(r.stderr, "no-such-flag") != 1 {
			t.Fatalf("latch %v: the unknown flag is named more than once: %q", args, r.stderr)
		}
		if !c.positional {
			wrongUsage(t, dir, `unexpected argument "extra-arg"`, append(args, "extra-arg")...)
		}
		for _, f := range c.flags {
			if f == "project" {
				wrongUsage(t, dir, "--project is required", args...)
			}
		}
	}
	for _, args := range [][]string{{"project", "redirect-urls", "add", "--project", "p"}, {"project", "redirect-urls", "remove", "--project", "p"}} {
		wrongUsage(t, dir, "missing URL", args...)
	}
	for _, g := range groups {
		wrongUsage(t, dir, `unknown command "frobnicate"`, append(g.args, "frobnicate")...)
		wrongUsage(t, dir, "which command?", g.args...)
	}
	wrongUsage(t, dir, `unknown command "frobnicate"`, "frobnicate")
	// A rotation's timing is said one way: --now is a lead of 0, and a
	// grace of 0 would have silently meant the 30-day default.
	wrongUsage(t, dir, "--now and --lead contradict each other", "keys", "rotate", "--project", "p", "--now", "--lead", "1m")
	wrongUsage(t, dir, "--grace must be positive", "keys", "rotate", "--project", "p", "--grace", "0")
	wrongUsage(t, dir, "--limit must be 1 or more", "outbox", "--limit", "-1")
	if r := latch(t, dir, []string{"LATCH_MAX_CONNECTIONS=many"}, "serve"); r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "$LATCH_MAX_CONNECTIONS") {
		t.Fatalf("a malformed LATCH_MAX_CONNECTIONS: exit %d %q", r.code, r.stderr)
	}
	emptyAfter(t, dir, "wrong usage")
}

func TestAMistypedSQLitePathIsRefusedAndOnlyLatchDataIsCreated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo", "latch.db")
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"migrate"},
		{"project", "create"},
	} {
		r := latch(t, dir, nil, append(args, "--database", "sqlite:"+typo)...)
		if r.code != 1 || !strings.Contains(r.stderr, "the folder "+filepath.Dir(typo)+" of the SQLite database") {
			t.Fatalf("latch %v with a database in a missing folder: exit %d %q", args, r.code, r.stderr)
		}
	}
	emptyAfter(t, dir, "a mistyped --database")
	// The default folder is made.
	mustLatch(t, dir, nil, "migrate")
	if _, err := os.Stat(filepath.Join(dir, "latch-data", "latch.db")); err != nil {
		t.Fatalf("the default latch-data/ was not made: %v", err)
	}
}

func TestReadOnlyCommandsNeverCreateADatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"outbox"},
		{"project", "list"},
		{"project", "delete", "--project", "project-test-x"},
		{"project", "settings", "--project", "project-test-x"},
		{"project", "rotate-secret", "--project", "project-test-x"},
		{"project", "redirect-urls", "list", "--project", "project-test-x"},
		{"project", "redirect-urls", "remove", "--project", "project-test-x", "https://a.example/"},
		{"keys", "rotate", "--project", "project-test-x"},
		{"console", "operators", "list"},
		{"console", "operators", "remove", "a@example.com"},
	} {
		for _, db := range []string{"", filepath.Join(dir, "latch.db")} {
			a := args
			want := "no database at latch-data/latch.db"
			if db != "" {
				a, want = append(append([]string{}, args...), "--database", "sqlite:"+db), "no database at "+db
			}
			r := latch(t, dir, nil, a...)
			if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("latch %v without a database: exit %d %q", a, r.code, r.stderr)
			}
		}
	}
	emptyAfter(t, dir, "a command on a missing database")
}

func TestASecondServerOnTheSameSQLiteFileRefusesToStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	first := startServer(t, dir, nil, "", "--database", db)
	start := time.Now()
	r := latch(t, dir, nil, "serve", "--addr", freeAddr(t), "--database", db)
	if r.code != 1 || !strings.Contains(r.stderr, "another latch serve is running on "+filepath.Join(dir, "latch.db")) {
		t.Fatalf("a second server on one SQLite file: exit %d after %s\nstderr: %s", r.code, time.Since(start), r.stderr)
	}
	// The first one is unharmed; once it stops, the file is free again.
	id, secret := first.firstProject(t)
	accepted(t, first, id, secret)
	if code := first.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	second := startServer(t, dir, nil, "", "--database", db)
	accepted(t, second, id, secret)
}
