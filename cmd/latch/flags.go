package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// command is one subcommand: its flags, each also read from an
// environment variable LATCH_<FLAG> (dashes become underscores).
type command struct {
	fs         *flag.FlagSet
	name       string
	argsUsage  string
	doc        string
	positional []string
}

func newCommand(name, args, doc string) *command {
	c := &command{fs: flag.NewFlagSet(name, flag.ContinueOnError), name: name, argsUsage: args, doc: doc}
	c.fs.Usage = c.usage
	return c
}

func envName(flagName string) string {
	return "LATCH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *command) usage() {
	out := c.fs.Output()
	fmt.Fprintf(out, "Usage: latch %s [flags] %s\n\n%s\n\nFlags (each also read from the environment variable shown):\n", c.name, c.argsUsage, c.doc)
	c.fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(out, "  --%s   $%s\n      %s%s\n", f.Name, envName(f.Name), f.Usage, def)
	})
}

// parse applies the environment, then the command line (which wins).
func (c *command) parse(args []string) error {
	var err error
	c.fs.VisitAll(func(f *flag.Flag) {
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
				err = fmt.Errorf("$%s: %w", envName(f.Name), e)
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
			return err
		}
		rest = c.fs.Args()
		if len(rest) == 0 {
			return nil
		}
		if rest[0] == "--" {
			c.positional = append(c.positional, rest[1:]...)
			return nil
		}
		c.positional = append(c.positional, rest[0])
		rest = rest[1:]
	}
}

// args are the positional arguments, wherever they stood among the flags.
func (c *command) args() []string { return c.positional }

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
