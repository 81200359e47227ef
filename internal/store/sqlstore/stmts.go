package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements for queries run outside
// transactions on SQLite, so that the hot reads (a session by token hash,
// a project, a user) are parsed once per connection instead of on every
// call. PostgreSQL needs none: pgx caches prepared statements itself.
type stmtCache struct {
	mu sync.RWMutex
	m  map[*sql.DB]map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache; queries beyond it (rare shapes, such as
// an IN list of an unusual length) are prepared each time.
const maxCachedStmts = 256

func newStmtCache() *stmtCache { return &stmtCache{m: map[*sql.DB]map[string]*sql.Stmt{}} }

// get returns a prepared statement for query on pool, or nil when the
// statement cannot be cached (the caller then runs the query directly).
func (c *stmtCache) get(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	c.mu.RLock()
	st := c.m[pool][query]
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	byQuery := c.m[pool]
	if byQuery == nil {
		byQuery = map[string]*sql.Stmt{}
		c.m[pool] = byQuery
	}
	if st = byQuery[query]; st != nil {
		return st
	}
	if len(byQuery) >= maxCachedStmts {
		return nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil // let the direct call report the error
	}
	byQuery[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, byQuery := range c.m {
		for _, st := range byQuery {
			st.Close()
		}
	}
	c.m = map[*sql.DB]map[string]*sql.Stmt{}
}
