package accounts

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// The callers Authenticate loads are kept, by session, on an engine that
// sees every write of this process (store.TableVersions: SQLite), and used
// again while none of the tables they were read from has changed and the
// users collection is the same version: a change this process commits (a
// role removed, a user disabled, a session revoked, a users field edited
// or added) applies to the next request as before, without a query per
// request in between.
//
// What the versions cannot see is bounded by callerTTL instead: changes
// made by another process on the same database file, and a session that
// expires by time while its caller is kept. On PostgreSQL, where other
// replicas write too, nothing is kept.
//
// Memory is bounded by maxCachedCallers entries of at most
// maxCachedCallerSize bytes of field values (a larger user is loaded on
// every request). What a kept caller holds (decrypted fields too) is
// dropped when it is next looked up after it expired, or by the first load
// a TTL after the last sweep.
const (
	callerTTL           = time.Second
	maxCachedCallers    = 4096
	maxCachedCallerSize = 4 << 10
)

// callerTables are the tables loadCaller reads: the user, its roles, its
// session, and the collection definitions (the users fields); the tables
// of callerRows only through rows that existed when the caller was loaded,
// so rows inserted there (a login's new session, a signup) change no kept
// caller and only updates and deletes count (store's AlteredVersion).
var (
	callerTables = [...]string{"_keep_user_roles", "_keep_collections"}
	callerRows   = [...]string{"c_users", "_keep_sessions"}
)

// callerCache is safe for concurrent use; a nil *callerCache keeps nothing.
type callerCache struct {
	versions store.TableVersions
	mu       sync.RWMutex
	m        map[string]cachedCaller // by session id
	swept    time.Time               // when expired entries were last dropped
}

type cachedCaller struct {
	user    string
	version uint64              // of callerTables and callerRows when the load began
	users   *records.Collection // the users collection the load began with
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

// callerKey is what a kept caller must still match: the tables' version
// (the sum of theirs, which only grow, so it changes whenever one does)
// and the users collection in force. It must be taken before the query
// whose result is kept with it: a write committed meanwhile then leaves
// the entry stale-marked, never current.
type callerKey struct {
	version uint64
	users   *records.Collection
}

func (c *callerCache) key(rec *records.Service) callerKey {
	if c == nil {
		return callerKey{}
	}
	var k callerKey
	for _, t := range callerTables {
		k.version += c.versions.TableVersion(t)
	}
	for _, t := range callerRows {
		k.version += c.versions.AlteredVersion(t)
	}
	// The collection is swapped in after its transaction's commit (and
	// version) but a load in between would use the old one.
	k.users, _ = rec.Collection("users")
	return k
}

func (e cachedCaller) fresh(now time.Time) bool {
	return !now.Before(e.loaded) && now.Sub(e.loaded) < callerTTL
}

// get returns the caller kept for session, if it is user's and current. The
// caller's Fields and Roles are copies: a request may not change another's.
func (c *callerCache) get(rec *records.Service, session, user string, now time.Time) (records.Caller, bool) {
	if c == nil {
		return records.Caller{}, false
	}
	c.mu.RLock()
	e, ok := c.m[session]
	c.mu.RUnlock()
	if !ok {
		return records.Caller{}, false
	}
	if e.user != user || !e.fresh(now) || (callerKey{e.version, e.users}) != c.key(rec) {
		c.drop(session, e.loaded)
		return records.Caller{}, false
	}
	caller := e.caller
	caller.Auth.Fields = maps.Clone(caller.Auth.Fields)
	caller.Auth.Roles = slices.Clone(caller.Auth.Roles)
	return caller, true
}

// drop removes session's entry if it is still the one loaded at loaded.
func (c *callerCache) drop(session string, loaded time.Time) {
	c.mu.Lock()
	if e, ok := c.m[session]; ok && e.loaded.Equal(loaded) {
		delete(c.m, session)
	}
	c.mu.Unlock()
}

// put keeps caller, loaded at now with key k, unless its fields are large.
func (c *callerCache) put(session string, k callerKey, now time.Time, caller records.Caller) {
	if c == nil || fieldsSize(caller.Auth.Fields) > maxCachedCallerSize {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	full := len(c.m) >= maxCachedCallers
	if full || now.Sub(c.swept) >= callerTTL || now.Before(c.swept) {
		for s, e := range c.m {
			if !e.fresh(now) {
				delete(c.m, s)
			}
		}
		c.swept = now
	}
	if _, ok := c.m[session]; !ok && len(c.m) >= maxCachedCallers {
		return // all fresh: the newcomer waits for a sweep
	}
	// A copy: the request that loaded caller may still change its own.
	caller.Auth.Fields = maps.Clone(caller.Auth.Fields)
	caller.Auth.Roles = slices.Clone(caller.Auth.Roles)
	c.m[session] = cachedCaller{user: caller.Auth.ID, version: k.version, users: k.users, loaded: now, caller: caller}
}

// fieldsSize is about how many bytes a caller's field values hold, or more
// than maxCachedCallerSize once it is clear that they do.
func fieldsSize(fields map[string]any) int {
	n := 0
	for k, v := range fields {
		n += len(k) + valueSize(v, maxCachedCallerSize-n)
		if n > maxCachedCallerSize {
			break
		}
	}
	return n
}

// valueSize sizes a decoded field value, stopping past budget.
func valueSize(v any, budget int) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case []byte:
		return len(v)
	case []any:
		n := 0
		for _, e := range v {
			if n += 8 + valueSize(e, budget-n); n > budget {
				break
			}
		}
		return n
	case []string:
		n := 0
		for _, e := range v {
			n += 8 + len(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			if n += len(k) + valueSize(e, budget-n); n > budget {
				break
			}
		}
		return n
	}
	return 16 // numbers, booleans, times, nil
}
