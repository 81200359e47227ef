package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change, named NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := path.Join("migrations", db.d.name)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: name must start with a number", name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		// schema_migrations records versions: a second file of a version
		// would never run (two branches that each added the next number).
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("sqlstore: migrations %s and %s have one version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    applied_at BIGINT NOT NULL
)`

// Migrate applies the embedded migrations that the database has not seen.
// It is safe to run from several processes at once: PostgreSQL serialises
// them with an advisory lock, SQLite with one IMMEDIATE transaction.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrateTo(ctx, math.MaxInt)
}

// migrateTo is Migrate up to and including version last (tests start
// from an older schema with it).
func (db *DB) migrateTo(ctx context.Context, last int) error {
	if db.tx != nil {
		return errors.New("sqlstore: Migrate inside a transaction")
	}
	all, err := db.migrations()
	if err != nil {
		return err
	}
	var ms []migration
	for _, m := range all {
		if m.version <= last {
			ms = append(ms, m)
		}
	}
	if db.d.name == BackendPostgres {
		return db.migratePostgres(ctx, ms)
	}
	tx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN)
	if err != nil {
		return db.wrap(err)
	}
	defer tx.Rollback()
	if err := applyMigrations(ctx, tx, db, ms); err != nil {
		return err
	}
	return db.wrap(tx.Commit())
}

func (db *DB) migratePostgres(ctx context.Context, ms []migration) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return db.wrap(err)
	}
	defer conn.Close()
	// One lock per schema, so that tests in their own schemas do not wait
	// for each other.
	const key = `hashtext('latch.migrate.' || coalesce(current_schema(), ''))`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return db.wrap(fmt.Errorf("sqlstore: migration lock: %w", err))
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`)

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(err)
	}
	defer tx.Rollback()
	if err := applyMigrations(ctx, tx, db, ms); err != nil {
		return err
	}
	return db.wrap(tx.Commit())
}

func applyMigrations(ctx context.Context, tx *sql.Tx, db *DB, ms []migration) error {
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return db.wrap(fmt.Errorf("sqlstore: create schema_migrations: %w", err))
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return db.wrap(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return db.wrap(err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.wrap(err)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return db.wrap(fmt.Errorf("sqlstore: migration %s: %w", m.name, err))
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
			m.version, time.Now().UnixMilli()); err != nil {
			return db.wrap(fmt.Errorf("sqlstore: record migration %s: %w", m.name, err))
		}
	}
	return nil
}
