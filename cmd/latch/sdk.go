package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// firstSDKOrigin is the origin the first test project authorizes for the
// frontend SDK: the usual address of a development server, beside the
// default magic-link URL http://localhost:3000/authenticate.
const firstSDKOrigin = "http://localhost:3000"

// withTLS wraps ln in TLS when a certificate is given: the frontend SDK
// calls https://<customBaseUrl>/sdk/v1 only.
func withTLS(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	if certFile == "" && keyFile == "" {
		return ln, nil
	}
	if certFile == "" || keyFile == "" {
		ln.Close()
		return nil, usagef("latch serve: --tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}), nil
}

var sdkOriginsGroup = group{name: "project sdk-origins", doc: "Manage the origins (scheme://host[:port]) whose pages may call the frontend SDK's /sdk/v1 with the project's public token. A browser's Origin must equal one exactly.", subs: []subcommand{
	{"add", "authorize origins", sdkOrigins("add")},
	{"list", "list the authorized origins", sdkOrigins("list")},
	{"remove", "withdraw origins", sdkOrigins("remove")},
}}

func sdkOrigins(verb string) func(args []string, stdout io.Writer) error {
	return func(args []string, stdout io.Writer) error { return sdkOriginsVerb(verb, args, stdout) }
}

func sdkOriginsVerb(verb string, args []string, stdout io.Writer) error {
	docs := map[string]string{
		"add":    "Authorize origins (http(s)://host[:port]) for the project's public token.",
		"list":   "List the origins authorized for the project's public token.",
		"remove": "Withdraw authorized origins.",
	}
	c := newCommand(stdout, "project sdk-origins "+verb, "ORIGIN…", docs[verb])
	c.minArgs = 1
	if verb == "list" {
		c.argsUsage, c.minArgs = "", 0
	}
	db := databaseFlag(c)
	id := projectFlag(c)
	if err := c.parse(args); err != nil {
		return err
	}
	st, err := openStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.GetProject(ctx, *id); err != nil {
		return fmt.Errorf("project %q: %w", *id, err)
	}
	svc := auth.New(auth.Config{Store: st})
	switch verb {
	case "add":
		for _, o := range c.args() {
			n, err := svc.AddSDKOrigin(ctx, *id, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "added", n)
		}
	case "remove":
		for _, o := range c.args() {
			n, err := svc.RemoveSDKOrigin(ctx, *id, o)
			if err != nil {
				return fmt.Errorf("remove %s: %w", o, err)
			}
			fmt.Fprintln(stdout, "removed", n)
		}
	case "list":
		os, err := svc.SDKOrigins(ctx, *id)
		if err != nil {
			return err
		}
		for _, o := range os {
			fmt.Fprintln(stdout, o.Origin)
		}
	}
	return nil
}

// parseProxies reads --trusted-proxies: addresses or CIDRs, comma-separated.
func parseProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, usagef("latch serve: --trusted-proxies: %q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// sdkSettings is `latch project sdk-settings`: the project's settings that
// the frontend SDK reads at bootstrap.
func sdkSettings(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "project sdk-settings", "", "Show or change the settings the frontend SDK reads at bootstrap. PKCE for email magic links is on by default: a link then logs in only in the browser that asked for it.")
	db := databaseFlag(c)
	id := projectFlag(c)
	pkce := c.fs.String("pkce-required", "", "true or false: whether SDK magic links need PKCE (empty = leave as is)")
	if err := c.parse(args); err != nil {
		return err
	}
	var set *bool
	switch *pkce {
	case "":
	case "true", "false":
		v := *pkce == "true"
		set = &v
	default:
		return usagef("latch project sdk-settings: --pkce-required must be true or false, not %q", *pkce)
	}
	st, err := openStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	p, err := st.GetProject(ctx, *id)
	if err != nil {
		return fmt.Errorf("project %q: %w", *id, err)
	}
	svc := auth.New(auth.Config{Store: st})
	if set != nil {
		if err := svc.SetSDKPKCERequired(ctx, p, *set); err != nil {
			return err
		}
	}
	required, err := svc.SDKPKCERequired(ctx, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pkce_required: %t\n", required)
	return nil
}
