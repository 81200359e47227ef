package console_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestSignInAnswersOperatorsAndStrangersInTheSameTime: the look-up and
// the sending run after the answer, so the answer's time does not tell an
// operator's address apart (the medians of interleaved samples are
// compared against their noise, as internal/attack does for the API).
func TestSignInAnswersOperatorsAndStrangersInTheSameTime(t *testing.T) {
	consoleBackends(t, func(t *testing.T, cn *consoleNode) {
		const samples = 150
		b := cn.browser(t)
		b.get("/console/sign-in")
		var ops, strangers []time.Duration
		post := func(email string) time.Duration {
			start := time.Now()
			if p := b.post("/console/sign-in", url.Values{"email": {email}}); p.Status != 200 {
				t.Fatalf("sign-in: %d", p.Status)
			}
			return time.Since(start)
		}
		for i := range samples + 10 {
			op := fmt.Sprintf("op%d@latch.test", i)
			cn.addOperator(t, op)
			a, s := post(op), post(fmt.Sprintf("stranger%d@latch.test", i))
			if i >= 10 { // warm-up
				ops, strangers = append(ops, a), append(strangers, s)
			}
		}
		cn.App.Console.Wait()
		sameTiming(t, "sign-in: operator vs stranger", ops, strangers, time.Millisecond)
	})
}

func sameTiming(t *testing.T, what string, a, b []time.Duration, floor time.Duration) {
	t.Helper()
	q := func(d []time.Duration, f float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(f*float64(len(s)-1))]
	}
	ma, mb := q(a, 0.5), q(b, 0.5)
	noise := max(q(a, 0.75)-q(a, 0.25), q(b, 0.75)-q(b, 0.25)) * 4 / 10
	diff := ma - mb
	if diff < 0 {
		diff = -diff
	}
	t.Logf("%s: medians %v and %v (difference %v, noise bound %v)", what, ma, mb, diff, noise)
	if limit := max(noise, floor); diff > limit {
		t.Errorf("%s: medians %v and %v differ by %v, beyond the noise (%v)", what, ma, mb, diff, limit)
	}
}
