// Package attack holds the attack suite of issue 8: every attack runs
// through the real HTTP API of in-process Latch nodes (internal/latchtest),
// on SQLite and on PostgreSQL, and each numbered point of the issue is one
// test named after it (Test01TokenReuseAndRaces … Test12RateLimits).
//
// The package has no code outside its tests; this file only names it.
package attack
