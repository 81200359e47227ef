package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ensureWrk finds wrk, installing Debian's package when it is missing and
// we are root.
func ensureWrk() (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("wrk is not installed: apt-get install -y wrk")
	}
	fmt.Fprintln(os.Stderr, "bench: installing wrk (apt-get install -y wrk)")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return exec.LookPath("wrk")
}

// wrkScript is the Lua driver: each request picks a random line of the
// items file (a session token, a JWT or a user id) and builds the request
// of the scenario around it. done() prints the figures on one line.
const wrkScript = `-- written by latch's bench
local mode = %q
local items, n = {}, 0
wrk.method = "POST"
wrk.headers["Authorization"] = %q
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    items[n] = line
  end
  math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
  local v = items[math.random(n)]
  if mode == "token" then
    return wrk.format(nil, nil, nil, '{"session_token":"' .. v .. '"}')
  elseif mode == "extend" then
    return wrk.format(nil, nil, nil, '{"session_token":"' .. v .. '","session_duration_minutes":60}')
  elseif mode == "jwt" then
    return wrk.format(nil, nil, nil, '{"session_jwt":"' .. v .. '"}')
  elseif mode == "userget" then
    return wrk.format("GET", "/v1/users/" .. v, nil, nil)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %%d %%d %%d %%d %%d %%d %%d %%.0f %%.0f %%.0f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`

// load is what one timed run measured on the client side.
type load struct {
	ops      int64 // completed operations (requests, or logins of two requests)
	errors   int64 // failed operations (non-2xx, socket errors, timeouts)
	elapsed  time.Duration
	p50, p99 time.Duration
	p999     time.Duration
}

// runWrk runs wrk against url for d with the scenario mode and items file.
func runWrk(ctx context.Context, wrkPath, dir, mode, basic, url, items string, threads, conns int, d time.Duration) (load, error) {
	script := filepath.Join(dir, "wrk-"+mode+".lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(wrkScript, mode, basic)), 0o600); err != nil {
		return load{}, err
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--timeout", "10s", "-s", script, url, "--", items}
	out, err := exec.CommandContext(ctx, wrkPath, args...).CombinedOutput()
	if err != nil {
		return load{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, "WRKRESULT ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 10 {
			break
		}
		v := make([]int64, len(f))
		for i, s := range f {
			if v[i], err = strconv.ParseInt(s, 10, 64); err != nil {
				return load{}, fmt.Errorf("wrk: bad figure %q in %q", s, line)
			}
		}
		return load{
			ops: v[0], elapsed: time.Duration(v[1]) * time.Microsecond,
			errors: v[2] + v[3] + v[4] + v[5] + v[6],
			p50:    time.Duration(v[7]) * time.Microsecond, p99: time.Duration(v[8]) * time.Microsecond,
			p999: time.Duration(v[9]) * time.Microsecond,
		}, nil
	}
	return load{}, fmt.Errorf("wrk printed no result:\n%s", out)
}
