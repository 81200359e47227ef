package auth

import "testing"

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
