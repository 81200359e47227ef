package sqlstore

import "testing"

func TestRebindNumbersPlaceholdersOutsideStrings(t *testing.T) {
	got := rebind(`SELECT '?' FROM t WHERE a = ? AND b LIKE ? ESCAPE '\' AND c IN (?, ?)`)
	want := `SELECT '?' FROM t WHERE a = $1 AND b LIKE $2 ESCAPE '\' AND c IN ($3, $4)`
	if got != want {
		t.Fatalf("rebind =\n%s\nwant\n%s", got, want)
	}
}
