package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// stmtCache keeps prepared statements for queries run outside
// transactions on SQLite, so that the hot reads (a session by token hash,
// a project, a user) are parsed once per connection instead of on every
// call. PostgreSQL needs none: pgx caches prepared statements itself.
type stmtCache struct {
	mu sync.RWMutex
	m  map[*sql.DB]map[string]*sql.Stmt
	// wanted holds queries met in a transaction before they were
	// prepared, for the committer to prepare on the writer afterwards.
	wanted map[string]bool
}

// maxCachedStmts bounds the cache; queries beyond it (rare shapes, such as
// an IN list of an unusual length) are prepared each time.
const maxCachedStmts = 256

func newStmtCache() *stmtCache {
	return &stmtCache{m: map[*sql.DB]map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// lookup returns the statement prepared for query on pool, or nil.
func (c *stmtCache) lookup(pool *sql.DB, query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[pool][query]
}

// want notes a query to prepare on the writer once its connection is free.
func (c *stmtCache) want(query string) {
	if !cacheable(query) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.wanted) < maxCachedStmts {
		c.wanted[query] = true
	}
}

// prepareWanted prepares on pool the queries noted by want.
func (c *stmtCache) prepareWanted(ctx context.Context, pool *sql.DB) {
	c.mu.Lock()
	wanted := c.wanted
	if len(wanted) == 0 {
		c.mu.Unlock()
		return
	}
	c.wanted = map[string]bool{}
	c.mu.Unlock()
	for q := range wanted {
		c.get(ctx, pool, q)
	}
}

// get returns a prepared statement for query on pool, or nil when the
// statement cannot be cached (the caller then runs the query directly).
// It prepares without holding the lock: preparing waits for a connection,
// which on an in-memory database (one connection for reads and writes) a
// transaction may hold while its own statements look the cache up.
func (c *stmtCache) get(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if st := c.lookup(pool, query); st != nil {
		return st
	}
	if !cacheable(query) {
		return nil
	}
	c.mu.RLock()
	full := len(c.m[pool]) >= maxCachedStmts
	c.mu.RUnlock()
	if full {
		return nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil // let the direct call report the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	byQuery := c.m[pool]
	if byQuery == nil {
		byQuery = map[string]*sql.Stmt{}
		c.m[pool] = byQuery
	}
	if other := byQuery[query]; other != nil || len(byQuery) >= maxCachedStmts {
		st.Close() // prepared meanwhile by another caller, or no room left
		return other
	}
	byQuery[query] = st
	return st
}

// maxCachedParams keeps out of the cache the statements whose text grows
// with their input (a batch of n rows, an IN list of n values): small
// shapes recur and are kept; each large one is seldom seen twice and
// would crowd the fixed statements out.
const maxCachedParams = 64

func cacheable(query string) bool { return strings.Count(query, "?") <= maxCachedParams }

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
