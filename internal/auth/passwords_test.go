package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// testParams are far below production strength so the suite stays fast;
// TestHashDefaultParams covers the real defaults once.
func testParams() Params {
	return Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams(), 0)
	for _, pw := range []string{"correct horse battery staple", "", "пароль-密码-🔑", strings.Repeat("x", 1024)} {
		encoded, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("Hash = %q, want the PHC argon2id prefix", encoded)
		}
		if strings.Contains(encoded, pw) && pw != "" {
			t.Fatal("hash contains the password")
		}
		ok, rehash, err := h.Verify(ctx, encoded, pw)
		if err != nil || !ok || rehash {
			t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, encoded, pw+"!")
		if err != nil || ok || rehash {
			t.Fatalf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	h := NewHasher(testParams(), 0)
	a, _ := h.Hash(context.Background(), "same")
	b, _ := h.Hash(context.Background(), "same")
	if a == b {
		t.Fatal("two hashes of one password are equal; salt is not random")
	}
}

func TestHashDefaultParams(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(DefaultParams(), 0)
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(encoded, prefix) {
		t.Fatalf("Hash = %q, want prefix %q", encoded, prefix)
	}
	// 16-byte salt and 32-byte key in unpadded base64: 22 and 43 characters.
	parts := strings.Split(strings.TrimPrefix(encoded, prefix), "$")
	if len(parts) != 2 || len(parts[0]) != 22 || len(parts[1]) != 43 {
		t.Fatalf("salt and hash parts = %q, want 22 and 43 characters", parts)
	}
	ok, rehash, err := h.Verify(ctx, encoded, "correct horse battery staple")
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v", ok, rehash, err)
	}
	if err := h.Equalize(ctx); err != nil {
		t.Fatalf("Equalize: %v", err)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(testParams(), 0)
	encoded, err := old.Hash(ctx, "hunter22")
	if err != nil {
		t.Fatal(err)
	}
	raise := []struct {
		name string
		edit func(*Params)
	}{
		{"memory", func(p *Params) { p.Memory *= 2 }},
		{"iterations", func(p *Params) { p.Iterations++ }},
		{"salt length", func(p *Params) { p.SaltLen = 32 }},
		{"key length", func(p *Params) { p.KeyLen = 64 }},
	}
	for _, tt := range raise {
		t.Run(tt.name, func(t *testing.T) {
			p := testParams()
			tt.edit(&p)
			ok, rehash, err := NewHasher(p, 0).Verify(ctx, encoded, "hunter22")
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			// A wrong password never asks for a rehash: there is nothing
			// to rehash it with.
			if ok, rehash, _ := NewHasher(p, 0).Verify(ctx, encoded, "wrong"); ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v", ok, rehash)
			}
		})
	}
	t.Run("lowered params keep the stronger hash", func(t *testing.T) {
		strong := testParams()
		strong.Memory, strong.Iterations = 128, 2
		enc, _ := NewHasher(strong, 0).Hash(ctx, "hunter22")
		ok, rehash, err := old.Verify(ctx, enc, "hunter22")
		if err != nil || !ok || rehash {
			t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
	})
}

// validEncoded returns a well-formed PHC string at testParams with salt
// "0123456789abcdef" and a key of 32 'k' bytes.
func validEncoded(t testing.TB) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	return encodePHC(testParams(), salt, []byte(strings.Repeat("k", 32)))
}

