// Command profserve is `latch serve` with a CPU profile: it starts Latch
// exactly as cmd/latch does (app.Open, then App.Serve) and writes a pprof
// CPU profile to --cpuprofile when it is stopped with SIGTERM or SIGINT. The
// profile starts at SIGUSR1 (after the bench's untimed warm-up), or at once
// without --wait. The bench uses it with -cpuprofile-dir, so that the hot
// path is profiled live, under wrk, without a pprof endpoint in Latch.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/latch-auth/latch/internal/app"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	db := flag.String("database", "", "database URL")
	mk := flag.String("master-key", "", "master key, base64 of 32 bytes")
	out := flag.String("cpuprofile", "cpu.pprof", "where to write the CPU profile")
	wait := flag.Bool("wait", false, "start profiling at SIGUSR1, not at once")
	flag.Parse()

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Open(ctx, app.Config{Database: *db, MasterKey: *mk, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	// Registered before the port opens: SIGUSR1 would otherwise end us.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	start := func() {
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	if *wait {
		go func() {
			<-usr1
			start()
			logger.Info("profiling")
		}()
	} else {
		start()
	}
	logger.Info("latch (profiled) listening", "addr", ln.Addr().String())
	serr := a.Serve(ctx, ln)
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if serr != nil {
		log.Fatal(serr)
	}
}
