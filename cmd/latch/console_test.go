package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/store/sqlstore"
)

func TestOperatorsAreAddedListedAndRemovedFromTheCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	// The first operator may come before the first serve: add makes the database.
	if r := latch(t, dir, nil, "console", "operators", "add", "--database", db, "Ops@Example.com", "second@example.com"); r.code != 0 || !strings.Contains(r.stdout, "added ops@example.com") {
		t.Fatalf("add: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := latch(t, dir, nil, "console", "operators", "add", "--database", db, "ops@example.com"); r.code != 0 {
		t.Fatalf("adding again: %d %s", r.code, r.stderr)
	}
	if r := latch(t, dir, nil, "console", "operators", "list", "--database", db); r.code != 0 || r.stdout != "ops@example.com\nsecond@example.com\n" {
		t.Fatalf("list: %d %q", r.code, r.stdout)
	}
	if r := latch(t, dir, nil, "console", "operators", "remove", "--database", db, "second@example.com"); r.code != 0 {
		t.Fatalf("remove: %d %s", r.code, r.stderr)
	}
	if r := latch(t, dir, nil, "console", "operators", "remove", "--database", db, "second@example.com"); r.code != 1 || !strings.Contains(r.stderr, "not an operator") {
		t.Fatalf("removing a stranger: %d %s", r.code, r.stderr)
	}
	if r := latch(t, dir, nil, "console", "operators", "add", "--database", db, "not an address"); r.code != 1 || !strings.Contains(r.stderr, "not an email address") {
		t.Fatalf("junk: %d %s", r.code, r.stderr)
	}
	if r := latch(t, dir, nil, "console", "operators", "list", "--database", db); r.stdout != "ops@example.com\n" {
		t.Fatalf("list after: %q", r.stdout)
	}
	if r := latch(t, dir, nil, "console", "operators", "add", "--database", db); r.code != 2 {
		t.Fatalf("add without an address: %d", r.code)
	}
}

// TestOperatorChangesFromTheCommandLineAreInTheAuditLog: the console's
// audit log shows each operator added or removed by the command line, with
// who ran it; adding one already there changes and logs nothing; a change
// whose line cannot be written is not made.
func TestOperatorChangesFromTheCommandLineAreInTheAuditLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latch.db")
	mustLatch(t, dir, nil, "console", "operators", "add", "--database", db, "ops@example.com", "second@example.com")
	mustLatch(t, dir, nil, "console", "operators", "add", "--database", db, "ops@example.com")
	mustLatch(t, dir, nil, "console", "operators", "remove", "--database", db, "second@example.com")
	st, err := sqlstore.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.ListAudit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Email, "command line: ") {
			t.Errorf("audit entry by %q, want the command line and its user", e.Email)
		}
		got = append(got, e.Action+" "+e.Target)
	}
	slices.Sort(got)
	if want := []string{"operator.add ops@example.com", "operator.add second@example.com", "operator.remove second@example.com"}; !slices.Equal(got, want) {
		t.Fatalf("audit log %q, want %q", got, want)
	}

	// The audit log refuses writes: the removal is not made either.
	if _, err := st.SQL().Exec(`CREATE TRIGGER no_audit BEFORE INSERT ON console_audit BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END`); err != nil {
		t.Fatal(err)
	}
	if r := latch(t, dir, nil, "console", "operators", "remove", "--database", db, "ops@example.com"); r.code != 1 || !strings.Contains(r.stderr, "audit unavailable") {
		t.Fatalf("remove while the audit log refuses writes: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := mustLatch(t, dir, nil, "console", "operators", "list", "--database", db); r.stdout != "ops@example.com\n" {
		t.Fatalf("a removal whose audit line failed was made: list %q", r.stdout)
	}
}