func TestParsePHCMalformed(t *testing.T) {
	good := validEncoded(t)
	if _, _, _, err := parsePHC(good); err != nil {
		t.Fatalf("parsePHC(good) = %v", err)
	}
	salt := "MDEyMzQ1Njc4OWFiY2RlZg"
	key := "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s" // 32 × 'k'
	if good != "$argon2id$v=19$m=64,t=1,p=1$"+salt+"$"+key {
		t.Fatalf("fixture drifted: %s", good)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no leading dollar", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"upper case algorithm", "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"version missing", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"version leading zero", "$argon2id$v=019$m=64,t=1,p=1$" + salt + "$" + key},
		{"memory zero", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{"memory below 8 per lane", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"iterations zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"iterations over 100", "$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key},
		{"parallelism zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"parallelism over 255", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"space in number", "$argon2id$v=19$m= 64,t=1,p=1$" + salt + "$" + key},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"param missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"extra keyid param", "$argon2id$v=19$m=64,t=1,p=1,keyid=abc$" + salt + "$" + key},
		{"empty params", "$argon2id$v=19$$" + salt + "$" + key},
		{"salt missing", "$argon2id$v=19$m=64,t=1,p=1$" + key},
		{"salt empty", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Ng$" + key},
		{"hash empty", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2tra2tra2tra2tra2tr"},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"padded hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "="},
		{"url alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Replace(key, "a", "-", 1)},
		{"newline in base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:4] + "\n" + salt[4:] + "$" + key},
		{"carriage return in base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:8] + "\r" + key[8:]},
		{"non-zero trailing bits", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:len(salt)-1] + "h$" + key},
		{"bad base64 length", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "AAA$" + key},
		{"extra field", good + "$x"},
		{"trailing dollar", good + "$"},
		{"too long", good + strings.Repeat("A", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := parsePHC(tt.in)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parsePHC(%q) error = %v, want ErrMalformedHash", tt.in, err)
			}
			ok, rehash, err := NewHasher(testParams(), 1).Verify(context.Background(), tt.in, "password")
			if ok || rehash || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatal("error message contains the hash")
			}
		})
	}
}

// TestHasherConcurrencyBound fills the semaphore by hand and checks that
// callers queue behind it, give up with their context's error, and proceed
// once a slot frees. synctest's fake clock makes the deadline instant.
func TestHasherConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(testParams(), 1)
		encoded, err := h.Hash(context.Background(), "pw")
		if err != nil {
			t.Fatal(err)
		}
		h.first <- struct{}{} // another hash is in flight

		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := h.Hash(cancelled, "pw"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash(cancelled) = %v, want context.Canceled", err)
		}
		if _, _, err := h.Verify(cancelled, encoded, "pw"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify(cancelled) = %v, want context.Canceled", err)
		}
		if err := h.Equalize(cancelled); !errors.Is(err, context.Canceled) {
			t.Fatalf("Equalize(cancelled) = %v, want context.Canceled", err)
		}

		// A live context waits, then times out.
		timeout, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		start := time.Now()
		if _, err := h.Hash(timeout, "pw"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Hash(timeout) = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("waited %v, want the full second", waited)
		}

		// A queued caller runs once the slot frees, and not before.
		done := make(chan error, 1)
		go func() {
			_, _, err := h.Verify(context.Background(), encoded, "pw")
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Verify finished while the only slot was taken: %v", err)
		default:
		}
		<-h.first
		if err := <-done; err != nil {
			t.Fatalf("queued Verify: %v", err)
		}
		if n := len(h.first) + len(h.extra); n != 0 {
			t.Fatalf("%d slots still held after all calls returned", n)
		}
	})
}

// TestHasherBusy: while other work is reported in flight, a hash waits for
// the one slot even though extra slots are free; with nothing else in
// flight it takes an extra slot at once.
func TestHasherBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(testParams(), 2)
		var busy atomic.Bool
		h.SetBusy(busy.Load)
		h.first <- struct{}{} // one hash in flight

		busy.Store(false)
		if _, err := h.Hash(context.Background(), "pw"); err != nil {
			t.Fatalf("Hash beside one other, nothing else busy: %v", err)
		}

		busy.Store(true)
		done := make(chan error, 1)
		go func() {
			_, err := h.Hash(context.Background(), "pw")
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Hash took a second slot while other work was in flight: %v", err)
		default:
		}
		<-h.first
		if err := <-done; err != nil {
			t.Fatalf("queued Hash: %v", err)
		}
		if n := len(h.first) + len(h.extra); n != 0 {
			t.Fatalf("%d slots still held after all calls returned", n)
		}
	})
}

