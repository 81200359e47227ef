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
	err         error // the scenario could not be measured
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
	fmt.Fprintf(w, "%d live sessions, of which %d active (chosen at random; the one-request scenarios draw from these uniformly, "+
		"and before each latch run of token, extend and jwt each active session is authenticated once, untimed, so that its JWT is current); "+
		"%s per run, baseline and latch alternated (B, L, B, L), mean of 2 runs each; %d connections; "+
		"%d CPUs (%s); %s; whole bench %s.\n", cfg.sessions, cfg.active, cfg.duration, cfg.connections, runtime.NumCPU(), cpuModel(),
		runtime.Version(), took.Round(time.Second))
	fmt.Fprintf(w, "Latch built from %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", cfg.revision, load0, load1)
	fmt.Fprintf(w, "Load: wrk 4 (%d threads, closed loop, no coordinated-omission correction) for one-request scenarios; "+
		"a Go closed-loop driver for logins (ops = whole logins: 2 requests + reading the outbox; their baseline is the "+
		"bare lookup through the same driver). Ratios are latch ÷ baseline. CPU is the server process's; for PostgreSQL "+
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
		cpu := withRatio(l.cpuPer1k, b.cpuPer1k)
		if r.backend == sqlstore.BackendPostgres {
			cpu += " + pg " + num(l.dbPer1)
		}
		errs := ""
		if l.errors > 0 {
			errs = fmt.Sprintf(" ⚠ %d failed", l.errors)
		}
		fmt.Fprintf(w, "| %s | %s | latch | %s%s | %s | %s | %s | %s | %s |\n", r.backend, r.scenario.name,
			withRatio(l.rate, b.rate), errs, withRatio(l.p50, b.p50), withRatio(l.p99, b.p99), withRatio(l.p999, b.p999),
			cpu, withRatio(l.rssMiB, b.rssMiB))
	}
	fmt.Fprintln(w)
	for _, s := range cfg.scenarios {
		fmt.Fprintf(w, "- %s: %s\n", s.name, s.title)
	}
	targets(w, rows)
}

// targets checks the figures against issue 7's targets.
func targets(w io.Writer, rows []row) {
	find := func(backend, sc string) (summary, summary, bool) {
		for _, r := range rows {
			if r.backend == backend && r.scenario.name == sc && r.err == nil {
				return summarize(r.base), summarize(r.latch), true
			}
		}
		return summary{}, summary{}, false
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
	ratioCheck := func(backend, sc string, want float64, what string) {
		if b, l, ok := find(backend, sc); ok && b.rate > 0 {
			cs = append(cs, check{what, fmt.Sprintf("%.2f", l.rate/b.rate), l.rate/b.rate >= want})
		}
	}
	ratioCheck(sqlstore.BackendSQLite, "token", 0.50, "SQLite, by token, no extension: ≥ 0.50 × baseline req/s")
	ratioCheck(sqlstore.BackendSQLite, "extend", 0.25, "SQLite, by token with extension: ≥ 0.25 ×")
	ratioCheck(sqlstore.BackendSQLite, "jwt", 0.50, "SQLite, by JWT: ≥ 0.50 ×")
	ratioCheck(sqlstore.BackendPostgres, "token", 0.20, "PostgreSQL, by token: ≥ 0.20 ×")
	if _, l, ok := find(sqlstore.BackendSQLite, "login"); ok {
		cs = append(cs, check{"SQLite, full magic-link logins: ≥ 1,000/s", num(l.rate) + "/s", l.rate >= 1000})
	}
	if b, l, ok := find(sqlstore.BackendSQLite, "token"); ok && b.p50 > 0 {
		cs = append(cs, check{"SQLite, by token: p50 ≤ 2 × baseline", ratio(l.p50, b.p50), l.p50 <= 2*b.p50})
		cs = append(cs, check{"SQLite, by token: p99 ≤ 3 × baseline", ratio(l.p99, b.p99), l.p99 <= 3*b.p99})
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
	fmt.Fprintln(w, "\nIssue 7's targets (10k → 1M: compare the token rows of a -sessions 10000 and a -sessions 1000000 run; throughput may fall ≤ 20 %):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | met |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.what, c.got, yes(c.ok))
	}
}
