package sqlite

import (
	"fmt"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// cacheKiB is each connection's page cache (PRAGMA cache_size, in KiB).
const cacheKiB = 8000

// pageCacheErr is why the page cache could not be set up front; nil when
// it was. SQLite takes this process-wide setting only before its first
// connection, so it is made while the package initialises.
var pageCacheErr = bulkPageCache()

// bulkPageCache makes every connection take its whole page cache in one
// allocation (SQLITE_CONFIG_PAGECACHE without a buffer of its own and a
// negative count, in KiB) and keep it. By default SQLite allocates each
// cache page on its own and frees them all when a commit elsewhere makes
// the connection reset its cache, which in WAL mode is every commit; the
// driver's allocator then handed the pages to the kernel (madvise) and
// faulted them back in on the next read, on every reader, at every
// commit (docs/perf.md, change 19).
func bulkPageCache() error {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.NewVaList(uintptr(0), int32(0), int32(-cacheKiB))
	defer libc.Xfree(tls, va)
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PAGECACHE, va); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: configuring the page cache: result code %d", rc)
	}
	return nil
}
