// Package app wires Latch together: the store, the keys, the domain
// service, the HTTP server and the background workers (outbox sender and
// janitor). `latch serve` and the end-to-end tests both start Latch here.
package app

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"github.com/latch-auth/latch/internal/api"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/console"
	"github.com/latch-auth/latch/internal/deliver"
	"github.com/latch-auth/latch/internal/keys"
	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// Config is everything `latch serve` takes.
type Config struct {
	Database      string // sqlite:path or postgres://…
	MasterKey     string // base64 of 32 bytes; overrides MasterKeyFile
	MasterKeyFile string // "" = master.key beside the SQLite file (or in latch-data/)

	SMTPURL   string
	EmailFrom string
	// SMTPTLS, when set, replaces the SMTP client's TLS settings (tests
	// trust their self-signed server with it).
	SMTPTLS *tls.Config

	TwilioURL          string
	TwilioAccountSID   string
	TwilioAuthToken    string
	TwilioFrom         string
	TwilioWhatsAppFrom string

	Now    func() time.Time // the clock; time.Now when nil
	Logger *slog.Logger

	JanitorInterval time.Duration // default 1 min
	// MaxConnections caps the API listener's open connections (0 = no
	// cap); past it, new connections wait in the kernel's backlog.
	MaxConnections int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the frontend SDK's per-address limit and its
	// sessions' attributes; empty = the connection's address.
	TrustedProxies []netip.Prefix
	SearchTimeout  time.Duration // bounds one users/search; default auth.DefaultSearchTimeout
	// BreachedPasswordsDir holds breached-password range files; "" = no
	// breach check.
	BreachedPasswordsDir string
}

// App is a running Latch.
type App struct {
	Store   *sqlstore.DB
	Ring    *secret.Keyring
	Keys    *keys.Keys
	Service *auth.Service
	Handler *api.Server
	Sender  *deliver.Sender
	// Console is the operators' console, nil until EnableConsole.
	Console         *console.Console
	consoleSeparate bool
	log             *slog.Logger
	cfg             Config
}

// Open connects to the database, applies migrations, loads the master key
// and builds the service. It starts nothing in the background.
func Open(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.SMTPURL != "" && cfg.EmailFrom == "" {
		return nil, errors.New("--email-from is required with --smtp")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = slog.New(RedactSecrets(cfg.Logger.Handler()))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := sqlstore.Open(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	// Every error from here on leaves nothing open.
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if err := db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	master, err := LoadMasterKey(cfg.MasterKey, cfg.MasterKeyFile, cfg.Database, true)
	if err != nil {
		return nil, err
	}
	ring, err := secret.NewKeyring(master)
	if err != nil {
		return nil, err
	}
	if err := checkMasterKey(ctx, db, ring, cfg.Now()); err != nil {
		return nil, err
	}
	a := &App{Store: db, Ring: ring, log: cfg.Logger, cfg: cfg}
	a.Keys = keys.New(db, ring, cfg.Now)
	a.Sender = &deliver.Sender{Store: db, Ring: ring, Logger: cfg.Logger, Now: cfg.Now}
	if cfg.SMTPURL != "" {
		m, err := deliver.NewSMTP(cfg.SMTPURL, cfg.EmailFrom)
		if err != nil {
			return nil, err
		}
		m.TLSConfig = cfg.SMTPTLS
		a.Sender.Email = m
	}
	if cfg.TwilioAccountSID != "" {
		tw := deliver.NewTwilio(cfg.TwilioURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.TwilioFrom, cfg.TwilioWhatsAppFrom, nil)
		tw.Logger = cfg.Logger
		if cfg.TwilioFrom != "" {
			a.Sender.SMS = tw
		}
		if cfg.TwilioWhatsAppFrom != "" {
			a.Sender.WhatsApp = tw
		}
	}
	a.Service = auth.New(auth.Config{Store: db, Keys: a.Keys, Ring: ring, Now: cfg.Now, Notify: a.Sender.Notify, Logger: cfg.Logger, SearchTimeout: cfg.SearchTimeout,
		Deliverable: a.Sender.Configured, BreachedPasswordsDir: cfg.BreachedPasswordsDir})
	a.Handler = api.New(a.Service, cfg.Logger)
	a.Handler.TrustedProxies = cfg.TrustedProxies
	delivered := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latch_outbox_deliveries_total", Help: "Outbox delivery attempts by channel and result.",
	}, []string{"channel", "result"})
	a.Handler.Registry().MustRegister(delivered)
	if gc := a.Store; gc.Backend() == sqlstore.BackendSQLite {
		a.Handler.Registry().MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latch_sqlite_commits_total",
				Help: "Commits of the SQLite file; each holds the writes that queued while the one before it was syncing."},
				func() float64 { c, _ := gc.GroupCommits(); return float64(c) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latch_sqlite_writes_total",
				Help: "Writes (transactions and lone statements) committed to the SQLite file; writes ÷ commits is the mean group commit."},
				func() float64 { _, w := gc.GroupCommits(); return float64(w) }))
	}
	a.Sender.OnResult = func(channel string, err error) {
		result := "sent"
		if err != nil {
			result = "failed"
		}
		delivered.WithLabelValues(channel, result).Inc()
	}
	return a, nil
}

