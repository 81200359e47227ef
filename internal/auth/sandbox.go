package auth

import (
	"context"
	"encoding/json"

	"github.com/latch-auth/latch/internal/store"
)

// Sandbox values (Stytch: https://stytch.com/docs/guides/testing/sandbox-values),
// answered in test projects only, all in one place.
const (
	SandboxEmail = "sandbox@stytch.com"
	SandboxPhone = "+10000000000"
	SandboxCode  = "000000"

	sandboxLinkOK       = "DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94="
	sandboxLinkUsed     = "3pzjQpgksDlGKWEwUq2Up--hCHC_0oamfLHyfspKDFU="
	sandboxLinkNotFound = "CprTtwhnRNiMBiUS2jSLcWYrfuO2POeBNdo5HhW6qTM="

	sandboxSessionOK = "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"
	sandboxSessionID = "session-test-fe6c042b-6286-479f-8a4f-b046a6c46509"

	SandboxUserID  = "user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd"
	sandboxEmailID = "email-test-81bf03a8-86e1-4d95-bd44-bb3495224953"
	sandboxPhoneID = "phone-number-test-d5a3b680-e8a3-40c0-b815-ab79986666d0"
)

// sandboxUser is the fixed user the sandbox values answer with. It is not
// stored: sandbox calls exist so test suites can run without side effects.
func (s *Service) sandboxUser(p store.Project) store.User {
	return store.User{
		ID: SandboxUserID, ProjectID: p.ID, Status: store.UserActive,
		TrustedMetadata: json.RawMessage(`{}`), UntrustedMetadata: json.RawMessage(`{}`), Roles: []string{},
		CreatedAt: s.Now(),
		Emails:    []store.Email{{ID: sandboxEmailID, Address: SandboxEmail, Verified: true, CreatedAt: s.Now()}},
		Phones:    []store.Phone{{ID: sandboxPhoneID, Number: SandboxPhone, Verified: true, CreatedAt: s.Now()}},
	}
}

// sandboxLogin answers a sandbox credential in a test project: the sandbox
// user, and when a session is asked for, a sandbox session whose JWT is
// signed with the project's real key (it is not stored, so it cannot be
// extended or revoked).
func (s *Service) sandboxLogin(ctx context.Context, p store.Project, opts SessionOptions, factorType, methodID string) (LoginResult, error) {
	res := LoginResult{MethodID: methodID}
	res.User = s.sandboxUser(p)
	if opts.SessionDurationMinutes == nil {
		return res, nil
	}
	sess := s.sandboxSession(p)
	jwt, err := s.sessionJWT(ctx, p, sess)
	if err != nil {
		return LoginResult{}, err
	}
	res.Session, res.Token, res.JWT = &sess, sandboxSessionOK, jwt
	return res, nil
}

func (s *Service) sandboxSession(p store.Project) store.Session {
	now := s.Now()
	return store.Session{
		ID: sandboxSessionID, ProjectID: p.ID, UserID: SandboxUserID,
		StartedAt: now, LastAccessedAt: now, ExpiresAt: now.Add(60 * 60e9),
		CustomClaims: json.RawMessage(`{}`), Roles: []string{defaultRole},
		Factors: []store.Factor{{Type: "magic_link", DeliveryMethod: "email", LastAuthenticatedAt: now, CreatedAt: now, UpdatedAt: now,
			EmailFactor: &store.EmailFactor{EmailID: sandboxEmailID, EmailAddress: SandboxEmail}}},
	}
}
