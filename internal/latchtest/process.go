package latchtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// BuildLatch builds cmd/latch into dir, with flags (such as -ldflags)
// passed to go build, and returns the binary's path: for the tests that run
// the real binary as a process.
func BuildLatch(dir string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "latch")
	args := append(append([]string{"build"}, flags...), "-o", bin, "github.com/latch-auth/latch/cmd/latch")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// Environ is the test's environment without any LATCH_ variable (which the
// binary would read as flags), plus extra. The metrics listener goes on a
// free port (not the default 127.0.0.1:9090, which nodes of one machine
// would fight over); extra may set another.
func Environ(extra ...string) []string {
	env := []string{"LATCH_METRICS_ADDR=127.0.0.1:0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCH_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers: a process's
// output, read while it runs.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail returns the last n bytes written.
func (l *LockedBuffer) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
