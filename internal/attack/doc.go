// Package attack holds the attack suite of issue 8 (and, as Test13, issue
// 12's account pre-hijack): every attack runs
// through the real HTTP API of in-process Latch nodes (internal/latchtest),
// on SQLite and on PostgreSQL, and each numbered point of the issue is one
// test named after it. TestMain prints the counts: attacks tried, faults
// injected, anything lost.
//
// Each test was checked once against the protection it guards, removed:
//
//	Test01TokenReuseAndRaces  used_at IS NULL in RedeemMagicLink / RedeemOTP
//	Test02Guessing            the per-code try cap, checkLock, the lock's TTL
//	Test03JWTForgeries        Verify's aud and nbf checks; case-folded reserved custom claims
//	Test04Tenants             project_id in the session lookup; the secret check
//	Test05Redirects           the allow-list; checking a given URL the link does not use
//	Test06Enumeration         5 ms more work for a new address; checking unused URLs
//	Test07BadInput            refusing NUL (PostgreSQL 500s); ReadHeaderTimeout
//	Test08AtRest              a session token or code written in plain
//	Test09Crash               synchronous=FULL on SQLite
//	Test10DatabaseOutage      the request deadline (black hole); ErrUnavailable → 503
//	Test11DeliveryOutage      retrying a refused delivery
//	Test12RateLimits          the per-recipient and per-project limits
//	Test13PreHijack           pending_until IS NULL in GetUserByEmail/Phone; the attach wording
//
// Issue 13 adds:
//
//	Test13SearchLoadLeavesOtherTenantsServed      (logs B's p99 idle vs under A's search load)
//	Test13LiveProjectsWithoutATransportFailClosed checkTransport; the live check in Sender.transport
//	Test13NoSecretReachesTheLog                   the dev outbox logging the message text
//
// Fuzz targets live beside the code they fuzz (internal/api, internal/auth,
// internal/keys: fuzz_test.go, corpora in testdata/fuzz/); scripts/fuzz runs
// them for a bounded time.
package attack
