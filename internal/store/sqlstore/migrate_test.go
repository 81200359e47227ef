package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// Migration 0004 (pending attaches claim nothing) rebuilds SQLite's emails
// and phones tables and replaces PostgreSQL's unique constraints: every
// method survives it, with its fields, and the new uniqueness holds after.
func TestMigration4KeepsEveryMethodAndFreesPendingAddresses(t *testing.T) {
	for _, backend := range []string{BackendSQLite, BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := storetest.SQLiteURL(t)
			if backend == BackendPostgres {
				url = storetest.PostgresURL(t)
			}
			db, err := Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.migrateTo(ctx, 3); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
			p := store.Project{ID: "project-test-00000000-0000-4000-8000-000000000004", Name: "m", CreatedAt: now, LockThreshold: 10, LockTTL: time.Hour}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			// The project row as schema version 3 has it (CreateProject
			// writes the columns of later migrations).
			_, err = db.exec(ctx, `INSERT INTO projects (id, name, live, created_at, lock_threshold, lock_ttl_ms,
				recipient_sends_per_minute, project_sends_per_minute) VALUES (?, ?, ?, ?, ?, ?, 0, 0)`,
				p.ID, p.Name, p.Live, ms(p.CreatedAt), p.LockThreshold, p.LockTTL.Milliseconds())
			must(err)
			pending := now.Add(5 * time.Minute)
			owner := store.User{ID: "user-test-00000000-0000-4000-8000-000000000001", ProjectID: p.ID, Status: "active", CreatedAt: now,
				Emails: []store.Email{{ID: "email-test-1", Address: "Owner@example.com", Verified: true, CreatedAt: now}},
				Phones: []store.Phone{{ID: "phone-number-test-1", Number: "+14155550100", CreatedAt: now}}}
			other := store.User{ID: "user-test-00000000-0000-4000-8000-000000000002", ProjectID: p.ID, Status: "active", CreatedAt: now}
			must(db.CreateUser(ctx, owner))
			must(db.CreateUser(ctx, other))
			must(db.AddEmail(ctx, store.Email{ID: "email-test-2", ProjectID: p.ID, UserID: other.ID, Address: "pending@example.com", CreatedAt: now, PendingUntil: &pending}))
			must(db.AddPhone(ctx, store.Phone{ID: "phone-number-test-2", ProjectID: p.ID, UserID: other.ID, Number: "+14155550101", CreatedAt: now, PendingUntil: &pending}))

			must(db.Migrate(ctx))
			got, err := db.GetUserByEmail(ctx, p.ID, "owner@example.com")
			must(err)
			if got.ID != owner.ID || len(got.Emails) != 1 || !got.Emails[0].Verified || got.Emails[0].Address != "Owner@example.com" ||
				len(got.Phones) != 1 || got.Phones[0].Number != "+14155550100" || got.Phones[0].PendingUntil != nil {
				t.Fatalf("owner after the migration: %+v", got)
			}
			o, err := db.GetUser(ctx, p.ID, other.ID)
			must(err)
			if len(o.Emails) != 1 || o.Emails[0].PendingUntil == nil || !o.Emails[0].PendingUntil.Equal(pending) ||
				len(o.Phones) != 1 || o.Phones[0].PendingUntil == nil {
				t.Fatalf("pending methods after the migration: %+v", o)
			}
			// The identities are still unique; the pending ones claim nothing.
			if err := db.AddEmail(ctx, store.Email{ID: "email-test-3", ProjectID: p.ID, UserID: other.ID, Address: "OWNER@example.com", CreatedAt: now}); !errors.Is(err, store.ErrDuplicateEmail) {
				t.Fatalf("a second owner of an address: %v", err)
			}
			must(db.AddEmail(ctx, store.Email{ID: "email-test-4", ProjectID: p.ID, UserID: owner.ID, Address: "pending@example.com", CreatedAt: now}))
			must(db.AddPhone(ctx, store.Phone{ID: "phone-number-test-4", ProjectID: p.ID, UserID: owner.ID, Number: "+14155550101", CreatedAt: now}))
		})
	}
}

// Every backend has the same migrations, numbered 1, 2, 3, … without a gap
// or a repeat: a repeated number (two branches that each took the next one)
// would leave one of them never applied.
func TestMigrationsAreNumberedOnceAndAlikeOnEveryBackend(t *testing.T) {
	var versions [][]int
	for _, d := range []dialect{sqliteDialect, postgresDialect} {
		backend := d.name
		ms, err := (&DB{d: d}).migrations()
		if err != nil {
			t.Fatal(err)
		}
		var vs []int
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("%s: migration %s is number %d, want %d", backend, m.name, m.version, i+1)
			}
			vs = append(vs, m.version)
		}
		versions = append(versions, vs)
	}
	if len(versions[0]) != len(versions[1]) {
		t.Errorf("SQLite has %d migrations, PostgreSQL %d", len(versions[0]), len(versions[1]))
	}
}
