package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

var consoleGroup = group{name: "console", doc: "The operators' console at /console/ of `latch serve`.", subs: []subcommand{
	{"operators", "who may sign in to the console (add, list, remove)", operatorsGroup.run},
}}

var operatorsGroup = group{name: "console operators", doc: "Manage the console's operators: the email addresses that may sign in (by a link Latch emails them). Removing an operator signs them out on their next request.", subs: []subcommand{
	{"add", "allow addresses to sign in", operators("add")},
	{"list", "list the operators", operators("list")},
	{"remove", "remove operators and end their console sessions", operators("remove")},
}}

func operators(verb string) func(args []string, stdout io.Writer) error {
	return func(args []string, stdout io.Writer) error { return operatorsVerb(verb, args, stdout) }
}

func operatorsVerb(verb string, args []string, stdout io.Writer) error {
	docs := map[string]string{
		"add":    "Allow email addresses to sign in to the console.",
		"list":   "List the console's operators.",
		"remove": "Remove operators; their console sessions and sign-in links end at once.",
	}
	c := newCommand(stdout, "console operators "+verb, "EMAIL…", docs[verb])
	c.minArgs = 1
	if verb == "list" {
		c.argsUsage, c.minArgs = "", 0
	}
	db := databaseFlag(c)
	if err := c.parse(args); err != nil {
		return err
	}
	// Adding the first operator may come before the first serve.
	if err := prepareDatabase(*db, verb == "add"); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	svc := auth.New(auth.Config{Store: st}) // operators need no keys
	change := map[string]func(context.Context, string, string) (string, error){"add": svc.AddOperator, "remove": svc.RemoveOperator}
	switch verb {
	case "add", "remove":
		for _, e := range c.args() {
			// The console's audit log shows who changed its operators,
			// from here too.
			n, err := change[verb](ctx, e, commandLineActor())
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, map[string]string{"add": "added", "remove": "removed"}[verb], n)
		}
	case "list":
		ops, err := svc.Operators(ctx)
		if err != nil {
			return err
		}
		if len(ops) == 0 {
			fmt.Fprintln(stdout, "(no operators: add one with 'latch console operators add EMAIL')")
		}
		for _, o := range ops {
			fmt.Fprintln(stdout, o.Email)
		}
	}
	return nil
}

// commandLineActor names who ran a command, for the audit log: the
// operating-system user and the machine.
func commandLineActor() string {
	name := "unknown user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return "command line: " + name + "@" + host
}
