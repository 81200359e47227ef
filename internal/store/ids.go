package store

import "strings"

// IsUserID reports whether s has the form of the user ids that Latch makes
// (user-test-… or user-live-…). User ids and external ids are two disjoint
// spaces: an external id of this form is refused, and GetUser looks a value
// of this form up only as a user id and any other value only as an
// external id, so neither can ever stand for a user of the other space.
func IsUserID(s string) bool {
	return strings.HasPrefix(s, "user-test-") || strings.HasPrefix(s, "user-live-")
}
