package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the configuration of every subcommand that touches data.
type Config struct {
	HTTPAddr    string        // --http, KEEP_HTTP
	DataDir     string        // --data, KEEP_DATA
	DBURL       Secret        // --db, KEEP_DB: empty for SQLite in DataDir, or postgres://…
	MetricsAddr string        // --metrics-http, KEEP_METRICS_HTTP: unauthenticated scrape listener
	LogLevel    string        // --log-level, KEEP_LOG_LEVEL: debug, info, warn, error
	TokenTTL    time.Duration // --token-ttl, KEEP_TOKEN_TTL
	BodyLimit   int64         // --body-limit, KEEP_BODY_LIMIT (bytes)
	MinPassword int           // --password-min, KEEP_PASSWORD_MIN
	Synchronous string        // --sqlite-synchronous, KEEP_SQLITE_SYNCHRONOUS: FULL or NORMAL
	PublicURL   string        // --public-url, KEEP_PUBLIC_URL: token issuer and audience
}

// Secret is a string that never prints: connection URLs carry passwords.
type Secret string

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// LogValue redacts the value in slog lines.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Default returns the defaults.
func Default() Config {
	return Config{
		HTTPAddr:    "127.0.0.1:8080",
		DataDir:     "./keep_data",
		LogLevel:    "info",
		TokenTTL:    15 * time.Minute,
		BodyLimit:   1 << 20,
		MinPassword: 8,
		Synchronous: "FULL",
	}
}

// Flags registers the data flags (--data, --db, …) on fs with defaults taken
// from cfg, which should already hold environment values. serve adds the
// listener flags with ServeFlags.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (env KEEP_DATA)")
	fs.Func("db", "database URL: empty for SQLite in the data directory, or postgres://… (env KEEP_DB)", func(s string) error {
		c.DBURL = Secret(s)
		return nil
	})
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env KEEP_LOG_LEVEL)")
	fs.IntVar(&c.MinPassword, "password-min", c.MinPassword, "minimum password length, 8 to 64 (env KEEP_PASSWORD_MIN)")
	fs.StringVar(&c.Synchronous, "sqlite-synchronous", c.Synchronous, "SQLite synchronous mode: FULL (survives power loss) or NORMAL (survives a crash) (env KEEP_SQLITE_SYNCHRONOUS)")
}

// ServeFlags registers the flags only `keep serve` has.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address (env KEEP_HTTP)")
	fs.StringVar(&c.MetricsAddr, "metrics-http", c.MetricsAddr, "separate unauthenticated metrics listener, e.g. 127.0.0.1:9090 (env KEEP_METRICS_HTTP)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", c.TokenTTL, "access token lifetime (env KEEP_TOKEN_TTL)")
	fs.Int64Var(&c.BodyLimit, "body-limit", c.BodyLimit, "request body limit in bytes (env KEEP_BODY_LIMIT)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base URL, used as token issuer and audience (env KEEP_PUBLIC_URL)")
}

// FromEnv overlays KEEP_* variables read through getenv on c.
func (c *Config) FromEnv(getenv func(string) string) error {
	var errs []error
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str("KEEP_HTTP", &c.HTTPAddr)
	str("KEEP_DATA", &c.DataDir)
	if v := getenv("KEEP_DB"); v != "" {
		c.DBURL = Secret(v)
	}
	str("KEEP_METRICS_HTTP", &c.MetricsAddr)
	str("KEEP_LOG_LEVEL", &c.LogLevel)
	str("KEEP_SQLITE_SYNCHRONOUS", &c.Synchronous)
	str("KEEP_PUBLIC_URL", &c.PublicURL)
	if v := getenv("KEEP_TOKEN_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("KEEP_TOKEN_TTL: %w", err))
		}
		c.TokenTTL = d
	}
	for _, kv := range []struct {
		key string
		set func(int64)
	}{
		{"KEEP_BODY_LIMIT", func(n int64) { c.BodyLimit = n }},
		{"KEEP_PASSWORD_MIN", func(n int64) { c.MinPassword = int(n) }},
	} {
		if v := getenv(kv.key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: not an integer", kv.key))
			}
			kv.set(n)
		}
	}
	return errors.Join(errs...)
}

// Load builds the configuration of a subcommand: defaults, then the
// environment, then flags parsed from args, then Validate. serve says
// whether the serve flags exist; extra registers a subcommand's own flags.
// Flag errors and usage go to out.
func Load(name string, args []string, getenv func(string) string, serve bool, extra func(*flag.FlagSet), out io.Writer) (Config, error) {
	c := Default()
	if err := c.FromEnv(getenv); err != nil {
		return c, err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c.Flags(fs)
	if serve {
		c.ServeFlags(fs)
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return c, c.Validate()
}

// Postgres reports whether the configuration selects PostgreSQL.
func (c Config) Postgres() bool {
	u := string(c.DBURL)
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SQLitePath is the database file used when no PostgreSQL URL is set.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "keep.db") }

// Issuer is the token issuer (and audience).
func (c Config) Issuer() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "keep"
}

// Level is the slog level of LogLevel.
func (c Config) Level() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if c.DBURL != "" && !c.Postgres() {
		errs = append(errs, errors.New("--db must be empty (SQLite) or a postgres:// URL"))
	}
	for _, a := range []struct{ name, addr string }{{"--http", c.HTTPAddr}, {"--metrics-http", c.MetricsAddr}} {
		if a.addr == "" && a.name == "--metrics-http" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", a.name, a.addr))
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %q is not debug, info, warn or error", c.LogLevel))
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		errs = append(errs, errors.New("--token-ttl must be between 1m and 24h"))
	}
	if c.BodyLimit < 1<<10 || c.BodyLimit > 64<<20 {
		errs = append(errs, errors.New("--body-limit must be between 1 KiB and 64 MiB"))
	}
	if c.MinPassword < 8 || c.MinPassword > 64 {
		errs = append(errs, errors.New("--password-min must be between 8 and 64"))
	}
	if s := strings.ToUpper(c.Synchronous); s != "FULL" && s != "NORMAL" {
		errs = append(errs, errors.New("--sqlite-synchronous must be FULL or NORMAL"))
	}
	return errors.Join(errs...)
}