// TestHasherRestsWhileBusy: while other work is in flight, the slot stays
// taken after a hash for as long as the hash took, without delaying the
// caller; with nothing else in flight it is given back at once.
func TestHasherRestsWhileBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const took = 10 * time.Millisecond
		h := NewHasher(testParams(), 2)
		h.SetKeyFunc(func(password, salt []byte, p Params) []byte {
			time.Sleep(took) // the fake clock's hash duration
			return make([]byte, p.KeyLen)
		})
		var busy atomic.Bool
		h.SetBusy(busy.Load)
		ctx := context.Background()

		if _, err := h.Hash(ctx, "pw"); err != nil {
			t.Fatal(err)
		}
		if n := len(h.first) + len(h.extra); n != 0 {
			t.Fatalf("%d slots held after a hash with nothing else in flight", n)
		}

		busy.Store(true)
		start := time.Now()
		if _, err := h.Hash(ctx, "pw"); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != took {
			t.Fatalf("Hash returned after %v, want %v: the caller must not wait for the rest", got, took)
		}
		if len(h.first) != 1 {
			t.Fatal("the slot was given back at once while other work was in flight")
		}
		// The next hash waits out the rest, then takes its own time.
		start = time.Now()
		if _, err := h.Hash(ctx, "pw"); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 2*took {
			t.Fatalf("the next Hash returned after %v, want %v (rest + hash)", got, 2*took)
		}
		time.Sleep(took)
		synctest.Wait()
		if n := len(h.first) + len(h.extra); n != 0 {
			t.Fatalf("%d slots still held after the rest", n)
		}

		// Verify and Equalize rest the same way.
		busy.Store(false)
		encoded, err := h.Hash(ctx, "pw")
		if err != nil {
			t.Fatal(err)
		}
		busy.Store(true)
		for name, op := range map[string]func() error{
			"Verify": func() error {
				ok, _, err := h.Verify(ctx, encoded, "pw")
				if err == nil && !ok {
					err = errors.New("no match")
				}
				return err
			},
			"Equalize": func() error { return h.Equalize(ctx) },
		} {
			start := time.Now()
			if err := op(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := time.Since(start); got != took || len(h.first) != 1 {
				t.Fatalf("%s returned after %v (want %v) with %d slots held (want the one, resting)", name, got, took, len(h.first))
			}
			time.Sleep(took)
			synctest.Wait()
			if n := len(h.first) + len(h.extra); n != 0 {
				t.Fatalf("%d slots still held after %s's rest", n, name)
			}
		}

		// Without the rest, the slot is given back at once while busy too.
		h.SetRest(false)
		if _, err := h.Hash(ctx, "pw"); err != nil {
			t.Fatal(err)
		}
		if n := len(h.first) + len(h.extra); n != 0 {
			t.Fatalf("%d slots held after a hash with SetRest(false)", n)
		}
	})
}

// TestHasherPanicFreesSlot: a key function that panics gives its slot
// back, so later logins do not queue behind a slot nobody holds.
func TestHasherPanicFreesSlot(t *testing.T) {
	h := NewHasher(testParams(), 1)
	h.SetKeyFunc(func(password, salt []byte, p Params) []byte { panic("key") })
	func() {
		defer func() { _ = recover() }()
		_, _ = h.Hash(context.Background(), "pw")
	}()
	if n := len(h.first) + len(h.extra); n != 0 {
		t.Fatalf("%d slots held after a panicking hash", n)
	}
}

