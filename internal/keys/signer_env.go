package keys

import "os"

// forcedGoSigner reports whether LATCH_RSA_SIGNER=go asks for Go's
// crypto/rsa even where OpenSSL is available (to compare the two, or to
// rule OpenSSL out).
func forcedGoSigner() bool { return os.Getenv("LATCH_RSA_SIGNER") == "go" }
