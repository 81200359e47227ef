package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/store"
)

// TestAProjectRunsAtMostTwoSearchesAtOnceOthersStillRun: the third search
// of one project is refused while two run; another project's search is
// not; a slot freed is taken again.
func TestAProjectRunsAtMostTwoSearchesAtOnceOthersStillRun(t *testing.T) {
	var g searchGate
	for i := range SearchesPerProject {
		if !g.enter("project-a") {
			t.Fatalf("search %d of project A refused", i+1)
		}
	}
	if g.enter("project-a") {
		t.Fatal("a third search of project A ran beside two")
	}
	if !g.enter("project-b") {
		t.Fatal("project B's search was refused while A's two ran")
	}
	g.leave("project-a")
	if !g.enter("project-a") {
		t.Fatal("project A's search was refused after one of its two ended")
	}
	g.leave("project-a")
	g.leave("project-a")
	g.leave("project-b")
	if len(g.inFlight) != 0 {
		t.Fatalf("slots left behind: %v", g.inFlight)
	}
}

// TestARequestThatRunsOutOfTimeSaysWhatTimedOutNotThatTheDatabaseIsDown:
// a deadline (as the store reports it) is a 503 naming what timed out; a
// database that cannot be reached is the 503 that says so.
func TestARequestThatRunsOutOfTimeSaysWhatTimedOutNotThatTheDatabaseIsDown(t *testing.T) {
	e, _ := AsError(storeErr(fmt.Errorf("%w: %w", store.ErrUnavailable, context.DeadlineExceeded), "get user"))
	if e == nil || e.Status != 503 || e.Type != "service_unavailable" || !strings.Contains(e.Message, "did not finish in time (get user timed out)") {
		t.Fatalf("deadline: %+v", e)
	}
	e, _ = AsError(storeErr(fmt.Errorf("%w: connection refused", store.ErrUnavailable), "get user"))
	if e == nil || e.Status != 503 || !strings.Contains(e.Message, "database is unavailable") {
		t.Fatalf("unreachable: %+v", e)
	}
}