func TestHasherConcurrentUse(t *testing.T) {
	h := NewHasher(testParams(), 2)
	ctx := context.Background()
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			pw := strings.Repeat("p", i+1)
			enc, err := h.Hash(ctx, pw)
			if err == nil {
				var ok bool
				if ok, _, err = h.Verify(ctx, enc, pw); err == nil && !ok {
					err = errors.New("round trip failed")
				}
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestHasherKeepsMemory: the Argon2 memory of a hash stays for the next
// one (no 19 MiB allocation per login), sized by the largest hash so far,
// and the Hasher lets it go after memoryIdle without a hash.
func TestHasherKeepsMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		h := NewHasher(testParams(), 2)
		enc, err := h.Hash(ctx, "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		if got := h.memory.Kept(); got != int(testParams().Memory) {
			t.Fatalf("kept %d blocks after a hash, want %d", got, testParams().Memory)
		}
		bigger := testParams()
		bigger.Memory *= 2
		if _, err := NewHasher(bigger, 1).Hash(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		// A stored hash made with more memory than h's own parameters.
		other, err := NewHasher(bigger, 1).Hash(ctx, "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []string{enc, other} {
			if ok, _, err := h.Verify(ctx, e, "correct horse"); err != nil || !ok {
				t.Fatalf("Verify = %v, %v", ok, err)
			}
		}
		if got := h.memory.Kept(); got != int(bigger.Memory) {
			t.Errorf("kept %d blocks after the larger hash, want %d", got, bigger.Memory)
		}
		time.Sleep(memoryIdle + time.Second)
		synctest.Wait()
		if got := h.memory.Kept(); got != 0 {
			t.Errorf("kept %d blocks after %v without a hash", got, memoryIdle)
		}
	})
}

func TestNewHasherRejectsBadParams(t *testing.T) {
	bad := []Params{
		{},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 8},
		{Memory: 1<<20 + 1, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Iterations: 101, Parallelism: 1, SaltLen: 16, KeyLen: 32},
	}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want error", p)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic", p)
				}
			}()
			NewHasher(p, 1)
		}()
	}
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("DefaultParams invalid: %v", err)
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		min  int
		want error
	}{
		// "12345678" and "aaaaaaaa" would be the obvious examples, but both
		// are on the common-password list; breached_test.go covers that.
		{"default min ok", "mxyzptlk", 0, nil},
		{"default min short", "1234567", 0, ErrPasswordTooShort},
		{"custom min ok", "1234567890ab", 12, nil},
		{"custom min short", "1234567890a", 12, ErrPasswordTooShort},
		{"counts characters not bytes", "пароль12", 8, nil},
		{"emoji count once", "🔑🔑🔑🔑🔑🔑🔑", 8, ErrPasswordTooShort},
		{"max ok", strings.Repeat("a", 256), 0, nil},
		{"max multibyte ok", strings.Repeat("密", 256), 0, nil},
		{"too long", strings.Repeat("a", 257), 0, ErrPasswordTooLong},
		{"invalid utf8", "abcdefgh\xff", 0, ErrPasswordEncoding},
		{"no composition rules", "zzxxyyww", 0, nil},
		{"spaces allowed", "        ", 0, nil},
		{"min above max clamps", strings.Repeat("a", 256), 1000, nil},
		{"empty", "", 0, ErrPasswordTooShort},
		{"common", "iloveyou", 0, ErrPasswordCommon},
		{"common ignores case", "PassWord1", 0, ErrPasswordCommon},
		{"common and short is short", "qwerty", 0, ErrPasswordTooShort},
		{"common under a low minimum", "qwerty", 6, ErrPasswordCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.pw, tt.min)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ValidatePassword = %v, want %v", err, tt.want)
			}
			var pe *PasswordError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PasswordError", err)
			}
			if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
				t.Fatal("message contains the password")
			}
		})
	}
	if got := ValidatePassword("short", 10).Error(); got != "password must be at least 10 characters" {
		t.Fatalf("message = %q", got)
	}
	if got := ValidatePassword(strings.Repeat("a", 300), 0).Error(); got != "password must be at most 256 characters" {
		t.Fatalf("message = %q", got)
	}
}

// FuzzParsePHC checks that parsing never panics and that whatever it
// accepts is canonical: encoding the parsed parts gives back the input, so
// no hash has two spellings.
func FuzzParsePHC(f *testing.F) {
	f.Add(validEncoded(f))
	f.Add("$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted params fail Validate: %v", err)
		}
		if got := encodePHC(p, salt, key); got != s {
			t.Fatalf("not canonical: parsed %q, re-encoded %q", s, got)
		}
	})
}
