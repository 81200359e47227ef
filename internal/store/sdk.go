package store

import (
	"context"
	"time"
)

// SDKOrigin is an origin (scheme://host[:port]) whose pages may call the
// frontend SDK's /sdk/v1 routes with the project's public token.
type SDKOrigin struct {
	ProjectID string
	Origin    string
	CreatedAt time.Time
}

// SDKStore holds the frontend SDK's credentials: one public token a
// project, and its authorized origins.
type SDKStore interface {
	// EnsurePublicToken gives the project the token unless it has one
	// already, and returns the project's token (the one it had, if any).
	EnsurePublicToken(ctx context.Context, projectID, token string, now time.Time) (string, error)
	// GetPublicToken returns the project's token; ErrNotFound if none.
	GetPublicToken(ctx context.Context, projectID string) (string, error)
	// ProjectIDByPublicToken returns the project of a token; ErrNotFound
	// if no project has it.
	ProjectIDByPublicToken(ctx context.Context, token string) (string, error)
	AddSDKOrigin(ctx context.Context, o SDKOrigin) error // ErrAlreadyExists on repeat
	ListSDKOrigins(ctx context.Context, projectID string) ([]SDKOrigin, error)
	DeleteSDKOrigin(ctx context.Context, projectID, origin string) error
	// SDKPKCERequired reports whether the project's SDK magic links need
	// PKCE (true unless turned off); ErrNotFound if it has no public token.
	SDKPKCERequired(ctx context.Context, projectID string) (bool, error)
	// SetSDKPKCERequired turns it on or off; ErrNotFound as above.
	SetSDKPKCERequired(ctx context.Context, projectID string, required bool) error
	// SDKOriginKnown reports whether any project authorizes the origin:
	// the one question a CORS preflight, which carries no credentials, can
	// ask.
	SDKOriginKnown(ctx context.Context, origin string) (bool, error)
}
