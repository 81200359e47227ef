package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// EnsurePublicToken inserts the token unless the project has one, and
// returns the project's token.
func (db *DB) EnsurePublicToken(ctx context.Context, projectID, token string, now time.Time) (string, error) {
	_, err := db.exec(ctx, `INSERT INTO sdk_public_tokens (project_id, token, created_at) VALUES (?, ?, ?)
		ON CONFLICT (project_id) DO NOTHING`, projectID, token, ms(now))
	if err != nil {
		return "", db.wrap(err)
	}
	return db.GetPublicToken(ctx, projectID)
}

// GetPublicToken returns the project's public token.
func (db *DB) GetPublicToken(ctx context.Context, projectID string) (string, error) {
	var t string
	err := db.queryRow(ctx, `SELECT token FROM sdk_public_tokens WHERE project_id = ?`, projectID).Scan(&t)
	return t, db.wrap(err)
}

// ProjectIDByPublicToken returns the project that holds the token.
func (db *DB) ProjectIDByPublicToken(ctx context.Context, token string) (string, error) {
	var id string
	err := db.queryRow(ctx, `SELECT project_id FROM sdk_public_tokens WHERE token = ?`, token).Scan(&id)
	return id, db.wrap(err)
}

// AddSDKOrigin authorizes an origin for the project.
func (db *DB) AddSDKOrigin(ctx context.Context, o store.SDKOrigin) error {
	return db.insert(ctx, `INSERT INTO sdk_origins (project_id, origin, created_at) VALUES (?, ?, ?)`,
		o.ProjectID, o.Origin, ms(o.CreatedAt))
}

// ListSDKOrigins returns the project's origins, oldest first.
func (db *DB) ListSDKOrigins(ctx context.Context, projectID string) ([]store.SDKOrigin, error) {
	rows, err := db.query(ctx, `SELECT project_id, origin, created_at FROM sdk_origins
		WHERE project_id = ? ORDER BY created_at, origin`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.SDKOrigin{}
	for rows.Next() {
		var o store.SDKOrigin
		var created int64
		if err := rows.Scan(&o.ProjectID, &o.Origin, &created); err != nil {
			return nil, db.wrap(err)
		}
		o.CreatedAt = fromMS(created)
		out = append(out, o)
	}
	return out, db.wrap(rows.Err())
}

// DeleteSDKOrigin removes an origin; ErrNotFound if it was not there.
func (db *DB) DeleteSDKOrigin(ctx context.Context, projectID, origin string) error {
	return db.execOne(ctx, `DELETE FROM sdk_origins WHERE project_id = ? AND origin = ?`, projectID, origin)
}

// SDKOriginKnown reports whether some project authorizes the origin.
func (db *DB) SDKOriginKnown(ctx context.Context, origin string) (bool, error) {
	var one int
	err := db.queryRow(ctx, `SELECT 1 FROM sdk_origins WHERE origin = ? LIMIT 1`, origin).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, db.wrap(err)
}

// SDKPKCERequired reads the project's PKCE setting for SDK magic links.
func (db *DB) SDKPKCERequired(ctx context.Context, projectID string) (bool, error) {
	var required bool
	err := db.queryRow(ctx, `SELECT pkce_required FROM sdk_public_tokens WHERE project_id = ?`, projectID).Scan(&required)
	return required, db.wrap(err)
}

// SetSDKPKCERequired writes it.
func (db *DB) SetSDKPKCERequired(ctx context.Context, projectID string, required bool) error {
	return db.execOne(ctx, `UPDATE sdk_public_tokens SET pkce_required = ? WHERE project_id = ?`, required, projectID)
}
