package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/argon2id"
)

// ErrMalformedHash is returned by [Hasher.Verify] when the stored hash is not
// a PHC string this package accepts. It signals corrupt or foreign data, not a
// wrong password; the message never includes the hash.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// Limits on parameters, both for a Hasher's own Params and for parsed hashes.
// A stored hash dictates how much work Verify does, so absurd values in the
// database must not turn a login into a memory or CPU bomb.
const (
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxIterations = 100
	minSaltLen    = 8 // the Argon2 RFC 9106 minimum
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	// maxEncodedLen bounds the PHC string before any parsing. The longest
	// valid string (10-digit numbers, 64-byte salt and key) is well under it.
	maxEncodedLen = 256
)

// Params are Argon2id cost parameters. Memory is in KiB.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32 // bytes
	KeyLen      uint32 // bytes
}

// DefaultParams returns the OWASP ASVS 5.0 minimum for Argon2id
// (m=19456 KiB, t=2, p=1) with a 16-byte salt and a 32-byte key. Raise them
// where hardware allows; never lower them in production.
func DefaultParams() Params {
	return Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p is within the bounds this package accepts. It
// does not enforce the OWASP minimum, so tests can use cheap parameters;
// configuration should start from [DefaultParams] and only go up.
func (p Params) Validate() error {
	switch {
	case p.Parallelism == 0:
		return errors.New("auth: argon2 parallelism must be at least 1")
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemoryKiB:
		// Argon2 needs at least 8 KiB per lane.
		return fmt.Errorf("auth: argon2 memory must be between %d and %d KiB", 8*uint32(p.Parallelism), maxMemoryKiB)
	case p.Iterations == 0 || p.Iterations > maxIterations:
		return fmt.Errorf("auth: argon2 iterations must be between 1 and %d", maxIterations)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("auth: argon2 salt length must be between %d and %d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("auth: argon2 key length must be between %d and %d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// weakerThan reports whether hashes made with p are cheaper to attack than
// hashes made with q. Parallelism is left out: with equal memory and passes
// it changes the layout, not the attacker's total work.
func (p Params) weakerThan(q Params) bool {
	return p.Memory < q.Memory || p.Iterations < q.Iterations ||
		p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}

// Hasher hashes and verifies passwords with Argon2id. Each hash holds
// Params.Memory KiB for its duration (about 19 MiB at the defaults), so a
// semaphore bounds how many run at once: a login flood queues instead of
// exhausting memory.
//
// Each slot's Argon2 memory is kept between hashes (internal/argon2id),
// so a flood neither allocates 19 MiB per login nor faults it in again, and
// given back after memoryIdle without a login.
//
// A hash computed in this process also holds a P (a Go scheduler slot)
// throughout, so a server should have more Ps than slots or a flood leaves
// none for requests (internal/app adds one P per slot). A worker process
// of lower kernel priority can compute them instead: see
// [Hasher.SetKeyFunc] and internal/hashworker.
//
// While [Hasher.SetBusy]'s function reports other work in flight, hashes
// run one at a time and each is followed by a rest as long as itself
// ([Hasher.SetRest]), so a login flood takes at most half of one core from
// that work; when nothing else waits, every slot is used back to back and
// logins keep their full throughput.
//
// A Hasher is safe for concurrent use. The zero value is not usable; create
// one with [NewHasher].
type Hasher struct {
	params Params
	// first is the slot a hash may always take; extra the others, taken
	// only while busy reports no other work.
	first, extra chan struct{}
	busy         atomic.Pointer[func() bool]
	noRest       atomic.Bool
	keyFunc      atomic.Pointer[KeyFunc]
	memory       *argon2id.Pool
}

// memoryIdle is how long a Hasher keeps its Argon2 memory after the last
// hash: through a burst of logins, not beside the reads that follow it.
// Mapping it again is cheap (huge pages: about 5 ms for 19 MiB on the
// bench machine, against 55 ms to fault the Go heap's pages back in).
const memoryIdle = 2 * time.Second

// KeyFunc computes an Argon2id key with p's memory, iterations,
// parallelism and key length. internal/hashworker provides one that runs in
// a process of idle CPU priority.
type KeyFunc func(password, salt []byte, p Params) []byte

// SetKeyFunc makes the Hasher compute its keys with f instead of in this
// process. The slots still bound how many run at once.
func (h *Hasher) SetKeyFunc(f KeyFunc) { h.keyFunc.Store(&f) }

// key computes the Argon2id key of password and salt under p.
func (h *Hasher) key(password, salt []byte, p Params) []byte {
	if f := h.keyFunc.Load(); f != nil {
		return (*f)(password, salt, p)
	}
	return h.memory.Key(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}

// NewHasher returns a Hasher that hashes with p and runs at most
// maxConcurrent hashes at a time (runtime.GOMAXPROCS(0) when maxConcurrent
// <= 0: Argon2 is CPU-bound, so more would only add memory, not throughput).
//
// NewHasher panics if p fails [Params.Validate]; parameters from
// configuration should be validated when the configuration is loaded.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Hasher{
		params: p,
		first:  make(chan struct{}, 1), extra: make(chan struct{}, maxConcurrent-1),
		memory: &argon2id.Pool{Idle: memoryIdle},
	}
}

// SetBusy gives the Hasher a report of other work in flight (the HTTP
// layer's count of data requests); while it returns true, only one hash
// runs at a time.
func (h *Hasher) SetBusy(busy func() bool) { h.busy.Store(&busy) }

// SetRest sets whether, while the function of [Hasher.SetBusy] reports
// other work, a slot rests after each hash for as long as the hash took (the
// default). A key function at idle CPU priority already leaves the cores to
// that work whenever it wants them; resting as well only halves the logins
// let through (docs/perf.md, change 20).
func (h *Hasher) SetRest(on bool) { h.noRest.Store(!on) }

func (h *Hasher) isBusy() bool {
	b := h.busy.Load()
	return b != nil && (*b)()
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a slot and returns its release, or fails with ctx's error.
// A context that is already done always fails, even when a slot is free,
// so that callers see a deterministic result.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.first <- struct{}{}:
		return h.releaseFirst, nil
	default:
	}
	if h.isBusy() {
		// Others wait for the cores: queue for the one slot. (If the
		// work ends meanwhile, the next release, after its rest, lets
		// the queue widen.)
		select {
		case h.first <- struct{}{}:
			return h.releaseFirst, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case h.first <- struct{}{}:
		return h.releaseFirst, nil
	case h.extra <- struct{}{}:
		return h.releaseExtra, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// compute takes a slot, computes the key of password and salt under p and
// gives the slot back. While other work is in flight the slot rests after
// the hash for as long as the hash took, so that hashing then takes at most
// half of one core (of p.Parallelism cores for a stored hash with more
// lanes): beside a login flood on two cores, the one-slot rule alone left
// the reads' p99 at 1.75–2.3× idle, and this rest brought it to 1.4–1.6×
// (docs/perf.md, change 20). The caller gets its key without waiting for
// the rest.
func (h *Hasher) compute(ctx context.Context, password, salt []byte, p Params) ([]byte, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	resting := false
	defer func() {
		if !resting { // also when key panics: the slot must come back
			release()
		}
	}()
	start := time.Now()
	key := h.key(password, salt, p)
	if rest := time.Since(start); rest > 0 && !h.noRest.Load() && h.isBusy() {
		resting = true
		time.AfterFunc(rest, release)
	}
	return key, nil
}

func (h *Hasher) releaseFirst() { <-h.first }
func (h *Hasher) releaseExtra() { <-h.extra }

// Hash returns password hashed with a fresh random salt, as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// Hash does not check the password policy; call [ValidatePassword] first
// when the password is new. It returns ctx's error if ctx ends while waiting
// for a slot; a hash that has started runs to completion.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	key, err := h.compute(ctx, []byte(password), salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, comparing
// in constant time. needsRehash is true when the password matched and encoded
// was made with weaker parameters than h's; the caller should then store a
// fresh [Hasher.Hash] of the password it just verified.
//
// A malformed encoded yields an error wrapping [ErrMalformedHash]; ending ctx
// while waiting for a slot yields ctx's error. The cost of Verify is set by
// the parameters inside encoded, which parsing bounds.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.compute(ctx, []byte(password), salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p.weakerThan(h.params), nil
}

// Equalize does the work of one failed verification at h's parameters and
// discards the result. Call it when a login names an account that does not
// exist, so that the response takes as long as a wrong password for a real
// account and does not reveal which accounts exist. It returns only ctx's
// error.
func (h *Hasher) Equalize(ctx context.Context) error {
	// A fixed salt is fine: the result is never stored or compared with
	// anything secret; only the cost matters.
	salt := make([]byte, h.params.SaltLen)
	want := make([]byte, h.params.KeyLen)
	got, err := h.compute(ctx, []byte("keep-equalize"), salt, h.params)
	if err != nil {
		return err
	}
	subtle.ConstantTimeCompare(got, want)
	return nil
}

// phcB64 is the PHC spec's encoding: standard alphabet, no padding. Strict
// rejects non-zero trailing bits, so every value has exactly one encoding.
var phcB64 = base64.RawStdEncoding.Strict()

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, p.Memory, p.Iterations, p.Parallelism,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
}

// parsePHC parses an Argon2id PHC string strictly: one algorithm, one
// version, the parameters m, t, p in that order as canonical decimals, and
// salt and hash in unpadded standard base64. Anything else, including
// parameters outside the bounds of [Params.Validate], is ErrMalformedHash.
// Accepting exactly one spelling of each hash means parse then encode is the
// identity, which the fuzz test checks.
func parsePHC(s string) (p Params, salt, key []byte, err error) {
	malformed := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(s) > maxEncodedLen {
		return malformed("too long")
	}
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return malformed("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return malformed("unsupported algorithm")
	}
	if parts[2] != "v="+strconv.Itoa(argon2id.Version) {
		return malformed("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return malformed("wrong parameters")
	}
	var vals [3]uint32
	for i, name := range [3]string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(kv[i], name)
		if !found {
			return malformed("wrong parameters")
		}
		v, ok := parseDecimal(digits)
		if !ok {
			return malformed("bad parameter value")
		}
		vals[i] = v
	}
	if vals[2] == 0 || vals[2] > 255 {
		return malformed("parameters out of range")
	}
	p = Params{Memory: vals[0], Iterations: vals[1], Parallelism: uint8(vals[2])}
	if salt, err = decodePHCBase64(parts[4]); err != nil {
		return malformed("bad salt encoding")
	}
	if key, err = decodePHCBase64(parts[5]); err != nil {
		return malformed("bad hash encoding")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if p.Validate() != nil {
		return malformed("parameters out of range")
	}
	return p, salt, key, nil
}

// parseDecimal accepts only canonical decimals: digits, no sign, no leading
// zero (PHC forbids them), fitting in 32 bits.
func parseDecimal(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}

// decodePHCBase64 decodes unpadded standard base64. The alphabet is checked
// first because the decoder silently skips CR and LF, which would give one
// hash several spellings.
func decodePHCBase64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("bad character")
		}
	}
	return phcB64.DecodeString(s)
}

// Password length limits in characters (Unicode code points).
const (
	// DefaultMinPasswordLen is used when ValidatePassword gets minLen <= 0.
	// It is the NIST SP 800-63B and ASVS 5.0 minimum.
	DefaultMinPasswordLen = 8
	// MaxPasswordLen is well above what any passphrase needs and keeps
	// request bodies and hashing input small. ASVS asks to allow at least 64.
	MaxPasswordLen = 256
)

// Password policy errors. ValidatePassword wraps them (and
// [ErrPasswordCommon]) in a *[PasswordError] whose message is safe to show to
// the client.
var (
	ErrPasswordTooShort = errors.New("password is too short")
	ErrPasswordTooLong  = errors.New("password is too long")
	ErrPasswordEncoding = errors.New("password is not valid UTF-8")
)

// PasswordError is a password refused by [ValidatePassword]. Its message is
// meant for the person choosing the password and never contains the password.
// Use errors.Is with ErrPasswordTooShort, ErrPasswordTooLong,
// ErrPasswordEncoding or ErrPasswordCommon to tell the reasons apart.
type PasswordError struct {
	Err error // one of the ErrPassword… sentinels
	Min int   // the minimum length that applied
	Max int   // the maximum length that applied
}

// Error returns the client-facing message, e.g. "password must be at least
// 8 characters".
func (e *PasswordError) Error() string {
	switch e.Err {
	case ErrPasswordTooShort:
		return fmt.Sprintf("password must be at least %d characters", e.Min)
	case ErrPasswordTooLong:
		return fmt.Sprintf("password must be at most %d characters", e.Max)
	case ErrPasswordEncoding:
		return "password contains invalid characters"
	case ErrPasswordCommon:
		return "this password is too common; choose another"
	}
	return "password is not acceptable"
}

// Unwrap returns the ErrPassword… sentinel, for errors.Is.
func (e *PasswordError) Unwrap() error { return e.Err }

// ValidatePassword checks a new password against Keep's policy: valid UTF-8,
// at least minLen characters (DefaultMinPasswordLen when minLen <= 0), at most
// MaxPasswordLen, and not on the bundled list of commonly breached passwords,
// compared ignoring case ([ErrPasswordCommon]; see foldPassword for why).
// Following NIST SP 800-63B and ASVS 5.0 it imposes no composition rules.
// Checks run in that order, so a short common password is reported as too
// short. Comparing with the account's own email is the caller's job, since
// only it knows the email.
//
// A minLen above MaxPasswordLen is treated as MaxPasswordLen so that some
// password is always acceptable; configuration should reject such values.
// The first call loads the list (about 2 ms); ValidatePassword is safe for
// concurrent use.
func ValidatePassword(pw string, minLen int) error {
	if minLen <= 0 {
		minLen = DefaultMinPasswordLen
	}
	minLen = min(minLen, MaxPasswordLen)
	if !utf8.ValidString(pw) {
		return &PasswordError{Err: ErrPasswordEncoding, Min: minLen, Max: MaxPasswordLen}
	}
	// Counting code points, not bytes, so that non-Latin passwords are not
	// held to a stricter limit.
	n := utf8.RuneCountInString(pw)
	if n < minLen {
		return &PasswordError{Err: ErrPasswordTooShort, Min: minLen, Max: MaxPasswordLen}
	}
	if n > MaxPasswordLen {
		return &PasswordError{Err: ErrPasswordTooLong, Min: minLen, Max: MaxPasswordLen}
	}
	if isCommonPassword(pw) {
		return &PasswordError{Err: ErrPasswordCommon, Min: minLen, Max: MaxPasswordLen}
	}
	return nil
}
