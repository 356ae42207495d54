package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
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

	SessionIdle      time.Duration // --session-idle, KEEP_SESSION_IDLE
	SessionLifetime  time.Duration // --session-lifetime, KEEP_SESSION_LIFETIME
	LoginMaxFailures int           // --login-max-failures, KEEP_LOGIN_MAX_FAILURES
	RateLimits       string        // --rate-limits, KEEP_RATE_LIMITS: on or off (per-IP limits only)
	HashPriority     string        // --hash-priority, KEEP_HASH_PRIORITY: normal or idle

	MailMode     string // --mail, KEEP_MAIL: file (development default) or smtp
	MailFrom     string // --mail-from, KEEP_MAIL_FROM
	SMTPHost     string // --smtp-host, KEEP_SMTP_HOST
	SMTPPort     int    // --smtp-port, KEEP_SMTP_PORT
	SMTPUsername string // --smtp-username, KEEP_SMTP_USERNAME
	SMTPPassword Secret // KEEP_SMTP_PASSWORD only: never a flag, so it is not in argv
	SMTPTLS      string // --smtp-tls, KEEP_SMTP_TLS: starttls, tls or none

	// The root key of the keyring: KEEP_MASTER_KEY (base64 of 32 bytes, env
	// only so it is not in argv) or a file holding it; with neither, a key
	// is generated into the data directory (development only, with a warning).
	MasterKey     Secret // KEEP_MASTER_KEY only
	MasterKeyFile string // --master-key-file, KEEP_MASTER_KEY_FILE

	TLSCert      string   // --tls-cert, KEEP_TLS_CERT: PEM certificate chain
	TLSKey       string   // --tls-key, KEEP_TLS_KEY: PEM private key
	DevTLS       bool     // --dev-tls, KEEP_DEV_TLS: self-signed certificate for local use
	HTTPRedirect string   // --http-redirect, KEEP_HTTP_REDIRECT: plain-HTTP listener redirecting to HTTPS
	CORSOrigins  []string // --cors-origins, KEEP_CORS_ORIGINS: comma-separated allowed origins; none by default

	AuditCheckpointFile     string        // --audit-checkpoint-file, KEEP_AUDIT_CHECKPOINT_FILE: second sink (JSON lines)
	AuditCheckpointInterval time.Duration // --audit-checkpoint-interval, KEEP_AUDIT_CHECKPOINT_INTERVAL
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

// Format redacts the value for every fmt verb, %#v included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalJSON redacts the value in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

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

		SessionIdle:      7 * 24 * time.Hour,
		SessionLifetime:  30 * 24 * time.Hour,
		LoginMaxFailures: 10,
		RateLimits:       "on",
		HashPriority:     "normal",
		MailMode:         "file",
		MailFrom:         "keep@localhost",
		SMTPPort:         587,
		SMTPTLS:          "starttls",

		AuditCheckpointInterval: 10 * time.Minute,
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
	fs.StringVar(&c.MasterKeyFile, "master-key-file", c.MasterKeyFile, "file holding the keyring's root key, base64 of 32 bytes; or set KEEP_MASTER_KEY (env KEEP_MASTER_KEY_FILE)")
	fs.StringVar(&c.AuditCheckpointFile, "audit-checkpoint-file", c.AuditCheckpointFile, "append every signed audit checkpoint to this file as well as the database; default <data>/audit-checkpoints.jsonl — best on another disk or host (env KEEP_AUDIT_CHECKPOINT_FILE)")
	fs.StringVar(&c.Synchronous, "sqlite-synchronous", c.Synchronous, "SQLite synchronous mode: FULL (survives power loss) or NORMAL (survives a crash) (env KEEP_SQLITE_SYNCHRONOUS)")
}

