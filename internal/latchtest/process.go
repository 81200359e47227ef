package latchtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

// ProcessOutput is a file that a child process writes its standard output
// or error to directly: exec hands an *os.File to the child as the
// descriptor itself, with no copying goroutine in between. Whatever the
// process wrote before it answered a request can be read as soon as the
// answer arrives, which a LockedBuffer behind exec's pipe does not promise
// (its copier may not have run yet on a busy machine).
type ProcessOutput struct{ f *os.File }

// NewProcessOutput creates the file under t's temporary folder; it is
// closed when the test ends.
func NewProcessOutput(t testing.TB) *ProcessOutput {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "output-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &ProcessOutput{f: f}
}

// File is the descriptor to give to exec.Cmd's Stdout or Stderr.
func (o *ProcessOutput) File() *os.File { return o.f }

// String is everything written so far.
func (o *ProcessOutput) String() string {
	b, err := os.ReadFile(o.f.Name())
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", o.f.Name(), err)
	}
	return string(b)
}
