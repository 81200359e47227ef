package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
	"github.com/latch-auth/latch/internal/store/storetest"
)

// Migration 0010 (the console) makes outbox.project_id nullable, which on
// SQLite rebuilds the outbox: every message survives with its id and
// fields, new ids keep counting up, and a project's deletion still takes
// its messages.
func TestMigration10KeepsTheOutbox(t *testing.T) {
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
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(db.migrateTo(ctx, 9)) // the schema just before the console
			now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
			p := store.Project{ID: "project-test-00000000-0000-4000-8000-000000000010", Name: "m", CreatedAt: now, LockThreshold: 10, LockTTL: time.Hour}
			must(db.CreateProject(ctx, p))
			var ids []int64
			for _, to := range []string{"a@example.com", "b@example.com"} {
				id, err := db.EnqueueMessage(ctx, store.OutboxMessage{ProjectID: p.ID, Channel: "email", Recipient: to, Payload: []byte("sealed " + to), CreatedAt: now})
				must(err)
				ids = append(ids, id)
			}
			must(db.MarkMessageHandedOff(ctx, ids[1], now))
			must(db.MarkMessageDead(ctx, ids[1], "refused", now))
			must(db.Migrate(ctx))
			ms, err := db.ListMessages(ctx, "", 10)
			must(err)
			if len(ms) != 2 || ms[0].ID != ids[1] || ms[1].ID != ids[0] || ms[0].ProjectID != p.ID || string(ms[1].Payload) != "sealed a@example.com" ||
				ms[0].DeadAt == nil || ms[0].HandedOffAt == nil || ms[0].LastError != "refused" {
				t.Fatalf("messages after the migration: %+v", ms)
			}
			id, err := db.EnqueueMessage(ctx, store.OutboxMessage{Channel: "email", Recipient: "op@latch.test", Payload: []byte("x"), CreatedAt: now})
			must(err)
			if id <= ids[1] {
				t.Fatalf("new id %d after %d", id, ids[1])
			}
			must(db.DeleteProject(ctx, p.ID))
			ms, err = db.ListMessages(ctx, "", 10)
			must(err)
			if len(ms) != 1 || ms[0].ProjectID != "" {
				t.Fatalf("after deleting the project: %+v", ms)
			}
		})
	}
}