// ServeFlags registers the flags only `keep serve` has.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address (env KEEP_HTTP)")
	fs.StringVar(&c.MetricsAddr, "metrics-http", c.MetricsAddr, "separate unauthenticated metrics listener, e.g. 127.0.0.1:9090 (env KEEP_METRICS_HTTP)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", c.TokenTTL, "access token lifetime (env KEEP_TOKEN_TTL)")
	fs.Int64Var(&c.BodyLimit, "body-limit", c.BodyLimit, "request body limit in bytes (env KEEP_BODY_LIMIT)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base URL, used as token issuer and audience (env KEEP_PUBLIC_URL)")
	fs.DurationVar(&c.SessionIdle, "session-idle", c.SessionIdle, "a session ends after this long unused (env KEEP_SESSION_IDLE)")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", c.SessionLifetime, "a session ends this long after login whatever happens (env KEEP_SESSION_LIFETIME)")
	fs.IntVar(&c.LoginMaxFailures, "login-max-failures", c.LoginMaxFailures, "failed logins per email in 15 minutes before a temporary lock (env KEEP_LOGIN_MAX_FAILURES)")
	fs.StringVar(&c.RateLimits, "rate-limits", c.RateLimits, "per-IP rate limits on auth endpoints: on or off (env KEEP_RATE_LIMITS); the per-email lockout stays on")
	fs.StringVar(&c.HashPriority, "hash-priority", c.HashPriority, "CPU priority of password hashing: normal (in the server process, one hash at a time while data requests run) or idle (a worker process at Linux SCHED_IDLE: more read throughput beside a login flood, fewer logins while requests keep the cores busy) (env KEEP_HASH_PRIORITY)")
	fs.StringVar(&c.MailMode, "mail", c.MailMode, "mail delivery: file (one file per message in <data>/outbox) or smtp (env KEEP_MAIL)")
	fs.StringVar(&c.MailFrom, "mail-from", c.MailFrom, "sender address (env KEEP_MAIL_FROM)")
	fs.StringVar(&c.SMTPHost, "smtp-host", c.SMTPHost, "SMTP server host (env KEEP_SMTP_HOST)")
	fs.IntVar(&c.SMTPPort, "smtp-port", c.SMTPPort, "SMTP server port (env KEEP_SMTP_PORT)")
	fs.StringVar(&c.SMTPUsername, "smtp-username", c.SMTPUsername, "SMTP user; the password comes from KEEP_SMTP_PASSWORD only (env KEEP_SMTP_USERNAME)")
	fs.StringVar(&c.SMTPTLS, "smtp-tls", c.SMTPTLS, "starttls, tls or none (env KEEP_SMTP_TLS)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "serve HTTPS with this PEM certificate chain; needs --tls-key (env KEEP_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key of --tls-cert (env KEEP_TLS_KEY)")
	fs.BoolVar(&c.DevTLS, "dev-tls", c.DevTLS, "serve HTTPS on --http with a self-signed certificate made at start, for local use (env KEEP_DEV_TLS)")
	fs.StringVar(&c.HTTPRedirect, "http-redirect", c.HTTPRedirect, "also listen on this address with plain HTTP and redirect every request to HTTPS (env KEEP_HTTP_REDIRECT)")
	fs.Func("cors-origins", "comma-separated origins allowed to call the API from a browser, e.g. https://app.example.com; none by default (env KEEP_CORS_ORIGINS)", func(s string) error {
		c.CORSOrigins = splitList(s)
		return nil
	})
	fs.DurationVar(&c.AuditCheckpointInterval, "audit-checkpoint-interval", c.AuditCheckpointInterval, "write a signed audit checkpoint this often (env KEEP_AUDIT_CHECKPOINT_INTERVAL)")
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// FromEnv overlays KEEP_* variables read through getenv on c.
func (c *Config) FromEnv(getenv func(string) string) error {
	var errs []error
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	secret := func(key string, dst *Secret) {
		if v := getenv(key); v != "" {
			*dst = Secret(v)
		}
	}
	str("KEEP_HTTP", &c.HTTPAddr)
	str("KEEP_DATA", &c.DataDir)
	secret("KEEP_DB", &c.DBURL)
	str("KEEP_METRICS_HTTP", &c.MetricsAddr)
	str("KEEP_LOG_LEVEL", &c.LogLevel)
	str("KEEP_SQLITE_SYNCHRONOUS", &c.Synchronous)
	str("KEEP_PUBLIC_URL", &c.PublicURL)
	str("KEEP_RATE_LIMITS", &c.RateLimits)
	str("KEEP_HASH_PRIORITY", &c.HashPriority)
	str("KEEP_MAIL", &c.MailMode)
	str("KEEP_MAIL_FROM", &c.MailFrom)
	str("KEEP_SMTP_HOST", &c.SMTPHost)
	str("KEEP_SMTP_USERNAME", &c.SMTPUsername)
	str("KEEP_SMTP_TLS", &c.SMTPTLS)
	secret("KEEP_SMTP_PASSWORD", &c.SMTPPassword)
	secret("KEEP_MASTER_KEY", &c.MasterKey)
	str("KEEP_MASTER_KEY_FILE", &c.MasterKeyFile)
	str("KEEP_TLS_CERT", &c.TLSCert)
	str("KEEP_TLS_KEY", &c.TLSKey)
	str("KEEP_HTTP_REDIRECT", &c.HTTPRedirect)
	str("KEEP_AUDIT_CHECKPOINT_FILE", &c.AuditCheckpointFile)
	if v := getenv("KEEP_CORS_ORIGINS"); v != "" {
		c.CORSOrigins = splitList(v)
	}
	if v := getenv("KEEP_DEV_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, errors.New("KEEP_DEV_TLS: not a boolean"))
		}
		c.DevTLS = b
	}
	for _, kv := range []struct {
		key string
		dst *time.Duration
	}{{"KEEP_SESSION_IDLE", &c.SessionIdle}, {"KEEP_SESSION_LIFETIME", &c.SessionLifetime}, {"KEEP_AUDIT_CHECKPOINT_INTERVAL", &c.AuditCheckpointInterval}} {
		if v := getenv(kv.key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", kv.key, err))
			}
			*kv.dst = d
		}
	}
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
		{"KEEP_LOGIN_MAX_FAILURES", func(n int64) { c.LoginMaxFailures = int(n) }},
		{"KEEP_SMTP_PORT", func(n int64) { c.SMTPPort = int(n) }},
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

// TLS reports whether the main listener serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" || c.DevTLS }

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
	if c.SessionIdle < time.Minute || c.SessionLifetime < c.SessionIdle || c.SessionLifetime > 365*24*time.Hour {
		errs = append(errs, errors.New("--session-idle must be at least 1m and --session-lifetime between it and 365 days"))
	}
	if c.SessionIdle <= c.TokenTTL {
		// last_used moves only on refresh, so a session in steady use would
		// time out between two refreshes.
		errs = append(errs, errors.New("--session-idle must be longer than --token-ttl"))
	}
	if c.LoginMaxFailures < 1 || c.LoginMaxFailures > 1000 {
		errs = append(errs, errors.New("--login-max-failures must be between 1 and 1000"))
	}
	if c.RateLimits != "on" && c.RateLimits != "off" {
		errs = append(errs, errors.New("--rate-limits must be on or off"))
	}
	if c.HashPriority != "idle" && c.HashPriority != "normal" {
		errs = append(errs, errors.New("--hash-priority must be idle or normal"))
	}
	switch c.MailMode {
	case "file":
	case "smtp":
		if c.SMTPHost == "" {
			errs = append(errs, errors.New("--mail smtp needs --smtp-host"))
		}
	default:
		errs = append(errs, errors.New("--mail must be file or smtp"))
	}
	if c.SMTPTLS != "starttls" && c.SMTPTLS != "tls" && c.SMTPTLS != "none" {
		errs = append(errs, errors.New("--smtp-tls must be starttls, tls or none"))
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		errs = append(errs, errors.New("--smtp-port must be a port number"))
	}
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		errs = append(errs, errors.New("set KEEP_MASTER_KEY or --master-key-file, not both"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.DevTLS && c.TLSCert != "" {
		errs = append(errs, errors.New("--dev-tls and --tls-cert exclude each other"))
	}
	if c.HTTPRedirect != "" {
		if !c.TLS() {
			errs = append(errs, errors.New("--http-redirect needs TLS (--tls-cert or --dev-tls)"))
		} else if _, port, err := net.SplitHostPort(c.HTTPRedirect); err != nil {
			errs = append(errs, fmt.Errorf("--http-redirect: %q is not host:port", c.HTTPRedirect))
		} else if c.HTTPRedirect == c.HTTPAddr && port != "0" {
			errs = append(errs, errors.New("--http-redirect and --http must differ"))
		}
	}
	for _, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("--cors-origins: %q %w", o, err))
		}
	}
	if c.AuditCheckpointInterval < time.Second || c.AuditCheckpointInterval > 24*time.Hour {
		errs = append(errs, errors.New("--audit-checkpoint-interval must be between 1s and 24h"))
	}
	return errors.Join(errs...)
}

// checkOrigin accepts an origin as a browser sends it in the Origin header:
// http or https, a host, an optional port, nothing else. Wildcards and
// "null" are refused: an allowed origin is always one exact site.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	switch {
	case o == "*" || strings.Contains(o, "*"):
		return errors.New("is a wildcard: list each origin exactly")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
		return errors.New("is not an origin such as https://app.example.com")
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return errors.New("must be scheme://host[:port] with no path (and no trailing slash)")
	}
	return nil
}
