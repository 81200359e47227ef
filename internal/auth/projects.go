package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store"
)

// Project defaults (Stytch's user-lock defaults).
const (
	DefaultLockThreshold = 10
	DefaultLockTTL       = time.Hour
)

// NewProject is what `latch project create` asks for.
type NewProject struct {
	Name         string
	Live         bool
	RedirectURLs []string
	SDKOrigins   []string // origins whose pages may use the public token
}

// CreatedProject carries the only copy of the new project's secret.
type CreatedProject struct {
	Project  store.Project
	SecretID string
	Secret   string
	// PublicToken is the frontend SDK's token (public; sdk.go).
	PublicToken string
}

// CreateProject makes a project, its first secret and its first signing key
// in one transaction.
func (s *Service) CreateProject(ctx context.Context, np NewProject) (CreatedProject, error) {
	now := s.Now()
	p := store.Project{
		ID:            secret.ID("project", np.Live),
		Name:          strings.TrimSpace(np.Name),
		Live:          np.Live,
		CreatedAt:     now,
		LockThreshold: DefaultLockThreshold,
		LockTTL:       DefaultLockTTL,
	}
	if p.Name == "" {
		p.Name = "My project"
	}
	for _, u := range np.RedirectURLs {
		if err := ValidateRedirectURL(u); err != nil {
			return CreatedProject{}, err
		}
	}
	origins := make([]string, 0, len(np.SDKOrigins))
	for _, o := range np.SDKOrigins {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return CreatedProject{}, err
		}
		origins = append(origins, n)
	}
	publicToken := secret.ID("public-token", np.Live)
	sec := secret.ProjectSecret(np.Live)
	ps := store.ProjectSecret{ID: secret.ID("secret", np.Live), ProjectID: p.ID, Hash: secret.Hash(sec), CreatedAt: now}
	// The key is made before the transaction: every other write waits for
	// a transaction to end, and an RSA key takes tens of milliseconds.
	sk, err := s.keys.Generate(p.ID, p.Live)
	if err != nil {
		return CreatedProject{}, fmt.Errorf("create project: %w", err)
	}
	err = s.store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		if err := tx.AddProjectSecret(ctx, ps); err != nil {
			return err
		}
		for i, u := range np.RedirectURLs {
			// Distinct created_at keeps the first URL the default.
			if err := tx.AddRedirectURL(ctx, store.RedirectURL{ProjectID: p.ID, URL: u, CreatedAt: now.Add(time.Duration(i) * time.Millisecond)}); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
				return err
			}
		}
		if _, err := tx.EnsurePublicToken(ctx, p.ID, publicToken, now); err != nil {
			return err
		}
		for _, o := range origins {
			if err := tx.AddSDKOrigin(ctx, store.SDKOrigin{ProjectID: p.ID, Origin: o, CreatedAt: now}); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
				return err
			}
		}
		return s.keys.AddKey(ctx, tx, sk)
	})
	if err != nil {
		return CreatedProject{}, fmt.Errorf("create project: %w", err)
	}
	return CreatedProject{Project: p, SecretID: ps.ID, Secret: sec, PublicToken: publicToken}, nil
}

// AddSecret adds a secret to a project (rotation); the old ones keep
// working until revoked.
func (s *Service) AddSecret(ctx context.Context, projectID string) (id, sec string, err error) {
	p, err := s.store.GetProject(ctx, projectID)
	if err != nil {
		return "", "", err
	}
	sec = secret.ProjectSecret(p.Live)
	ps := store.ProjectSecret{ID: secret.ID("secret", p.Live), ProjectID: p.ID, Hash: secret.Hash(sec), CreatedAt: s.Now()}
	if err := s.store.AddProjectSecret(ctx, ps); err != nil {
		return "", "", err
	}
	return ps.ID, sec, nil
}

// RevokeSecret deletes one of a project's secrets: every node refuses it
// from its next request (secrets are read on every request).
func (s *Service) RevokeSecret(ctx context.Context, projectID, secretID string) error {
	return s.store.DeleteProjectSecret(ctx, projectID, secretID)
}

// AddRedirectURL allows u for the project's magic links, after
// ValidateRedirectURL; one already allowed is not an error. The first URL
// a project was given is its default, so URLs keep the time they were added
// to the millisecond.
func (s *Service) AddRedirectURL(ctx context.Context, projectID, u string) error {
	if err := ValidateRedirectURL(u); err != nil {
		return err
	}
	err := s.store.AddRedirectURL(ctx, store.RedirectURL{ProjectID: projectID, URL: u, CreatedAt: s.now().UTC()})
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil
	}
	return err
}

// RemoveRedirectURL disallows u for the project's magic links.
func (s *Service) RemoveRedirectURL(ctx context.Context, projectID, u string) error {
	return s.store.DeleteRedirectURL(ctx, projectID, u)
}

