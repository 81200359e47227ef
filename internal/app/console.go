package app

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/latch-auth/latch/internal/console"
)

// EnableConsole builds the operators' console, its sign-in links pointing
// at url (…/console/). With separate, the API's listener does not serve
// it: Serve's console listener does.
func (a *App) EnableConsole(url string, separate bool) error {
	c, err := console.New(console.Config{Service: a.Service, URL: url, Logger: a.log, TrustedProxies: a.cfg.TrustedProxies})
	if err != nil {
		return err
	}
	a.Console, a.consoleSeparate = c, separate
	return nil
}

// apiHandler is what the API's listener serves: the API, and the console
// under /console/ unless it has a listener of its own.
func (a *App) apiHandler() http.Handler {
	if a.Console == nil || a.consoleSeparate {
		return a.Handler
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, a.Console)
	mux.Handle("/", a.Handler)
	return mux
}

// consoleHandler is what a console listener serves: the console, and a
// redirect to it from /.
func (a *App) consoleHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, a.Console)
	mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusFound))
	return mux
}

// sweepConsole deletes expired console links and sessions.
func (a *App) sweepConsole(ctx context.Context, now time.Time) {
	if a.Console == nil {
		return
	}
	data, err := a.Service.ConsoleData()
	if err != nil {
		return
	}
	if _, err := data.DeleteExpiredConsole(ctx, now); err != nil && ctx.Err() == nil {
		a.log.Warn("janitor: sweep console sessions", "err", err)
	}
}

// ServeAll is ServeWithMetrics, and serves the console on consoleLn
// unless it is nil (EnableConsole with separate).
func (a *App) ServeAll(ctx context.Context, ln, metrics, consoleLn net.Listener) error {
	return a.serve(ctx, ln, metrics, consoleLn)
}
