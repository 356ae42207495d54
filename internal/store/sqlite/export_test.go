package sqlite

import (
	"time"

	"github.com/keep-dev/keep/internal/store/sqldb"
)

// SetBatchAge sets how long a batch of transactions may stay open.
func SetBatchAge(db *DB, d time.Duration) { db.group.MaxAge = d }

// BatchStats reports the writer's group commits.
func BatchStats(db *DB) sqldb.GroupStats { return db.group.Stats() }

// Waiting is the number of transactions waiting for the writer.
func Waiting(db *DB) int { return db.group.Waiting() }

// PageCacheErr is why the bulk page cache could not be set up; nil when it
// was.
func PageCacheErr() error { return pageCacheErr }
