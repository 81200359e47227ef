package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/store/sqlstore"
)

// measure is one timed run: the client's figures and the server's.
type measure struct {
	load
	cpu   time.Duration // server utime + stime during the run
	dbCPU time.Duration // PostgreSQL processes' CPU during the run
	rss   int64         // server VmHWM after the run (reset before it)
}

// row is one scenario on one backend: the baseline's runs and latch's.
type row struct {
	backend     string
	scenario    scenario
	base, latch []measure
	sign        []measure // the signing baseline's runs, where answers carry a JWT
	err         error     // the scenario could not be measured
}

// summary is the mean of a server's runs (the max for RSS).
type summary struct {
	rate             float64 // operations per second
	p50, p99, p999   float64 // ms
	cpuPer1k, dbPer1 float64 // CPU ms per 1,000 operations
	rssMiB           float64
	errors, ops      int64
}

func summarize(ms []measure) summary {
	var s summary
	if len(ms) == 0 {
		return s
	}
	n := float64(len(ms))
	for _, m := range ms {
		s.rate += float64(m.ops) / m.elapsed.Seconds() / n
		s.p50 += ms2(m.p50) / n
		s.p99 += ms2(m.p99) / n
		s.p999 += ms2(m.p999) / n
		if m.ops > 0 {
			s.cpuPer1k += ms2(m.cpu) / (float64(m.ops) / 1000) / n
			s.dbPer1 += ms2(m.dbCPU) / (float64(m.ops) / 1000) / n
		}
		s.rssMiB = max(s.rssMiB, float64(m.rss)/(1<<20))
		s.errors += m.errors
		s.ops += m.ops
	}
	return s
}

