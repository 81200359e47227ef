// Command routes prints every pattern Latch's router serves, one a line, as
// "METHOD /path/{param}". The conformance suite compares this list with the
// routes its tests exercised, so a route added without a conformance test
// fails the suite.
//
// It builds the real router (app.Open over a throwaway SQLite database), not
// a copy of the list, so it cannot drift from what `latch serve` serves.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/latch-auth/latch/internal/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "routes:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "latch-routes-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := app.Open(context.Background(), app.Config{
		Database:      "sqlite:" + filepath.Join(dir, "latch.db"),
		MasterKeyFile: filepath.Join(dir, "master.key"),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	for _, r := range a.Handler.Routes {
		fmt.Println(r)
	}
	return nil
}
