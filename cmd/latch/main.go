// Command latch is a self-hosted authentication server that speaks
// Stytch's Consumer API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/latch-auth/latch/internal/app"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

const defaultDatabase = "sqlite:latch-data/latch.db"

var version = "dev"

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode prints err on one line and says how latch exits: 0 on success
// and after --help, 2 for wrong usage, 1 when the command failed.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.msg)
		return 2
	default:
		fmt.Fprintln(stderr, "latch:", err)
		return 1
	}
}

const topUsage = `latch: a self-hosted authentication server that speaks Stytch's Consumer API.

Usage: latch <command> [flags]

Commands:
  serve                          run the server
  project create|list|delete     manage projects (tenants)
  project settings               a project's lock and send limits
  project rotate-secret          add a project secret, or revoke one
  project redirect-urls add|list|remove
                                 the allow-list of magic-link URLs
  project sdk-origins add|list|remove
                                 the origins whose pages may use the public token
  project sdk-settings           PKCE for the frontend SDK's magic links
  keys rotate                    rotate a project's JWT signing key
  outbox                         list outgoing email and SMS (the dev outbox)
  console operators add|list|remove
                                 who may sign in to the operators' console (/console/)
  migrate                        apply database migrations
  version                        print the version

Run 'latch <command> --help' for a command's flags.
`

var projectGroup = group{name: "project", doc: "Manage projects (tenants): their secrets, redirect URLs and limits.", subs: []subcommand{
	{"create", "create a project and print its secret once", projectCreate},
	{"list", "list projects, their secret ids and redirect URLs", projectList},
	{"delete", "delete a project and everything in it", projectDelete},
	{"settings", "show or change a project's lock and send limits", projectSettings},
	{"rotate-secret", "add a project secret, or revoke one", rotateSecret},
	{"redirect-urls", "the allow-list of magic-link URLs (add, list, remove)", redirectURLsGroup.run},
	{"sdk-origins", "the origins whose pages may call /sdk/v1 with the public token (add, list, remove)", sdkOriginsGroup.run},
	{"sdk-settings", "show or change what the frontend SDK reads at bootstrap (PKCE)", sdkSettings},
}}

var redirectURLsGroup = group{name: "project redirect-urls", doc: "Manage the allow-list of magic-link redirect URLs. The oldest URL is the default for login, signup and invite links.", subs: []subcommand{
	{"add", "allow URLs", redirectURLs.verb("add")},
	{"list", "list the allowed URLs, the default first", redirectURLs.verb("list")},
	{"remove", "remove URLs", redirectURLs.verb("remove")},
}}

var keysGroup = group{name: "keys", doc: "Manage the signing keys of session JWTs.", subs: []subcommand{
	{"rotate", "make a new signing key for a project", keysRotate},
}}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usageError{"latch: which command? (see 'latch --help')"}
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "migrate":
		return migrate(args[1:], stdout)
	case "version", "--version":
		c := newCommand(stdout, "version", "", "Print the version.")
		if err := c.parse(args[1:]); err != nil {
			return err
		}
		v := version
		if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		fmt.Fprintln(stdout, "latch", v)
		return nil
	case "project":
		return projectGroup.run(args[1:], stdout)
	case "keys":
		return keysGroup.run(args[1:], stdout)
	case "outbox":
		return outbox(args[1:], stdout)
	case "console":
		return consoleGroup.run(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return usagef("latch %s: unexpected argument %q", args[0], args[1])
		}
		fmt.Fprint(stdout, topUsage)
		return flag.ErrHelp
	}
	return usagef("latch: unknown command %q (see 'latch --help')", args[0])
}

func databaseFlag(c *command) *string {
	return c.fs.String("database", defaultDatabase, "database URL: sqlite:PATH (embedded) or postgres://user:pass@host:5432/db?sslmode=…")
}

func masterKeyFlags(c *command) (b64, file *string) {
	return c.fs.String("master-key", "", "the master key, base64 of 32 bytes; every node of one database needs the same (overrides --master-key-file)"),
		c.fs.String("master-key-file", "", "file holding the master key; if unset, master.key in the SQLite database's folder (latch-data/ for PostgreSQL), created on first start")
}

// projectFlag is the --project flag of the commands that act on one.
func projectFlag(c *command) *string {
	c.require("project")
	return c.fs.String("project", "", "project_id")
}

