package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// changes implements store.TableVersions for the writer connection: a
// pre-update hook on it marks each table a row change touches, and the
// group commit, once the transaction holding those changes has ended,
// turns the marks into new versions (see sqldb.Group.Ended). A version
// must not grow before the commit: a reader could then load the old rows,
// see the new version and keep them as current.
type changes struct {
	mu    sync.Mutex
	dirty map[string]bool // tables written by the open transaction: altered (a row updated or deleted)?

	versions sync.Map // table name → *tableVersions
}

// tableVersions are one table's counters: written grows with every write,
// altered only with updates and deletes.
type tableVersions struct{ written, altered atomic.Uint64 }

func newChanges() *changes { return &changes{dirty: map[string]bool{}} }

// wrote is the pre-update hook: SQLite calls it for every row inserted,
// updated or deleted on the writer, including by triggers, foreign key
// actions and REPLACE. (With a pre-update hook SQLite also gives up its
// truncate optimisation, so a DELETE without WHERE is seen row by row.)
func (c *changes) wrote(d sqlite.SQLitePreUpdateData) {
	c.mu.Lock()
	c.dirty[d.TableName] = c.dirty[d.TableName] || d.Op != sqlite3.SQLITE_INSERT
	c.mu.Unlock()
}

// ended bumps the versions of every table marked since the last call.
func (c *changes) ended() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, altered := range c.dirty {
		v := c.counters(t)
		if altered {
			v.altered.Add(1)
		}
		v.written.Add(1)
		delete(c.dirty, t)
	}
}

func (c *changes) counters(table string) *tableVersions {
	if v, ok := c.versions.Load(table); ok {
		return v.(*tableVersions)
	}
	v, _ := c.versions.LoadOrStore(table, new(tableVersions))
	return v.(*tableVersions)
}

// TableVersion implements [store.TableVersions].
func (db *DB) TableVersion(table string) uint64 {
	if v, ok := db.changes.versions.Load(table); ok {
		return v.(*tableVersions).written.Load()
	}
	return 0
}

// AlteredVersion implements [store.TableVersions].
func (db *DB) AlteredVersion(table string) uint64 {
	if v, ok := db.changes.versions.Load(table); ok {
		return v.(*tableVersions).altered.Load()
	}
	return 0
}

// hookedConnector wraps the driver's own connector (the package-level
// driver, with whatever is registered on it) and sets the pre-update hook
// on every connection the writer pool opens (it may replace a broken one).
type hookedConnector struct {
	driver.Connector
	hook sqlite.PreUpdateHookFn
}

func (c hookedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	h, ok := conn.(sqlite.HookRegisterer)
	if !ok {
		conn.Close()
		return nil, errors.New("sqlite: the driver's connection takes no pre-update hook")
	}
	h.RegisterPreUpdateHook(c.hook)
	return conn, nil
}