// RedirectURLs lists the project's allowed redirect URLs, the default (the
// oldest) first.
func (s *Service) RedirectURLs(ctx context.Context, projectID string) ([]store.RedirectURL, error) {
	return s.store.ListRedirectURLs(ctx, projectID)
}

// AuthenticateProject checks HTTP Basic credentials: the one check of "is
// this caller the project?", made before anything else of a request. The
// secret must be one of the project's, read now (a revoked secret, or a
// deleted project whose secrets go with it, fails at once on every node;
// the project row itself may come from a short-lived cache), compared with
// every one in constant time; and its environment must match the project
// id's: a test id with a live secret, or the reverse, fails. Every failure
// is the same 401.
func (s *Service) AuthenticateProject(ctx context.Context, projectID, sec string) (store.Project, error) {
	live, ok := secret.IDEnv("project", projectID)
	if !ok {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	if secretLive, ok := secret.IDEnv("secret", sec); !ok || secretLive != live {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	p, err := s.project(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	if err != nil {
		return store.Project{}, storeErr(err, "get project")
	}
	secrets, err := s.store.ListProjectSecrets(ctx, p.ID)
	if err != nil {
		return store.Project{}, storeErr(err, "list secrets")
	}
	hash, ok := secret.Hash(sec), false
	for _, ps := range secrets {
		if secret.Equal(ps.Hash, hash) {
			ok = true
		}
	}
	if !ok {
		return store.Project{}, ErrUnauthorizedCredentials
	}
	return p, nil
}

// projectCacheTTL bounds how stale a cached project row (name, lock
// settings) may be. Nothing that must take effect at once lives there.
const projectCacheTTL = 5 * time.Second

type cachedProject struct {
	p  store.Project
	at time.Time
}

// project reads a project row through a small cache.
func (s *Service) project(ctx context.Context, id string) (store.Project, error) {
	now := time.Now()
	if v, ok := s.projects.Load(id); ok {
		if c := v.(cachedProject); now.Sub(c.at) < projectCacheTTL {
			return c.p, nil
		}
	}
	p, err := s.store.GetProject(ctx, id)
	if err != nil {
		return store.Project{}, err
	}
	s.projects.Store(id, cachedProject{p: p, at: now})
	return p, nil
}

// ValidateRedirectURL accepts absolute http(s) URLs with a host and no
// user info or fragment.
func ValidateRedirectURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("redirect URL %q must be an absolute http(s) URL with a host, no user info and no fragment", raw)
	}
	return nil
}

// ProjectSettings are a project's tunable limits; nil fields stay as they are.
type ProjectSettings struct {
	Name                    *string
	LockThreshold           *int           // consecutive failures that lock a user: 1–100
	LockTTL                 *time.Duration // how long a lock lasts: 5 min–7 days
	RecipientSendsPerMinute *int           // 0 = default (5)
	ProjectSendsPerMinute   *int           // 0 = default (100,000)
	PasswordPolicy          *string        // "zxcvbn" or "luds"
	LUDSMinLength           *int           // 8–32
	LUDSComplexity          *int           // 1–4
}

// UpdateProjectSettings validates and writes settings. Nodes use them
// within projectCacheTTL; this node at once.
func (s *Service) UpdateProjectSettings(ctx context.Context, id string, set ProjectSettings) (store.Project, error) {
	p, err := s.store.GetProject(ctx, id)
	if err != nil {
		return store.Project{}, err
	}
	if set.Name != nil {
		p.Name = *set.Name
	}
	if v := set.LockThreshold; v != nil {
		if *v < 1 || *v > 100 {
			return store.Project{}, fmt.Errorf("lock threshold must be 1–100, not %d", *v)
		}
		p.LockThreshold = *v
	}
	if v := set.LockTTL; v != nil {
		if *v < 5*time.Minute || *v > 7*24*time.Hour {
			return store.Project{}, fmt.Errorf("lock TTL must be 5m–168h, not %v", *v)
		}
		p.LockTTL = *v
	}
	if v := set.RecipientSendsPerMinute; v != nil {
		if *v < 0 {
			return store.Project{}, errors.New("sends per minute cannot be negative")
		}
		p.RecipientSendsPerMinute = *v
	}
	if v := set.ProjectSendsPerMinute; v != nil {
		if *v < 0 {
			return store.Project{}, errors.New("sends per minute cannot be negative")
		}
		p.ProjectSendsPerMinute = *v
	}
	if err := applyPasswordSettings(&p, set); err != nil {
		return store.Project{}, err
	}
	if err := s.store.UpdateProjectSettings(ctx, p); err != nil {
		return store.Project{}, err
	}
	s.projects.Delete(id)
	return p, nil
}