// UndeliverableChannels lists the channels without a transport and, when
// there are any, the live projects that therefore cannot send on them
// (their sends are refused).
func (a *App) UndeliverableChannels(ctx context.Context) (channels, liveProjects []string, err error) {
	for _, ch := range []string{store.ChannelEmail, store.ChannelSMS, store.ChannelWhatsApp} {
		if !a.Sender.Configured(ch) {
			channels = append(channels, ch)
		}
	}
	if len(channels) == 0 {
		return nil, nil, nil
	}
	ps, err := a.Store.ListProjects(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range ps {
		if p.Live {
			liveProjects = append(liveProjects, p.ID)
		}
	}
	return channels, liveProjects, nil
}

// Close closes the database.
func (a *App) Close() error { return a.Store.Close() }

// Background runs the outbox sender and the janitor until ctx ends.
func (a *App) Background(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() { a.Sender.Run(ctx) })
	wg.Go(func() { a.janitor(ctx) })
	wg.Go(func() { a.Handler.RefreshGauges(ctx, api.GaugeInterval) })
	return &wg
}

// janitor sweeps expired sessions, tokens, codes and unverified methods.
func (a *App) janitor(ctx context.Context) {
	every := a.cfg.JanitorInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		now := a.cfg.Now()
		if n, err := a.Store.DeleteExpired(ctx, now); err != nil && ctx.Err() == nil {
			a.log.Warn("janitor: sweep expired", "err", err)
		} else if n > 0 {
			a.log.Debug("janitor: swept", "rows", n)
		}
		if _, err := a.Store.DeleteExpiredPendingMethods(ctx, now); err != nil && ctx.Err() == nil {
			a.log.Warn("janitor: sweep unverified methods", "err", err)
		}
		a.sweepConsole(ctx, now)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// IdleTimeout is how long a keep-alive connection may wait for its next
// request before Latch closes it.
const IdleTimeout = 30 * time.Second

// HTTPServer returns an http.Server with timeouts against slow clients.
func (a *App) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           a.apiHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves the API on ln and runs the background workers until ctx
// ends, then drains in-flight requests (up to 20 s) and returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	return a.ServeWithMetrics(ctx, ln, nil)
}

// ServeWithMetrics is Serve, and serves the metrics on metrics unless it
// is nil: their own listener, never the API's.
func (a *App) ServeWithMetrics(ctx context.Context, ln, metrics net.Listener) error {
	return a.serve(ctx, ln, metrics, nil)
}

func (a *App) serve(ctx context.Context, ln, metrics, consoleLn net.Listener) error {
	if a.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, a.cfg.MaxConnections)
	}
	srvs := []*http.Server{a.HTTPServer()}
	lns := []net.Listener{ln}
	if metrics != nil {
		msrv := a.HTTPServer()
		msrv.Handler = a.Handler.MetricsHandler()
		srvs = append(srvs, msrv)
		lns = append(lns, metrics)
	}
	if consoleLn != nil && a.Console != nil {
		csrv := a.HTTPServer()
		csrv.Handler = a.consoleHandler()
		srvs = append(srvs, csrv)
		lns = append(lns, consoleLn)
	}
	bgCtx, stopBG := context.WithCancel(context.Background())
	wg := a.Background(bgCtx)
	errc := make(chan error, len(srvs))
	for i, srv := range srvs {
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	for _, srv := range srvs {
		if serr := srv.Shutdown(sctx); err == nil {
			err = serr
		}
	}
	cancel()
	if a.Console != nil {
		a.Console.Wait() // sign-in links being sent after their answers
	}
	stopBG()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// DataDir is the folder of a SQLite database URL, or latch-data.
func DataDir(database string) string {
	if path, ok := sqlstore.SQLitePath(database); ok {
		return filepath.Dir(path)
	}
	return "latch-data"
}

// checkMasterKey refuses a master key that does not open the database's
// sealed data: a node started with another key (a second node that made
// its own key file, say) would otherwise answer /healthz 200 and then fail
// every login with a 500. It tries one project's signing key; a database
// without projects has nothing to check.
func checkMasterKey(ctx context.Context, db store.Store, ring *secret.Keyring, now time.Time) error {
	ps, err := db.ListProjects(ctx)
	if err != nil || len(ps) == 0 {
		return err
	}
	ks, err := db.ListSigningKeys(ctx, ps[0].ID, now)
	if err != nil || len(ks) == 0 {
		return err
	}
	if _, err := ring.Open(ks[0].PrivateKeyEnc, []byte(ks[0].KID)); err != nil {
		return errors.New("the master key does not open this database's keys: every node of one database needs the same --master-key or --master-key-file (with PostgreSQL, give it explicitly; the default is a new file in ./latch-data)")
	}
	return nil
}

// LoadMasterKey returns the install's 32-byte master key: from b64 if
// given, else from file (default master.key in the data folder), creating
// the file with a new random key when create is set and it is missing.
// Every node of one database must share the key.
func LoadMasterKey(b64, file, database string, create bool) ([]byte, error) {
	if b64 != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(k) != secret.MasterKeySize {
			return nil, errors.New("LATCH_MASTER_KEY must be base64 of 32 bytes (openssl rand -base64 32)")
		}
		return k, nil
	}
	defaulted := file == ""
	if defaulted {
		file = filepath.Join(DataDir(database), "master.key")
	}
	b, err := os.ReadFile(file)
	if err == nil {
		k, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) != secret.MasterKeySize {
			return nil, fmt.Errorf("%s does not hold base64 of 32 bytes", file)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	if defaulted { // the data folder (latch-data/ for PostgreSQL); a given file's folder must exist
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, err
		}
	}
	k := secret.Bytes(secret.MasterKeySize)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadMasterKey("", file, database, false) // another process won the race
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return k, f.Close()
}