// prepareDatabase checks a SQLite database before a command opens it.
// Only serve, migrate and project create (create set) may make a new
// database, and only in a folder that exists, except the default
// latch-data/, which they create; other commands need the database to
// exist. PostgreSQL URLs pass.
func prepareDatabase(db string, create bool) error {
	path, ok := sqlstore.SQLitePath(db)
	if !ok {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !create {
		return fmt.Errorf("no database at %s: run 'latch serve' there first, or point --database (or $LATCH_DATABASE) at Latch's database", path)
	}
	dir := filepath.Dir(path)
	if db == defaultDatabase {
		return os.MkdirAll(dir, 0o700)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("the folder %s of the SQLite database %s does not exist: create it first (Latch creates only the default latch-data/)", dir, path)
	}
	return nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	c := newCommand(stdout, "serve", "", "Run Latch's HTTP API, the outbox sender and the janitor. Session JWTs are signed with the system's OpenSSL (libcrypto.so.3) where it loads, else Go's crypto/rsa; LATCH_RSA_SIGNER=go forces crypto/rsa.")
	addr := c.fs.String("addr", "127.0.0.1:8080", "address to listen on")
	db := databaseFlag(c)
	mk, mkFile := masterKeyFlags(c)
	smtpURL := c.fs.String("smtp", "", "SMTP server for email: smtp://[user:pass@]host:port (STARTTLS when offered) or smtps://… (implicit TLS); unset = test projects' email stays in the dev outbox (latch outbox) and live projects' email sends are refused")
	from := c.fs.String("email-from", "", "From address of emails, e.g. 'Acme <login@acme.example>'")
	twURL := c.fs.String("twilio-url", deliver.TwilioBaseURL, "Twilio API base URL")
	twSID := c.fs.String("twilio-account-sid", "", "Twilio account SID; unset = test projects' SMS and WhatsApp stay in the dev outbox and live projects' are refused")
	twToken := c.fs.String("twilio-auth-token", "", "Twilio auth token")
	twFrom := c.fs.String("twilio-from", "", "Twilio sender number for SMS, E.164")
	twWA := c.fs.String("twilio-whatsapp-from", "", "Twilio sender number for WhatsApp, E.164")
	logFormat := c.fs.String("log-format", "text", "log format: text or json")
	metricsAddr := c.fs.String("metrics-addr", "127.0.0.1:9090", "address of the Prometheus metrics listener (GET /metrics), apart from the API's; empty = no metrics")
	consoleAddr := c.fs.String("console-addr", "", "serve the operators' console on this address of its own instead of /console/ of --addr (keep it off a public API address: bind it to localhost, a VPN or an internal interface)")
	consoleURL := c.fs.String("console-url", "", "the console's public URL, the base of the sign-in links emailed to operators, e.g. https://latch.example.com/console/ (https makes its cookies Secure); default http://<listen address>/console/")
	maxConns := c.fs.Int("max-connections", 1024, "most API connections open at once; more wait in the kernel's backlog (0 = no cap)")
	breached := c.fs.String("breached-passwords-dir", "", "directory of breached-password range files (Have I Been Pwned's k-anonymity format: one file per 5-hex-digit SHA-1 prefix, lines SUFFIX:COUNT); empty = no breach check")
	tlsCert := c.fs.String("tls-cert", "", "PEM certificate (chain) file: serve HTTPS, as the frontend SDK requires; with --tls-key")
	tlsKey := c.fs.String("tls-key", "", "PEM private key file of --tls-cert")
	proxies := c.fs.String("trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (the frontend SDK's per-address send limit and session attributes); empty = the connection's address")
	if err := c.parse(args); err != nil {
		return err
	}
	trusted, err := parseProxies(*proxies)
	if err != nil {
		return err
	}
	if *logFormat != "text" && *logFormat != "json" {
		return usagef("latch serve: --log-format must be text or json, not %q", *logFormat)
	}
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(stderr, nil)
	}
	logger := slog.New(app.RedactSecrets(h))
	slog.SetDefault(logger)

	if err := prepareDatabase(*db, true); err != nil {
		return err
	}
	if path, ok := sqlstore.SQLitePath(*db); ok {
		unlock, err := lockDatabase(path)
		if err != nil {
			return err
		}
		defer unlock()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Open(ctx, app.Config{
		Database: *db, MasterKey: *mk, MasterKeyFile: *mkFile,
		SMTPURL: *smtpURL, EmailFrom: *from,
		TwilioURL: *twURL, TwilioAccountSID: *twSID, TwilioAuthToken: *twToken, TwilioFrom: *twFrom, TwilioWhatsAppFrom: *twWA,
		Logger: logger, MaxConnections: *maxConns, BreachedPasswordsDir: *breached, TrustedProxies: trusted,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if ln, err = withTLS(ln, *tlsCert, *tlsKey); err != nil {
		return err
	} else if *tlsCert != "" {
		scheme = "https"
	}
	var mln, cln net.Listener
	closeListeners := func() {
		for _, l := range []net.Listener{ln, mln, cln} {
			if l != nil {
				l.Close()
			}
		}
	}
	if *metricsAddr != "" {
		if mln, err = net.Listen("tcp", *metricsAddr); err != nil {
			closeListeners()
			return fmt.Errorf("metrics listener (--metrics-addr): %w", err)
		}
	}
	if *consoleAddr != "" {
		if cln, err = net.Listen("tcp", *consoleAddr); err != nil {
			closeListeners()
			return fmt.Errorf("console listener (--console-addr): %w", err)
		}
		if cln, err = withTLS(cln, *tlsCert, *tlsKey); err != nil { // HTTPS there too (withTLS closed it)
			closeListeners()
			return err
		}
	}
	curl := *consoleURL
	if curl == "" {
		curlAddr := ln.Addr()
		if cln != nil {
			curlAddr = cln.Addr()
		}
		curl = baseURL(scheme, curlAddr) + "/console/"
	}
	if err := a.EnableConsole(curl, cln != nil); err != nil {
		closeListeners()
		return fmt.Errorf("console (--console-url): %w", err)
	}
	if _, ok := sqlstore.SQLitePath(*db); ok {
		// This process holds the SQLite file's lock: a message still leased
		// was claimed by a process that died, and goes out now rather than
		// when its lease ends.
		if _, err := a.Store.ReleaseMessageLeases(ctx, time.Now()); err != nil {
			closeListeners()
			return err
		}
	}
	if err := firstProject(ctx, a, stdout, baseURL(scheme, ln.Addr())); err != nil {
		closeListeners()
		return err
	}
	if err := warnUndeliverable(ctx, a, logger); err != nil {
		closeListeners()
		return err
	}
	attrs := []any{"addr", ln.Addr().String(), "database", a.Store.Backend(), "version", version, "max_connections", *maxConns, "jwt_signer", keys.SignerName()}
	if mln != nil {
		attrs = append(attrs, "metrics_addr", mln.Addr().String())
	}
	attrs = append(attrs, "console_url", curl)
	logger.Info("latch listening", attrs...)
	served := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			logger.Info("latch shutting down: finishing in-flight requests and deliveries (up to 20 s)")
		case <-served:
		}
	}()
	err = a.ServeAll(ctx, ln, mln, cln)
	close(served)
	if err != nil {
		logger.Error("latch stopped", "err", err)
		return err
	}
	logger.Info("latch stopped")
	return nil
}

// lockDatabase makes sure one `latch serve` at a time runs on a SQLite
// file: it holds an exclusive lock on PATH.lock until unlock.
func lockDatabase(path string) (unlock func(), err error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("another latch serve is running on %s (it holds %s): stop it first; several nodes need PostgreSQL", path, lockPath)
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}

// warnUndeliverable warns, once a channel, when live projects exist and the
// channel has no transport: their sends on it are refused (fail closed).
func warnUndeliverable(ctx context.Context, a *app.App, logger *slog.Logger) error {
	channels, ids, err := a.UndeliverableChannels(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	for _, ch := range channels {
		logger.Warn("live projects cannot send "+ch+": no transport configured; their "+ch+" sends are refused with 503 "+ch+"_delivery_not_configured",
			"channel", ch, "live_projects", len(ids), "project_ids", strings.Join(ids, ","))
	}
	return nil
}

// baseURL is the URL (scheme http or https) a local curl reaches the
// listener at.
func baseURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// firstProject creates a test project on the first start and prints its
// credentials once, so a newcomer can paste them into curl.
func firstProject(ctx context.Context, a *app.App, stdout io.Writer, base string) error {
	ps, err := a.Store.ListProjects(ctx)
	if err != nil || len(ps) > 0 {
		return err
	}
	cp, err := a.Service.CreateProject(ctx, auth.NewProject{Name: "Test project", RedirectURLs: []string{"http://localhost:3000/authenticate"}, SDKOrigins: []string{firstSDKOrigin}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
Created a test project. Its secret is shown only this once:

  project_id:   %s
  secret:       %s
  public_token: %s (the frontend SDK's; pages at %s may use it)

For the README's curl walk-through, paste:

  export P=%s S=%s

Try it (the project's JWKS, public: apps verify session JWTs with it):
  curl %s/v1/sessions/jwks/$P

Magic links go to http://localhost:3000/authenticate by default ('latch project redirect-urls --help').

`, cp.Project.ID, cp.Secret, cp.PublicToken, firstSDKOrigin, cp.Project.ID, cp.Secret, base)
	return nil
}

func migrate(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "migrate", "", "Apply the database migrations (serve also applies them on start).")
	db := databaseFlag(c)
	if err := c.parse(args); err != nil {
		return err
	}
	if err := prepareDatabase(*db, true); err != nil {
		return err
	}
	st, err := sqlstore.Open(context.Background(), *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// openApp opens the database and keys for a management command; only
// create may make a new database.
func openApp(db, mk, mkFile string, create bool) (*app.App, error) {
	if err := prepareDatabase(db, create); err != nil {
		return nil, err
	}
	return app.Open(context.Background(), app.Config{Database: db, MasterKey: mk, MasterKeyFile: mkFile, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// openStore opens an existing database for a management command.
func openStore(db string) (*sqlstore.DB, error) {
	if err := prepareDatabase(db, false); err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(context.Background(), db)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(context.Background()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func projectCreate(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "project create", "", "Create a project and print its project_id and secret (shown only once).")
	db := databaseFlag(c)
	mk, mkFile := masterKeyFlags(c)
	name := c.fs.String("name", "", "project name, shown in emails")
	live := c.fs.Bool("live", false, "create a live project (project-live-…) instead of a test one")
	var urls listFlag
	c.fs.Var(&urls, "redirect-url", "allowed magic-link redirect URL; repeat for more; the first is the default")
	var origins listFlag
	c.fs.Var(&origins, "sdk-origin", "origin (http(s)://host[:port]) whose pages may call /sdk/v1 with the public token; repeat for more")
	asJSON := c.fs.Bool("json", false, `print {"project_id":…,"secret":…,"public_token":…} only`)
	if err := c.parse(args); err != nil {
		return err
	}
	a, err := openApp(*db, *mk, *mkFile, true)
	if err != nil {
		return err
	}
	defer a.Close()
	cp, err := a.Service.CreateProject(context.Background(), auth.NewProject{Name: *name, Live: *live, RedirectURLs: urls, SDKOrigins: origins})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			ProjectID   string `json:"project_id"`
			Secret      string `json:"secret"`
			PublicToken string `json:"public_token"`
		}{cp.Project.ID, cp.Secret, cp.PublicToken})
	}
	fmt.Fprintf(stdout, "project_id:   %s\nsecret:       %s\npublic_token: %s\n(the secret is shown only this once)\n", cp.Project.ID, cp.Secret, cp.PublicToken)
	return nil
}
func projectList(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "project list", "", "List projects with their secret ids (never the secrets) and redirect URLs.")
	db := databaseFlag(c)
	asJSON := c.fs.Bool("json", false, "print JSON")
	if err := c.parse(args); err != nil {
		return err
	}
	st, err := openStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	ps, err := st.ListProjects(ctx)
	if err != nil {
		return err
	}
	type row struct {
		ProjectID    string    `json:"project_id"`
		Name         string    `json:"name"`
		Live         bool      `json:"live"`
		CreatedAt    time.Time `json:"created_at"`
		SecretIDs    []string  `json:"secret_ids"`
		RedirectURLs []string  `json:"redirect_urls"`
		PublicToken  string    `json:"public_token"`
		SDKOrigins   []string  `json:"sdk_origins"`
	}
	rows := []row{}
	svc := auth.New(auth.Config{Store: st})
	for _, p := range ps {
		r := row{ProjectID: p.ID, Name: p.Name, Live: p.Live, CreatedAt: p.CreatedAt, SecretIDs: []string{}, RedirectURLs: []string{}, SDKOrigins: []string{}}
		if r.PublicToken, err = svc.PublicToken(ctx, p); err != nil {
			return err
		}
		os, err := st.ListSDKOrigins(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, o := range os {
			r.SDKOrigins = append(r.SDKOrigins, o.Origin)
		}
		secs, err := st.ListProjectSecrets(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, s := range secs {
			r.SecretIDs = append(r.SecretIDs, s.ID)
		}
		us, err := st.ListRedirectURLs(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, u := range us {
			r.RedirectURLs = append(r.RedirectURLs, u.URL)
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT_ID\tNAME\tSECRET_IDS\tREDIRECT_URLS\tPUBLIC_TOKEN\tSDK_ORIGINS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ProjectID, r.Name, strings.Join(r.SecretIDs, ","), strings.Join(r.RedirectURLs, ","), r.PublicToken, strings.Join(r.SDKOrigins, ","))
	}
	return tw.Flush()
}

func projectDelete(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "project delete", "", "Delete a project and everything in it, at once.")
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
	if err := st.DeleteProject(context.Background(), *id); err != nil {
		return fmt.Errorf("delete %s: %w", *id, err)
	}
	fmt.Fprintln(stdout, "deleted", *id)
	return nil
}

func rotateSecret(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "project rotate-secret", "", "Add a new secret to a project (old ones keep working), or with --revoke-secret remove one at once.")
	db := databaseFlag(c)
	mk, mkFile := masterKeyFlags(c)
	id := projectFlag(c)
	revoke := c.fs.String("revoke-secret", "", "secret id (from 'latch project list') to remove instead of adding one")
	asJSON := c.fs.Bool("json", false, "print JSON")
	if err := c.parse(args); err != nil {
		return err
	}
	a, err := openApp(*db, *mk, *mkFile, false)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx := context.Background()
	if *revoke != "" {
		if err := a.Service.RevokeSecret(ctx, *id, *revoke); err != nil {
			return fmt.Errorf("revoke %s: %w", *revoke, err)
		}
		fmt.Fprintln(stdout, "revoked", *revoke)
		return nil
	}
	sid, sec, err := a.Service.AddSecret(ctx, *id)
	if err != nil {
		return fmt.Errorf("add secret to %s: %w", *id, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"project_id": *id, "secret_id": sid, "secret": sec})
	}
	fmt.Fprintf(stdout, "secret_id: %s\nsecret:    %s\n(the secret is shown only this once)\n", sid, sec)
	return nil
}

// redirectURLs is `latch project redirect-urls add|list|remove`.
var redirectURLs = listSetting{
	name: "redirect-urls", argsUsage: "URL…",
	docs: map[string]string{
		"add":    "Allow magic-link redirect URLs. The oldest URL is the default for login, signup and invite links.",
		"list":   "List the allowed magic-link redirect URLs, the default (the oldest) first.",
		"remove": "Remove allowed magic-link redirect URLs.",
	},
	add: func(svc *auth.Service, ctx context.Context, id, u string) (string, error) {
		return u, svc.AddRedirectURL(ctx, id, u)
	},
	remove: func(svc *auth.Service, ctx context.Context, id, u string) (string, error) {
		return u, svc.RemoveRedirectURL(ctx, id, u)
	},
	list: func(svc *auth.Service, ctx context.Context, id string) ([]string, error) {
		us, err := svc.RedirectURLs(ctx, id)
		var out []string
		for i, u := range us {
			if i == 0 {
				out = append(out, u.URL+"  (default)")
			} else {
				out = append(out, u.URL)
			}
		}
		return out, err
	},
}

// listSetting is a list a project keeps (redirect URLs, SDK origins),
// managed by `latch project NAME add|list|remove`. add and remove return
// the value as stored (normalized).
type listSetting struct {
	name, argsUsage string
	docs            map[string]string // verb → the command's description
	add, remove     func(svc *auth.Service, ctx context.Context, projectID, v string) (string, error)
	list            func(svc *auth.Service, ctx context.Context, projectID string) ([]string, error)
}

// verb is the subcommand `latch project NAME VERB`.
func (l listSetting) verb(verb string) func(args []string, stdout io.Writer) error {
	return func(args []string, stdout io.Writer) error {
		c := newCommand(stdout, "project "+l.name+" "+verb, l.argsUsage, l.docs[verb])
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
		svc := auth.New(auth.Config{Store: st}) // lists need no keys
		switch verb {
		case "add":
			for _, v := range c.args() {
				n, err := l.add(svc, ctx, *id, v)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, "added", n)
			}
		case "remove":
			for _, v := range c.args() {
				n, err := l.remove(svc, ctx, *id, v)
				if err != nil {
					return fmt.Errorf("remove %s: %w", v, err)
				}
				fmt.Fprintln(stdout, "removed", n)
			}
		case "list":
			vs, err := l.list(svc, ctx, *id)
			if err != nil {
				return err
			}
			for _, v := range vs {
				fmt.Fprintln(stdout, v)
			}
		}
		return nil
	}
}

func keysRotate(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "keys rotate", "", "Make a new signing key for a project's session JWTs. It is in the JWKS at once and signs on every node after the lead (10 minutes: the longest a Stytch SDK keeps a JWKS, so no verifier meets a kid it does not know); --now signs with it at once (a compromised key). The old key stays in the JWKS for the grace period after the switch so outstanding JWTs verify.")
	db := databaseFlag(c)
	mk, mkFile := masterKeyFlags(c)
	id := projectFlag(c)
	grace := c.fs.Duration("grace", keys.DefaultGrace, "how long the old key stays in the JWKS after the switch")
	lead := c.fs.Duration("lead", keys.DefaultLead, "how long the new key is published before it signs")
	now := c.fs.Bool("now", false, "sign with the new key at once (same as --lead 0)")
	if err := c.parse(args); err != nil {
		return err
	}
	leadSet := false
	c.fs.Visit(func(f *flag.Flag) { leadSet = leadSet || f.Name == "lead" })
	switch {
	case *now && leadSet:
		return usagef("latch %s: --now and --lead contradict each other: --now is --lead 0 %s", c.name, c.seeHelp())
	case *grace <= 0:
		return usagef("latch %s: --grace must be positive (1s drops the old keys from the JWKS a second after the switch) %s", c.name, c.seeHelp())
	case *lead < 0:
		return usagef("latch %s: --lead cannot be negative %s", c.name, c.seeHelp())
	}
	a, err := openApp(*db, *mk, *mkFile, false)
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := a.Store.GetProject(context.Background(), *id)
	if err != nil {
		return fmt.Errorf("project %q: %w", *id, err)
	}
	if *now {
		*lead = 0
	}
	k, err := a.Keys.RotateWithLead(context.Background(), p.ID, p.Live, *lead, *grace)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s is in the JWKS now and signs from %s\n", k.KID, k.ActiveFrom().UTC().Format(time.RFC3339))
	return nil
}

func outbox(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "outbox", "", "List outgoing messages (email, SMS, WhatsApp), newest first. Without --smtp or Twilio, this is where magic links and codes go.")
	db := databaseFlag(c)
	mk, mkFile := masterKeyFlags(c)
	to := c.fs.String("to", "", "only messages to this address or number")
	limit := c.fs.Int("limit", 20, "how many messages (1 or more)")
	asJSON := c.fs.Bool("json", false, "print JSON, one array")
	if err := c.parse(args); err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("latch %s: --limit must be 1 or more %s", c.name, c.seeHelp())
	}
	st, err := openStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	recipient := *to
	if recipient != "" {
		if e, err := auth.NormalizeEmail(recipient); err == nil {
			recipient = e
		} else if p, err := auth.NormalizePhone(recipient); err == nil {
			recipient = p
		}
	}
	msgs, err := st.ListMessages(context.Background(), recipient, *limit)
	if err != nil {
		return err
	}
	var ring *secret.Keyring
	if len(msgs) > 0 { // no messages, no key needed (it may not exist yet)
		master, err := app.LoadMasterKey(*mk, *mkFile, *db, false)
		if err != nil {
			return err
		}
		if ring, err = secret.NewKeyring(master); err != nil {
			return err
		}
	}
	type row struct {
		ID        int64      `json:"id"`
		ProjectID string     `json:"project_id"`
		Channel   string     `json:"channel"`
		To        string     `json:"to"`
		Subject   string     `json:"subject,omitempty"`
		Text      string     `json:"text"`
		CreatedAt time.Time  `json:"created_at"`
		SentAt    *time.Time `json:"sent_at"`
		Attempts  int        `json:"attempts"`
		LastError string     `json:"last_error,omitempty"`
	}
	rows := []row{}
	for _, m := range msgs {
		dm, err := deliver.Open(ring, m)
		if err != nil {
			return fmt.Errorf("message %d: %w", m.ID, err)
		}
		rows = append(rows, row{m.ID, m.ProjectID, m.Channel, m.Recipient, dm.Subject, dm.Text, m.CreatedAt, m.SentAt, m.Attempts, m.LastError})
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "(the outbox is empty)")
	}
	for _, r := range rows {
		state := "queued"
		if r.SentAt != nil {
			state = "sent " + r.SentAt.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "── #%d %s to %s · %s · %s\n", r.ID, r.Channel, r.To, r.CreatedAt.Format(time.RFC3339), state)
		if r.Subject != "" {
			fmt.Fprintf(stdout, "Subject: %s\n", r.Subject)
		}
		fmt.Fprintf(stdout, "%s\n\n", strings.TrimSpace(r.Text))
	}
	return nil
}

func projectSettings(args []string, stdout io.Writer) error {
	c := newCommand(stdout, "project settings", "", "Show a project's limits, or change those whose flag is given (a flag not given leaves its setting as it is). Every node applies a change within 5 seconds.")
	db := databaseFlag(c)
	mk, mkFile := masterKeyFlags(c)
	id := projectFlag(c)
	name := c.fs.String("name", "", "new project name")
	threshold := c.fs.Int("lock-threshold", 0, "consecutive failed authentications that lock a user, 1–100 (a new project has Stytch's 10)")
	ttl := c.fs.Duration("lock-ttl", 0, "how long a lock lasts, 5m–168h (a new project has 1h)")
	perRecipient := c.fs.Int("recipient-sends-per-minute", -1, "links and codes per minute to one address or number; 0 = the built-in 5")
	perProject := c.fs.Int("project-sends-per-minute", -1, "links and codes per minute for the whole project; 0 = the built-in 100000")
	policy := c.fs.String("password-policy", "", "password strength policy: zxcvbn (Stytch's default) or luds")
	ludsLength := c.fs.Int("luds-min-length", 0, "LUDS policy: minimum password length, 8–32 (default 8)")
	ludsComplexity := c.fs.Int("luds-complexity", 0, "LUDS policy: how many of lower case, upper case, digit, symbol a password needs, 1–4 (default 3)")
	if err := c.parse(args); err != nil {
		return err
	}
	a, err := openApp(*db, *mk, *mkFile, false)
	if err != nil {
		return err
	}
	defer a.Close()
	var set auth.ProjectSettings
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			set.Name = name
		case "lock-threshold":
			set.LockThreshold = threshold
		case "lock-ttl":
			set.LockTTL = ttl
		case "recipient-sends-per-minute":
			set.RecipientSendsPerMinute = perRecipient
		case "project-sends-per-minute":
			set.ProjectSendsPerMinute = perProject
		case "password-policy":
			set.PasswordPolicy = policy
		case "luds-min-length":
			set.LUDSMinLength = ludsLength
		case "luds-complexity":
			set.LUDSComplexity = ludsComplexity
		}
	})
	p, err := a.Service.UpdateProjectSettings(context.Background(), *id, set)
	if err != nil {
		return fmt.Errorf("project %q: %w", *id, err)
	}
	appliedRecipient, appliedProject := auth.SendLimitsOf(p) // what applies, defaults included
	return json.NewEncoder(stdout).Encode(map[string]any{
		"project_id": p.ID, "name": p.Name, "lock_threshold": p.LockThreshold, "lock_ttl": p.LockTTL.String(),
		"recipient_sends_per_minute": appliedRecipient, "project_sends_per_minute": appliedProject,
		"password_policy": auth.PasswordPolicyOf(p), "luds_min_length": auth.LUDSMinLengthOf(p), "luds_complexity": auth.LUDSComplexityOf(p),
	})
}