func ms2(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// num formats with a thousands separator and sensible precision.
func num(v float64) string {
	switch {
	case v >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(v, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

func withRatio(v, base float64) string { return num(v) + " (" + ratio(v, base) + ")" }

// loadAverage is the first three fields of /proc/loadavg: other work on
// the machine skews every figure, the baseline's too.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "?"
}

// report prints the Markdown table and the targets.
func report(w io.Writer, cfg config, rows []row, took time.Duration, load0, load1 string) {
	fmt.Fprintf(w, "\n## Latch vs the same-run baseline\n\n")
	fmt.Fprintf(w, "%d live sessions, of which %d active (chosen at random over the whole store; the one-request scenarios draw from these uniformly, "+
		"each request a random one, so no token is hammered; every answer of token, extend and jwt carries a JWT minted for it); "+
		"%s per run, baseline (B), signing baseline (S, only where answers carry a JWT: token, extend, jwt) and latch (L) alternated "+
		"(B, S, L, B, S, L; B, L, B, L for the others), mean of 2 runs each; %d connections; "+
		"%d CPUs (%s); %s; whole bench %s.\n", cfg.sessions, cfg.active, cfg.duration, cfg.connections, runtime.NumCPU(), cpuModel(),
		runtime.Version(), took.Round(time.Second))
	fmt.Fprintf(w, "Latch built from %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", cfg.revision, load0, load1)
	fmt.Fprintf(w, "Load: wrk (%d threads, closed loop, no coordinated-omission correction) for one-request scenarios; "+
		"a Go closed-loop driver for logins (ops = whole logins: 2 requests + reading the outbox; their baseline is the "+
		"bare server's session lookup through the same driver: a yardstick of the machine and the driver, not a login). "+
		"Ratios are latch ÷ baseline. CPU is the server process's; for PostgreSQL "+
		"\"+ pg\" adds all postgres processes' CPU. Peak RSS is VmHWM, reset before each run.\n\n", cfg.threads)
	fmt.Fprintln(w, "| backend | scenario | server | ops/s | p50 ms | p99 ms | p99.9 ms | CPU ms / 1k ops | peak RSS MiB |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		if r.err != nil {
			msg := strings.ReplaceAll(r.err.Error(), "|", "/")
			if len(msg) > 160 {
				msg = msg[:160] + "…"
			}
			fmt.Fprintf(w, "| %s | %s | latch | **failed**: %s | | | | | |\n", r.backend, r.scenario.name, msg)
			continue
		}
		b, l := summarize(r.base), summarize(r.latch)
		fmt.Fprintf(w, "| %s | %s | baseline | %s | %s | %s | %s | %s | %s |\n", r.backend, r.scenario.name,
			num(b.rate), num(b.p50), num(b.p99), num(b.p999), num(b.cpuPer1k), num(b.rssMiB))
		rate := withRatio(l.rate, b.rate)
		if len(r.sign) > 0 {
			sg := summarize(r.sign)
			fmt.Fprintf(w, "| %s | %s | baseline+sign | %s | %s | %s | %s | %s | %s |\n", r.backend, r.scenario.name,
				withRatio(sg.rate, b.rate), num(sg.p50), num(sg.p99), num(sg.p999), num(sg.cpuPer1k), num(sg.rssMiB))
			rate = fmt.Sprintf("%s (%s; %s of +sign)", num(l.rate), ratio(l.rate, b.rate), ratio(l.rate, sg.rate))
		}
		cpu := withRatio(l.cpuPer1k, b.cpuPer1k)
		if r.backend == sqlstore.BackendPostgres {
			cpu += " + pg " + num(l.dbPer1)
		}
		errs := ""
		if l.errors > 0 {
			errs = fmt.Sprintf(" ⚠ %d failed", l.errors)
		}
		fmt.Fprintf(w, "| %s | %s | latch | %s%s | %s | %s | %s | %s | %s |\n", r.backend, r.scenario.name,
			rate, errs, withRatio(l.p50, b.p50), withRatio(l.p99, b.p99), withRatio(l.p999, b.p999),
			cpu, withRatio(l.rssMiB, b.rssMiB))
	}
	fmt.Fprintln(w)
	for _, s := range cfg.scenarios {
		fmt.Fprintf(w, "- %s: %s\n", s.name, s.title)
	}
	targets(w, rows)
}

// targets checks the figures against the team's performance targets.
func targets(w io.Writer, rows []row) {
	find := func(backend, sc string) (row, bool) {
		for _, r := range rows {
			if r.backend == backend && r.scenario.name == sc && r.err == nil {
				return r, true
			}
		}
		return row{}, false
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	type check struct {
		what, got string
		ok        bool
	}
	var cs []check
	signRatio := func(backend, sc string, want float64, what string) {
		if r, ok := find(backend, sc); ok && len(r.sign) > 0 {
			s, l := summarize(r.sign), summarize(r.latch)
			if s.rate > 0 {
				cs = append(cs, check{what, fmt.Sprintf("%.2f", l.rate/s.rate), l.rate/s.rate >= want})
			}
		}
	}
	signRatio(sqlstore.BackendSQLite, "token", 0.8, "SQLite, by token: ≥ 0.8 × the signing baseline")
	signRatio(sqlstore.BackendSQLite, "token", 1.5, "SQLite, by token: ≥ 1.5 × the signing baseline (the aim)")
	signRatio(sqlstore.BackendSQLite, "jwt", 0.7, "SQLite, by JWT: ≥ 0.7 ×")
	signRatio(sqlstore.BackendSQLite, "extend", 0.7, "SQLite, with extension: ≥ 0.7 ×")
	signRatio(sqlstore.BackendPostgres, "token", 0.5, "PostgreSQL, by token: ≥ 0.5 ×")
	for _, sc := range []string{"login", "otp"} {
		if r, ok := find(sqlstore.BackendSQLite, sc); ok {
			l := summarize(r.latch)
			cs = append(cs, check{"SQLite, full " + sc + "s: ≥ 500/s (CPU " + num(l.cpuPer1k/1000) + " ms each)", num(l.rate) + "/s", l.rate >= 500})
		}
	}
	peak := 0.0
	for _, r := range rows {
		peak = max(peak, summarize(r.latch).rssMiB)
	}
	if len(rows) > 0 {
		cs = append(cs, check{"latch peak RSS < 512 MiB (every scenario)", num(peak) + " MiB", peak < 512})
	}
	if len(cs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nTargets (the team's, for this machine):")
	if _, ok := find(sqlstore.BackendSQLite, "token"); ok {
		fmt.Fprintln(w, "10k → 1M sessions is not checked here: compare the token rows of a -sessions 10000 and a -sessions 1000000 run (throughput may fall ≤ 20 %).")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | met |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.what, c.got, yes(c.ok))
	}
}
