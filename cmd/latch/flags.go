package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usageError is a command used wrongly (an unknown flag or command, a
// stray or missing argument): main prints it on one line and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// command is one subcommand: its flags, those of the deployment (envFlags)
// also read from an environment variable LATCH_<FLAG> (dashes become
// underscores).
type command struct {
	fs        *flag.FlagSet
	name      string
	argsUsage string // "" = the command takes no positional argument
	minArgs   int
	doc       string
	required  []string
	stdout    io.Writer
	// positional are the positional arguments, wherever they stood among
	// the flags.
	positional []string
}

func newCommand(stdout io.Writer, name, args, doc string) *command {
	c := &command{fs: flag.NewFlagSet(name, flag.ContinueOnError), name: name, argsUsage: args, doc: doc, stdout: stdout}
	// The flag package would print its errors and the usage itself; parse
	// prints the usage for --help only, and main the one-line error.
	c.fs.SetOutput(io.Discard)
	c.fs.Usage = func() {}
	return c
}

// require makes flags mandatory: parse refuses the command without them.
func (c *command) require(names ...string) { c.required = append(c.required, names...) }

// envFlags are the flags that describe the deployment (where the database
// and keys are, how to reach the transports, how to listen): the same for
// every command of one installation, so they may come from the
// environment. A flag that chooses what one command does (--name, --to,
// --project, --json, --now…) never does: a stray LATCH_NAME must not
// rename a project.
var envFlags = map[string]bool{
	"addr": true, "database": true, "master-key": true, "master-key-file": true,
	"smtp": true, "email-from": true, "twilio-url": true, "twilio-account-sid": true, "twilio-auth-token": true,
	"twilio-from": true, "twilio-whatsapp-from": true, "log-format": true, "max-connections": true,
	"metrics-addr": true, "tls-cert": true, "tls-key": true, "trusted-proxies": true,
	"breached-passwords-dir": true, "console-addr": true, "console-url": true,
}

func envName(flagName string) string {
	return "LATCH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// noDefault lists the defaults that mean "not set" (zero values and the
// -1 sentinel), which the usage does not print.
var noDefault = map[string]bool{"": true, "0": true, "0s": true, "-1": true, "false": true, "[]": true}

func (c *command) usage(out io.Writer) {
	line := "Usage: latch " + c.name + " [flags]"
	if c.argsUsage != "" {
		line += " " + c.argsUsage
	}
	fmt.Fprintf(out, "%s\n\n%s\n", line, c.doc)
	first := true
	c.fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(out, "\nFlags (those with a $LATCH_… variable are also read from it):\n")
			first = false
		}
		def := ""
		if !noDefault[f.DefValue] {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		req := ""
		if c.isRequired(f.Name) {
			req = " (required)"
		}
		env := ""
		if envFlags[f.Name] {
			env = "   $" + envName(f.Name)
		}
		fmt.Fprintf(out, "  --%s%s\n      %s%s%s\n", f.Name, env, f.Usage, def, req)
	})
}

func (c *command) isRequired(name string) bool {
	for _, r := range c.required {
		if r == name {
			return true
		}
	}
	return false
}

// seeHelp ends a usage error.
func (c *command) seeHelp() string { return fmt.Sprintf("(see 'latch %s --help')", c.name) }

// parse applies the environment, then the command line (which wins). With
// --help it prints the usage to stdout and returns flag.ErrHelp; wrong
// usage is a usageError.
func (c *command) parse(args []string) error {
	var err error
	c.fs.VisitAll(func(f *flag.Flag) {
		if !envFlags[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if _, isList := f.Value.(*listFlag); isList {
				for _, item := range strings.Split(v, ",") {
					if item = strings.TrimSpace(item); item != "" {
						if e := c.fs.Set(f.Name, item); e != nil {
							err = e
						}
					}
				}
				return
			}
			if e := c.fs.Set(f.Name, v); e != nil {
				err = usagef("latch %s: $%s: %v", c.name, envName(f.Name), e)
			}
		}
	})
	if err != nil {
		return err
	}
	// Go's flag package stops at the first positional argument; keep
	// parsing after it so `add URL --project ID` works as well as
	// `add --project ID URL`.
	rest := args
	for {
		if err := c.fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage(c.stdout)
				return flag.ErrHelp
			}
			return usagef("latch %s: %v %s", c.name, err, c.seeHelp())
		}
		rest = c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			c.positional = append(c.positional, rest[1:]...)
			break
		}
		c.positional = append(c.positional, rest[0])
		rest = rest[1:]
	}
	if c.argsUsage == "" && len(c.positional) > 0 {
		return usagef("latch %s: unexpected argument %q %s", c.name, c.positional[0], c.seeHelp())
	}
	if len(c.positional) < c.minArgs {
		return usagef("latch %s: missing %s %s", c.name, c.argsUsage, c.seeHelp())
	}
	for _, name := range c.required {
		if c.fs.Lookup(name).Value.String() == "" {
			return usagef("latch %s: --%s is required %s", c.name, name, c.seeHelp())
		}
	}
	return nil
}

// args are the positional arguments, wherever they stood among the flags.
func (c *command) args() []string { return c.positional }

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// group is a command made of subcommands (latch project, latch keys).
type group struct {
	name, doc string
	subs      []subcommand
}

type subcommand struct {
	name, summary string
	run           func(args []string, stdout io.Writer) error
}

func (g group) names() string {
	var n []string
	for _, s := range g.subs {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

func (g group) usage(out io.Writer) {
	fmt.Fprintf(out, "Usage: latch %s <command> [flags]\n\n%s\n\nCommands:\n", g.name, g.doc)
	for _, s := range g.subs {
		fmt.Fprintf(out, "  %-16s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(out, "\nRun 'latch %s <command> --help' for a command's flags.\n", g.name)
}

func (g group) run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("latch %s: which command? %s (see 'latch %s --help')", g.name, g.names(), g.name)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			return usagef("latch %s %s: unexpected argument %q", g.name, args[0], args[1])
		}
		g.usage(stdout)
		return flag.ErrHelp
	}
	for _, s := range g.subs {
		if s.name == args[0] {
			return s.run(args[1:], stdout)
		}
	}
	return usagef("latch %s: unknown command %q; one of %s (see 'latch %s --help')", g.name, args[0], g.names(), g.name)
}
