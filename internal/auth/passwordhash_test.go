package auth

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestASprayOfLoginsHashesAtMostAFewPasswordsAtOnce: however many logins
// arrive together, at most cap(sem) Argon2id computations (19 MiB each)
// run at once; the rest wait, and one whose request has run out of time
// gets a 503 instead of a hash.
func TestASprayOfLoginsHashesAtMostAFewPasswordsAtOnce(t *testing.T) {
	h := &passwordHasher{sem: make(chan struct{}, 2)}
	release := make(chan struct{})
	var inflight, most atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := h.run(context.Background(), func() {
				n := inflight.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
				inflight.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for inflight.Load() < 2 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.run(ctx, func() { t.Error("hashed with the semaphore full and the request over") })
	if e, ok := AsError(err); !ok || !errors.Is(e, ErrServiceUnavailable) {
		t.Errorf("a login waiting past its deadline: %v, want 503 service_unavailable", err)
	}
	close(release)
	wg.Wait()
	if most.Load() != 2 || h.hashes.Load() != 8 {
		t.Fatalf("at most %d at once (want 2), %d hashed (want 8)", most.Load(), h.hashes.Load())
	}
	if c := cap(newPasswordHasher().sem); c < 2 || c > max(2, runtime.GOMAXPROCS(0)) {
		t.Fatalf("the service's bound is %d", c)
	}
}

// TestNewHashesUseOWASPArgon2idAndVerify: the stored form names its
// parameters; the right password verifies without a rehash, a wrong one
// does not verify; a weaker Argon2id hash verifies and asks for a rehash.
func TestNewHashesUseOWASPArgon2idAndVerify(t *testing.T) {
	h := newPasswordHasher()
	ctx := context.Background()
	stored, err := h.hash(ctx, "Correct-horse-battery-staple-42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("stored form %q", stored)
	}
	ok, rehash, err := h.verify(ctx, stored, "Correct-horse-battery-staple-42")
	if err != nil || !ok || rehash {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := h.verify(ctx, stored, "Correct-horse-battery-staple-43"); ok {
		t.Fatal("a wrong password verified")
	}
	weak := encodeArgon("argon2id", 1024, 1, 1, []byte("0123456789abcdef"), make([]byte, 32))
	if _, rehash, err := h.verify(ctx, weak, "x"); err != nil || !rehash {
		t.Fatalf("a hash with weaker parameters: rehash=%v err=%v", rehash, err)
	}
	// Each parameter on its own: a hash weaker in any one of them is
	// rehashed, and its check still costs one Argon2id at today's
	// parameters (the floor), so a cheap stored hash answers no faster.
	// (A shorter key costs as much to compute, so it needs no floor.)
	salt := []byte("0123456789abcdef")
	for _, c := range []struct {
		name, weak string
		hashes     int64
	}{
		{"less memory", encodeArgon("argon2id", 1024, argonTime, argonThreads, salt, make([]byte, argonKeyLen)), 2},
		{"fewer passes", encodeArgon("argon2id", argonMemoryKiB, 1, argonThreads, salt, make([]byte, argonKeyLen)), 2},
		{"argon2i", encodeArgon("argon2i", argonMemoryKiB, argonTime, argonThreads, salt, make([]byte, argonKeyLen)), 2},
		{"a shorter key", encodeArgon("argon2id", argonMemoryKiB, argonTime, argonThreads, salt, make([]byte, 16)), 1},
	} {
		name, weak := c.name, c.weak
		before, hashesBefore := h.argons.Load(), h.hashes.Load()
		if _, rehash, err := h.verify(ctx, weak, "x"); err != nil || !rehash {
			t.Errorf("a hash with %s: rehash=%v err=%v", name, rehash, err)
		}
		if n, all := h.argons.Load()-before, h.hashes.Load()-hashesBefore; n != 1 || all != c.hashes {
			t.Errorf("a hash with %s: %d Argon2id computations at today's parameters (want 1) of %d (want %d)", name, n, all, c.hashes)
		}
	}
	before, hashesBefore := h.argons.Load(), h.hashes.Load()
	if _, _, err := h.verify(ctx, stored, "x"); err != nil || h.argons.Load()-before != 1 || h.hashes.Load()-hashesBefore != 1 {
		t.Errorf("a wrong password on a hash at today's parameters: %d Argon2id computations of %d (want 1 of 1), err=%v", h.argons.Load()-before, h.hashes.Load()-hashesBefore, err)
	}
	if _, _, err := h.verify(ctx, "$argon2id$v=19$garbage", "x"); err == nil {
		t.Fatal("a stored hash that does not parse verified")
	} else if _, isCaller := AsError(err); isCaller {
		t.Fatalf("a broken stored hash is the caller's error: %v", err)
	}
}
