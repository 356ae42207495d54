package accounts

import (
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// The callers Authenticate loads are kept, by session, on an engine that
// sees every write of this process (store.TableVersions: SQLite), and used
// again while none of the tables they were read from has changed: a
// change this process commits (a role removed, a user disabled, a session
// revoked, a users field edited) applies to the next request as before,
// without a query per request in between.
//
// What the versions cannot see is bounded by callerTTL instead: changes
// made by another process on the same database file, and a session that
// expires by time while its caller is kept. On PostgreSQL, where other
// replicas write too, nothing is kept.
const (
	callerTTL        = time.Second
	maxCachedCallers = 16384
)

// callerTables are the tables loadCaller reads: the user, its roles, its
// session, and the users collection's definition (its fields).
var callerTables = [...]string{"c_users", "_keep_user_roles", "_keep_sessions", "_keep_collections"}

// callerCache is safe for concurrent use; a nil *callerCache keeps nothing.
// The callers it hands out are shared: their maps and slices are read-only.
type callerCache struct {
	versions store.TableVersions
	mu       sync.RWMutex
	m        map[string]cachedCaller // by session id
}

type cachedCaller struct {
	user    string
	version uint64 // of callerTables when the load began
	loaded  time.Time
	caller  records.Caller
}

// newCallerCache returns a cache for db, or nil when its engine cannot
// tell what changed.
func newCallerCache(db store.DB) *callerCache {
	v, ok := db.(store.TableVersions)
	if !ok {
		return nil
	}
	return &callerCache{versions: v, m: make(map[string]cachedCaller)}
}

// version is the sum of the tables' versions, which only grow: it changes
// whenever one of them does. It must be read before the query whose
// result it is stored with.
func (c *callerCache) version() uint64 {
	if c == nil {
		return 0
	}
	var n uint64
	for _, t := range callerTables {
		n += c.versions.TableVersion(t)
	}
	return n
}

func (e cachedCaller) fresh(now time.Time) bool {
	return !now.Before(e.loaded) && now.Sub(e.loaded) < callerTTL
}

// get returns the caller kept for session, if it is user's and current.
func (c *callerCache) get(session, user string, now time.Time) (records.Caller, bool) {
	if c == nil {
		return records.Caller{}, false
	}
	c.mu.RLock()
	e, ok := c.m[session]
	c.mu.RUnlock()
	if !ok || e.user != user || !e.fresh(now) || e.version != c.version() {
		return records.Caller{}, false
	}
	return e.caller, true
}

// put keeps caller, loaded at now from tables at version.
func (c *callerCache) put(session, user string, version uint64, now time.Time, caller records.Caller) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[session]; !ok && len(c.m) >= maxCachedCallers {
		for k, e := range c.m {
			if !e.fresh(now) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // all fresh: any one goes
			if len(c.m) < maxCachedCallers {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[session] = cachedCaller{user: user, version: version, loaded: now, caller: caller}
}
