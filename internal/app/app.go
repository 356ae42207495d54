package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/api"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/hashworker"
	"github.com/keep-dev/keep/internal/mail"
	"github.com/keep-dev/keep/internal/metrics"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/server"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/postgres"
	"github.com/keep-dev/keep/internal/store/sqlite"
)

// NewLogger is the JSON logger every command uses.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.Level()}))
}

// OpenStore opens the engine the configuration selects and applies pending
// migrations.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.DB, error) {
	if cfg.Postgres() {
		db, err := postgres.Open(ctx, string(cfg.DBURL), postgres.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, cfg.SQLitePath(), sqlite.Options{Synchronous: cfg.Synchronous, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}

// Keep is a built application. Build it with New, run it with Serve, and
// Close it when done.
type Keep struct {
	cfg      config.Config
	log      *slog.Logger
	db       store.DB
	Records  *records.Service
	Accounts *accounts.Service
	Audit    *audit.Log
	metrics  *metrics.Metrics
	outbox   *mail.Outbox
	keys     *auth.KeySet
	box      *secretbox.Box   // the data directory's secret key: TOTP seeds, signing keys, audit keys
	hashes   *hashworker.Pool // nil when passwords are hashed in this process
	Handler  http.Handler
}

// New opens the store and builds every service. withTokens loads (or makes)
// the signing keys; commands that only manage users pass false.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, withTokens bool) (*Keep, error) {
	db, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	k, err := NewWithStore(ctx, cfg, log, db, withTokens)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return k, nil
}

// NewWithStore builds the services on an open store; tests use it to run the
// whole application on each engine. Close closes db.
func NewWithStore(ctx context.Context, cfg config.Config, log *slog.Logger, db store.DB, withTokens bool) (*Keep, error) {
	k := &Keep{cfg: cfg, log: log, db: db}
	if err := k.build(ctx, withTokens); err != nil {
		if k.hashes != nil {
			_ = k.hashes.Close() // the worker started first
		}
		return nil, err
	}
	return k, nil
}

// cores is GOMAXPROCS as it was before hashSlots added Ps: one hash slot
// per core.
var cores = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

// hashSlots returns how many password hashes may run at once in this
// process (--hash-priority normal): GOMAXPROCS as it was at the first call,
// one hash per core. That first call also adds as many Ps. Argon2id keeps a
// P busy for the whole hash (tens of ms), so with one P per core a login
// flood occupies every P and requests wait for the Go scheduler (get by id
// fell to a quarter beside a flood); with Ps of their own for the hashes,
// requests are always scheduled and the kernel shares the cores. It runs
// once because GOMAXPROCS is per process and tests build many Keeps in one;
// setting it stops the runtime from following a changed CPU limit. An
// operator's own GOMAXPROCS is kept as it is (the hashes then share it).
var hashSlots = sync.OnceValue(func() int {
	cores()
	return addHashProcs(os.Getenv("GOMAXPROCS") != "")
})

// addHashProcs doubles GOMAXPROCS unless it was set explicitly, and returns
// the number of hash slots: GOMAXPROCS as it was.
func addHashProcs(explicit bool) int {
	n := runtime.GOMAXPROCS(0)
	if !explicit {
		runtime.GOMAXPROCS(2 * n)
	}
	return n
}

// newHasher returns the password hasher: Argon2id at m=19 MiB, at most one
// hash per core in flight, which bounds the memory a login flood can take to
// cores × 19 MiB. With --hash-priority idle the hashes run in a worker
// process at idle CPU priority (internal/hashworker), on CPU time requests
// leave; where no worker can run (another OS, or a binary that did not
// call hashworker.Main, such as a test) they run in this process, as with
// normal, where they yield the other cores to data requests instead. (When a
// worker dies, hashes run here until it is back, without the extra Ps: one
// at a time while requests run, so those keep the other P.)
func (k *Keep) newHasher(dataInFlight *atomic.Int64) *auth.Hasher {
	if k.cfg.HashPriority == "idle" {
		pool, err := hashworker.Start(cores(), k.log.With("component", "hashworker"))
		if err == nil {
			k.hashes = pool
			h := auth.NewHasher(auth.DefaultParams(), cores())
			h.SetKeyFunc(pool.Key)
			// Still one hash at a time while requests run: a core that
			// hashes at idle priority yields at once, but its caches (and,
			// on a hyperthread or a VM, its execution units) are shared.
			h.SetBusy(func() bool { return dataInFlight.Load() > 0 })
			// But no rest after each hash: at idle priority it already
			// runs only on a core no request wants, and a rest halved the
			// logins beside reads without helping the reads. (While the
			// worker is down and Pool.Key hashes here instead, those
			// hashes go without the rest too.)
			h.SetRest(false)
			return h
		}
		if !errors.Is(err, hashworker.ErrUnavailable) {
			k.log.Warn("password hash worker did not start; hashing in the server process", "err", err)
		}
	}
	h := auth.NewHasher(auth.DefaultParams(), hashSlots())
	h.SetBusy(func() bool { return dataInFlight.Load() > 0 })
	return h
}

func (k *Keep) build(ctx context.Context, withTokens bool) error {
	dataInFlight := new(atomic.Int64)
	hasher := k.newHasher(dataInFlight)
	ring, err := k.openKeyring(ctx) // keyring.go
	if err != nil {
		return err
	}
	box, err := secretbox.Open(k.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	k.box = box
	if k.Audit, err = openAudit(ctx, k.cfg, k.db, k.log); err != nil {
		return err
	}
	rec, err := records.New(ctx, k.db, records.Options{
		Hasher:  accounts.Policy{Hasher: hasher, MinLength: k.cfg.MinPassword},
		Limits:  access.Limits{},
		Logger:  k.log.With("component", "records"),
		Keyring: ring,
		Audit:   k.Audit,
	})
	if err != nil {
		return err
	}
	k.Records = rec
	var (
		tokens *auth.Tokens
		keys   *auth.KeySet
	)
	if withTokens {
		if keys, err = auth.LoadKeySet(ctx, k.db, box); err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
		if tokens, err = auth.NewTokens(keys, auth.TokenConfig{Issuer: k.cfg.Issuer(), Audience: k.cfg.Issuer(), TTL: k.cfg.TokenTTL}); err != nil {
			return err
		}
	}
	outbox, err := mail.New(k.db, mail.Config{
		Mode: k.cfg.MailMode, Dir: filepath.Join(k.cfg.DataDir, "outbox"), From: k.cfg.MailFrom,
		Host: k.cfg.SMTPHost, Port: k.cfg.SMTPPort, Username: k.cfg.SMTPUsername,
		Password: string(k.cfg.SMTPPassword), TLS: k.cfg.SMTPTLS,
	}, k.log.With("component", "mail"))
	if err != nil {
		return err
	}
	k.outbox = outbox
	k.Accounts = accounts.New(accounts.Deps{
		DB: k.db, Records: rec, Hasher: hasher, Tokens: tokens, Mailer: outbox, Box: box, Audit: k.Audit,
		Config: accounts.Config{
			SessionIdle: k.cfg.SessionIdle, SessionLifetime: k.cfg.SessionLifetime,
			LoginMaxFailures: k.cfg.LoginMaxFailures, PublicURL: k.cfg.PublicURL,
			MinPassword: k.cfg.MinPassword,
		},
		Logger: k.log.With("component", "accounts"),
	})
	k.keys = keys
	rec.OnUserUpdate(k.Accounts.UserUpdated)
	k.metrics = metrics.New(k.db.Stats)
	jwks := func() ([]byte, error) { return []byte(`{"keys":[]}`), nil }
	if keys != nil {
		jwks = keys.JWKS
	}
	k.Handler = api.New(api.Deps{
		Records:          rec,
		Accounts:         k.Accounts,
		Roles:            roles.New(k.db, k.Audit),
		Audit:            k.Audit,
		Metrics:          k.metrics,
		JWKS:             jwks,
		Ready:            k.db.Ping,
		RotateSigningKey: k.rotateSigningKey,
		Keys:             keyAdmin{k},
		Limiter:          k.limiter(),
		Logger:           k.log.With("component", "http"),
		BodyLimit:        k.cfg.BodyLimit,
		CORSOrigins:      k.cfg.CORSOrigins,
		DataInFlight:     dataInFlight,
	})
	return nil
}

// Serve runs the listeners until ctx is cancelled, then drains them.
func (k *Keep) Serve(ctx context.Context, ready func([]net.Addr)) error {
	startGCPacer() // gcpace.go
	ls := []server.Listener{{Name: "http", Addr: k.cfg.HTTPAddr, Handler: k.Handler}}
	ls, err := k.withTLS(ls) // tls.go
	if err != nil {
		return err
	}
	if k.cfg.MetricsAddr != "" {
		ls = append(ls, server.Listener{Name: "metrics", Addr: k.cfg.MetricsAddr, Handler: k.metrics.Handler()})
	}
	// The outbox delivers mail for as long as the server runs.
	var wg sync.WaitGroup
	defer wg.Wait() // runs after stop below: background work ends before Close
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	// Keys rotated by another process (the CLI, another replica) are picked
	// up within signingKeyRefresh (≤ 60 s).
	wg.Go(func() { k.watchSigningKeys(mctx, signingKeyRefresh) })
	wg.Go(func() { k.Accounts.RunPurge(mctx, time.Hour) })
	// Committed audit entries are chained within audit.SealInterval.
	wg.Go(func() { k.Audit.Run(mctx, k.cfg.AuditCheckpointInterval) })
	wg.Go(func() { k.runKeyJobs(mctx) }) // re-encryption after a data-key rotation (keyring.go)
	wg.Go(func() {
		if err := k.outbox.Run(mctx); err != nil {
			k.log.Error("mail outbox stopped", "err", err)
		}
	})
	return server.Run(ctx, k.log, ready, ls...)
}

// Close waits for mail still being sent, stops the password hash worker and
// closes the store.
func (k *Keep) Close() error {
	if k.Accounts != nil {
		k.Accounts.Wait() // email requests still finishing after their response
	}
	if k.hashes != nil {
		_ = k.hashes.Close()
	}
	return k.db.Close()
}

// Describe turns a service error into a message for a terminal: validation
// problems are listed, other errors keep their text.
func Describe(err error) error {
	var ve *records.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("invalid input: %s", strings.TrimPrefix(ve.Error(), "validation failed: "))
	}
	return err
}
