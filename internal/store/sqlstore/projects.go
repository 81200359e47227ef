package sqlstore

import (
	"context"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

const projectColumns = `id, name, live, created_at, lock_threshold, lock_ttl_ms, recipient_sends_per_minute, project_sends_per_minute,
	password_policy, luds_min_length, luds_complexity`

func scanProject(s rowScanner) (store.Project, error) {
	var p store.Project
	var created, ttl int64
	if err := s.Scan(&p.ID, &p.Name, &p.Live, &created, &p.LockThreshold, &ttl, &p.RecipientSendsPerMinute, &p.ProjectSendsPerMinute,
		&p.PasswordPolicy, &p.LUDSMinLength, &p.LUDSComplexity); err != nil {
		return store.Project{}, err
	}
	p.CreatedAt = fromMS(created)
	p.LockTTL = time.Duration(ttl) * time.Millisecond
	return p, nil
}

// CreateProject inserts p; ErrAlreadyExists if the id is taken.
func (db *DB) CreateProject(ctx context.Context, p store.Project) error {
	return db.insert(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Name, p.Live, ms(p.CreatedAt), p.LockThreshold, p.LockTTL.Milliseconds(), p.RecipientSendsPerMinute, p.ProjectSendsPerMinute,
		passwordPolicy(p.PasswordPolicy), p.LUDSMinLength, p.LUDSComplexity)
}

// UpdateProjectSettings writes p's name, lock settings and send limits.
func (db *DB) UpdateProjectSettings(ctx context.Context, p store.Project) error {
	return db.execOne(ctx, `UPDATE projects SET name = ?, lock_threshold = ?, lock_ttl_ms = ?,
		recipient_sends_per_minute = ?, project_sends_per_minute = ?,
		password_policy = ?, luds_min_length = ?, luds_complexity = ? WHERE id = ?`,
		p.Name, p.LockThreshold, p.LockTTL.Milliseconds(), p.RecipientSendsPerMinute, p.ProjectSendsPerMinute,
		passwordPolicy(p.PasswordPolicy), p.LUDSMinLength, p.LUDSComplexity, p.ID)
}

// passwordPolicy stores "" as the default policy, zxcvbn.
func passwordPolicy(v string) string {
	if v == "" {
		return store.PolicyZxcvbn
	}
	return v
}

// GetProject returns the project with id.
func (db *DB) GetProject(ctx context.Context, id string) (store.Project, error) {
	p, err := scanProject(db.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	return p, db.wrap(err)
}

// ListProjects returns every project, oldest first.
func (db *DB) ListProjects(ctx context.Context) ([]store.Project, error) {
	rows, err := db.query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, p)
	}
	return out, db.wrap(rows.Err())
}

// DeleteProject deletes the project and, by cascade, everything it owns.
func (db *DB) DeleteProject(ctx context.Context, id string) error {
	return db.atomically(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, `DELETE FROM rate_limits WHERE project_id = ?`, id); err != nil {
			return err
		}
		return tx.execOne(ctx, `DELETE FROM projects WHERE id = ?`, id)
	})
}

// AddProjectSecret stores a secret's hash.
func (db *DB) AddProjectSecret(ctx context.Context, s store.ProjectSecret) error {
	return db.insert(ctx, `INSERT INTO project_secrets (id, project_id, hash, created_at) VALUES (?, ?, ?, ?)`,
		s.ID, s.ProjectID, s.Hash, ms(s.CreatedAt))
}

// ListProjectSecrets returns the project's secrets, oldest first.
func (db *DB) ListProjectSecrets(ctx context.Context, projectID string) ([]store.ProjectSecret, error) {
	rows, err := db.query(ctx, `SELECT id, project_id, hash, created_at FROM project_secrets
		WHERE project_id = ? ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.ProjectSecret{}
	for rows.Next() {
		var s store.ProjectSecret
		var created int64
		if err := rows.Scan(&s.ID, &s.ProjectID, &s.Hash, &created); err != nil {
			return nil, db.wrap(err)
		}
		s.CreatedAt = fromMS(created)
		out = append(out, s)
	}
	return out, db.wrap(rows.Err())
}

// DeleteProjectSecret removes one secret of the project.
func (db *DB) DeleteProjectSecret(ctx context.Context, projectID, secretID string) error {
	return db.execOne(ctx, `DELETE FROM project_secrets WHERE project_id = ? AND id = ?`, projectID, secretID)
}

// AddRedirectURL adds a URL to the allow-list; ErrAlreadyExists on repeat.
func (db *DB) AddRedirectURL(ctx context.Context, r store.RedirectURL) error {
	return db.insert(ctx, `INSERT INTO redirect_urls (project_id, url, created_at) VALUES (?, ?, ?)`,
		r.ProjectID, r.URL, ms(r.CreatedAt))
}

// ListRedirectURLs returns the allow-list, oldest first.
func (db *DB) ListRedirectURLs(ctx context.Context, projectID string) ([]store.RedirectURL, error) {
	rows, err := db.query(ctx, `SELECT project_id, url, created_at FROM redirect_urls
		WHERE project_id = ? ORDER BY created_at, url`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.RedirectURL{}
	for rows.Next() {
		var r store.RedirectURL
		var created int64
		if err := rows.Scan(&r.ProjectID, &r.URL, &created); err != nil {
			return nil, db.wrap(err)
		}
		r.CreatedAt = fromMS(created)
		out = append(out, r)
	}
	return out, db.wrap(rows.Err())
}

// DeleteRedirectURL removes a URL from the allow-list.
func (db *DB) DeleteRedirectURL(ctx context.Context, projectID, url string) error {
	return db.execOne(ctx, `DELETE FROM redirect_urls WHERE project_id = ? AND url = ?`, projectID, url)
}
