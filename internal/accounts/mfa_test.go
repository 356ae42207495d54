package accounts_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

type mfaFixture struct {
	t     *testing.T
	db    store.DB
	svc   *accounts.Service
	clock *fakeClock
	ids   map[string]string
}

func newMFAFixture(t *testing.T, db store.DB) *mfaFixture {
	t.Helper()
	ctx := context.Background()
	hasher := auth.NewHasher(auth.Params{Memory: 8, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 16}, 0)
	rec, err := records.New(ctx, db, records.Options{Hasher: accounts.Policy{Hasher: hasher, MinLength: 8}})
	if err != nil {
		t.Fatal(err)
	}
	// Ten seconds into a time step, so a step is a 30-second advance.
	clock := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)}
	key, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := auth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ks, auth.TokenConfig{Issuer: "keep-test", Audience: "keep-test", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &mfaFixture{t: t, db: db, clock: clock, ids: map[string]string{},
		svc: accounts.New(accounts.Deps{DB: db, Records: rec, Hasher: hasher, Tokens: tokens, Box: box, Now: clock.Now})}
	for _, who := range []string{"alice", "bob"} {
		u, err := rec.Signup(ctx, records.Body{
			"email":    json.RawMessage(`"` + who + `@example.com"`),
			"password": json.RawMessage(`"password of ` + who + `"`),
		})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[who] = u.ID()
	}
	return f
}

func (f *mfaFixture) caller(who string) records.Caller {
	return records.Caller{Auth: access.Auth{ID: f.ids[who], Email: who + "@example.com"}, Session: "s-" + who}
}

func (f *mfaFixture) login(who string) accounts.LoginResult {
	f.t.Helper()
	res, err := f.svc.Login(context.Background(), who+"@example.com", "password of "+who, accounts.ClientInfo{IP: "127.0.0.1"})
	if err != nil {
		f.t.Fatalf("login %s: %v", who, err)
	}
	return res
}

// challenge logs who in and returns the MFA token it must answer.
func (f *mfaFixture) challenge(who string) string {
	f.t.Helper()
	res := f.login(who)
	if !res.MFARequired || res.MFAToken == "" || res.AccessToken != "" || res.RefreshToken != "" {
		f.t.Fatalf("login of %s did not answer an MFA challenge: %+v", who, res)
	}
	return res.MFAToken
}

func (f *mfaFixture) code(secret []byte) string {
	return auth.TOTPCodeAt(secret, auth.TOTPStep(f.clock.Now()))
}

func (f *mfaFixture) verify(token, code, recovery string) (accounts.LoginResult, error) {
	return f.svc.VerifyMFA(context.Background(), token, code, recovery, accounts.ClientInfo{IP: "127.0.0.1"})
}

func (f *mfaFixture) mustVerify(token, code, recovery string) accounts.LoginResult {
	f.t.Helper()
	res, err := f.verify(token, code, recovery)
	if err != nil {
		f.t.Fatalf("VerifyMFA: %v", err)
	}
	if res.AccessToken == "" || res.User.ID() == "" || res.MFARequired {
		f.t.Fatalf("VerifyMFA gave no session: %+v", res)
	}
	return res
}

// enable enrols and confirms TOTP for who, returning the secret and the
// recovery codes.
func (f *mfaFixture) enable(who string) ([]byte, []string) {
	f.t.Helper()
	ctx := context.Background()
	e, err := f.svc.EnrollTOTP(ctx, f.caller(who))
	if err != nil {
		f.t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil || len(secret) != auth.TOTPSecretLen {
		f.t.Fatalf("secret %q: %v", e.Secret, err)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, f.caller(who), f.code(secret))
	if err != nil {
		f.t.Fatal(err)
	}
	return secret, codes
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func wantValidation(t *testing.T, err error, field string) {
	t.Helper()
	var ve *records.ValidationError
	if !errors.As(err, &ve) || ve.Fields[field] == "" {
		t.Fatalf("error %v, want a validation error on %q", err, field)
	}
}

// TestTOTP is acceptance 5 of issue 3 on every engine: enrol, login with a
// code, the replayed code refused, a recovery code works once, disabling
// needs the password.
func TestTOTP(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()

		t.Run("enrol and confirm", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			alice := f.caller("alice")
			first, err := f.svc.EnrollTOTP(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(first.OTPAuthURI, "otpauth://totp/Keep:alice%40example.com?secret="+first.Secret+"&issuer=Keep&") {
				t.Fatalf("otpauth URI %q", first.OTPAuthURI)
			}
			// Until confirmed, login needs no second factor.
			if res := f.login("alice"); res.MFARequired || res.AccessToken == "" {
				t.Fatalf("unconfirmed enrolment changed login: %+v", res)
			}
			// A second enrolment replaces the first: the old secret's codes
			// no longer confirm.
			second, err := f.svc.EnrollTOTP(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			if second.Secret == first.Secret {
				t.Fatal("re-enrolment kept the secret")
			}
			old, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(first.Secret)
			secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(second.Secret)
			if auth.TOTPCodeAt(old, auth.TOTPStep(f.clock.Now())) != f.code(secret) {
				_, err = f.svc.ConfirmTOTP(ctx, alice, f.code(old))
				wantValidation(t, err, "code")
			}
			_, err = f.svc.ConfirmTOTP(ctx, alice, "12345")
			wantValidation(t, err, "code")
			_, err = f.svc.ConfirmTOTP(ctx, alice, "١٢٣٤٥٦")
			wantValidation(t, err, "code")

			codes, err := f.svc.ConfirmTOTP(ctx, alice, f.code(secret))
			if err != nil {
				t.Fatal(err)
			}
			shape := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
			seen := map[string]bool{}
			for _, c := range codes {
				if !shape.MatchString(c) || seen[c] {
					t.Fatalf("recovery codes %v", codes)
				}
				seen[c] = true
			}
			if len(codes) != 10 {
				t.Fatalf("%d recovery codes", len(codes))
			}
			_, err = f.svc.ConfirmTOTP(ctx, alice, f.code(secret))
			wantErr(t, err, records.ErrConflict)
			_, err = f.svc.EnrollTOTP(ctx, alice)
			wantErr(t, err, records.ErrConflict)
			if err.Error() != "TOTP is already enabled" {
				t.Fatalf("message %q", err)
			}

			// Stored: the secret only sealed, recovery codes only hashed.
			var sealed []byte
			if err := f.db.QueryRow(ctx, `SELECT secret FROM _keep_mfa_totp WHERE user_id = ?`, f.ids["alice"]).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, secret) || strings.Contains(string(sealed), second.Secret) {
				t.Fatal("TOTP secret stored in the clear")
			}
			rows, err := f.db.Query(ctx, `SELECT hash FROM _keep_recovery_codes WHERE user_id = ?`, f.ids["alice"])
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var h string
				if err := rows.Scan(&h); err != nil {
					t.Fatal(err)
				}
				for _, c := range codes {
					if strings.Contains(h, c) || strings.Contains(h, strings.ReplaceAll(c, "-", "")) {
						t.Fatal("recovery code stored in the clear")
					}
				}
				n++
			}
			rows.Close()
			if n != 10 {
				t.Fatalf("%d stored recovery codes", n)
			}
		})

		t.Run("confirm without enrolment", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			_, err := f.svc.ConfirmTOTP(ctx, f.caller("bob"), "123456")
			wantErr(t, err, records.ErrConflict)
		})

		t.Run("login with a code, replay refused", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			secret, _ := f.enable("alice")
			tok := f.challenge("alice")
			// The code that confirmed enrolment was used: it does not log in.
			_, err := f.verify(tok, f.code(secret), "")
			wantErr(t, err, accounts.ErrInvalidCredentials)

			f.clock.Advance(auth.TOTPPeriod)
			code := f.code(secret)
			res := f.mustVerify(tok, code, "")
			if res.User.ID() != f.ids["alice"] {
				t.Fatalf("logged in as %v", res.User.ID())
			}
			// The access token works.
			if c, err := f.svc.Authenticate(ctx, res.AccessToken, accounts.ClientInfo{}); err != nil || c.Auth.ID != f.ids["alice"] {
				t.Fatalf("Authenticate: %v %v", c.Auth.ID, err)
			}
			// The challenge is single use.
			_, err = f.verify(tok, code, "")
			wantErr(t, err, accounts.ErrUnauthenticated)
			// The same code on a new challenge, still inside its window, is
			// refused; so is the previous step's.
			tok = f.challenge("alice")
			_, err = f.verify(tok, code, "")
			wantErr(t, err, accounts.ErrInvalidCredentials)
			_, err = f.verify(tok, auth.TOTPCodeAt(secret, auth.TOTPStep(f.clock.Now())-1), "")
			wantErr(t, err, accounts.ErrInvalidCredentials)
			// The next step's code works (clock skew), and then the current
			// one no longer does.
			f.mustVerify(tok, auth.TOTPCodeAt(secret, auth.TOTPStep(f.clock.Now())+1), "")
			tok = f.challenge("alice")
			f.clock.Advance(auth.TOTPPeriod)
			_, err = f.verify(tok, code, "") // two steps old now
			wantErr(t, err, accounts.ErrInvalidCredentials)
			f.clock.Advance(auth.TOTPPeriod)
			f.mustVerify(tok, f.code(secret), "")
		})

		t.Run("recovery code works once", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			_, codes := f.enable("alice")
			f.mustVerify(f.challenge("alice"), "", codes[0])
			_, err := f.verify(f.challenge("alice"), "", codes[0])
			wantErr(t, err, accounts.ErrInvalidCredentials)
			// Typed in capitals without dashes, another code still works.
			f.mustVerify(f.challenge("alice"), "", strings.ToUpper(strings.ReplaceAll(codes[1], "-", "")))
			_, err = f.verify(f.challenge("alice"), "", "not a code at all")
			wantErr(t, err, accounts.ErrInvalidCredentials)
			// Another user's code is not alice's.
			_, bobCodes := f.enable("bob")
			_, err = f.verify(f.challenge("alice"), "", bobCodes[0])
			wantErr(t, err, accounts.ErrInvalidCredentials)
			f.mustVerify(f.challenge("bob"), "", bobCodes[0])
		})

		t.Run("wrong codes burn the challenge after five", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			secret, _ := f.enable("alice")
			f.clock.Advance(auth.TOTPPeriod)
			wrong := func() string {
				c := f.code(secret)
				for _, w := range []string{"000000", "111111", "222222"} {
					if w != c && w != auth.TOTPCodeAt(secret, auth.TOTPStep(f.clock.Now())-1) && w != auth.TOTPCodeAt(secret, auth.TOTPStep(f.clock.Now())+1) {
						return w
					}
				}
				t.Fatal("no wrong code")
				return ""
			}()
			// Four wrong answers, then the right one: accepted.
			tok := f.challenge("alice")
			for range 4 {
				_, err := f.verify(tok, wrong, "")
				wantErr(t, err, accounts.ErrInvalidCredentials)
			}
			f.mustVerify(tok, f.code(secret), "")
			// Five wrong answers: the challenge is gone.
			f.clock.Advance(auth.TOTPPeriod)
			tok = f.challenge("alice")
			for range 5 {
				_, err := f.verify(tok, wrong, "")
				wantErr(t, err, accounts.ErrInvalidCredentials)
			}
			_, err := f.verify(tok, f.code(secret), "")
			wantErr(t, err, accounts.ErrUnauthenticated)
			// Malformed input costs no attempt.
			tok = f.challenge("alice")
			for range 10 {
				_, err := f.verify(tok, "12345", "")
				wantValidation(t, err, "code")
			}
			f.mustVerify(tok, f.code(secret), "")
		})

		t.Run("challenge expires", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			secret, _ := f.enable("alice")
			tok := f.challenge("alice")
			f.clock.Advance(5*time.Minute + time.Second)
			_, err := f.verify(tok, f.code(secret), "")
			wantErr(t, err, accounts.ErrUnauthenticated)
			for _, bad := range []string{"", "nope", strings.Repeat("x", 500), tok + "x"} {
				_, err = f.verify(bad, f.code(secret), "")
				wantErr(t, err, accounts.ErrUnauthenticated)
			}
		})

		t.Run("exactly one factor", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			secret, codes := f.enable("alice")
			tok := f.challenge("alice")
			_, err := f.verify(tok, "", "")
			wantValidation(t, err, "code")
			_, err = f.verify(tok, f.code(secret), codes[0])
			wantValidation(t, err, "recovery_code")
			_, err = f.verify(tok, " 12345", "")
			wantValidation(t, err, "code")
		})

		t.Run("disable needs the password", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			_, codes := f.enable("alice")
			pending := f.challenge("alice")
			err := f.svc.DisableTOTP(ctx, f.caller("alice"), "wrong password")
			wantErr(t, err, records.ErrForbidden)
			if err.Error() != "password is wrong" {
				t.Fatalf("message %q", err)
			}
			f.challenge("alice") // still on
			if err := f.svc.DisableTOTP(ctx, f.caller("alice"), "password of alice"); err != nil {
				t.Fatal(err)
			}
			if res := f.login("alice"); res.MFARequired || res.AccessToken == "" {
				t.Fatalf("login after disable: %+v", res)
			}
			_, err = f.verify(pending, "", codes[2])
			wantErr(t, err, accounts.ErrUnauthenticated)
			var n int
			if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_recovery_codes WHERE user_id = ?`, f.ids["alice"]).Scan(&n); err != nil || n != 0 {
				t.Fatalf("recovery codes left: %d %v", n, err)
			}
			wantErr(t, f.svc.DisableTOTP(ctx, f.caller("alice"), "password of alice"), records.ErrNotFound)
			// Enrolling again works.
			f.enable("alice")
			f.challenge("alice")
		})

		t.Run("API keys and anonymous callers cannot manage MFA", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			key := f.caller("alice")
			key.APIKey = "some-key-id"
			_, err := f.svc.EnrollTOTP(ctx, key)
			wantErr(t, err, records.ErrForbidden)
			_, err = f.svc.ConfirmTOTP(ctx, key, "123456")
			wantErr(t, err, records.ErrForbidden)
			wantErr(t, f.svc.DisableTOTP(ctx, key, "password of alice"), records.ErrForbidden)
			_, err = f.svc.EnrollTOTP(ctx, records.Caller{})
			wantErr(t, err, records.ErrUnauthorized)
		})

		t.Run("a sealed secret copied to another user fails", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			secret, _ := f.enable("alice")
			var sealed []byte
			if err := f.db.QueryRow(ctx, `SELECT secret FROM _keep_mfa_totp WHERE user_id = ?`, f.ids["alice"]).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			err := f.db.Tx(ctx, func(q store.Querier) error {
				_, err := q.Exec(ctx, `INSERT INTO _keep_mfa_totp (user_id, secret, created, confirmed_at, last_step) VALUES (?, ?, ?, ?, 0)`,
					f.ids["bob"], sealed, records.TimeArg(f.db.Dialect(), f.clock.Now()), records.TimeArg(f.db.Dialect(), f.clock.Now()))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(auth.TOTPPeriod)
			if res, err := f.verify(f.challenge("bob"), f.code(secret), ""); err == nil {
				t.Fatalf("bob logged in with alice's secret: %+v", res)
			}
		})

		t.Run("a code is accepted once under concurrency", func(t *testing.T) {
			f := newMFAFixture(t, open(t))
			secret, _ := f.enable("alice")
			f.clock.Advance(auth.TOTPPeriod)
			code := f.code(secret)
			toks := make([]string, 8)
			for i := range toks {
				toks[i] = f.challenge("alice")
			}
			var (
				wg sync.WaitGroup
				mu sync.Mutex
				ok int
			)
			for _, tok := range toks {
				wg.Go(func() {
					_, err := f.verify(tok, code, "")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, accounts.ErrInvalidCredentials):
						t.Errorf("unexpected error: %v", err)
					}
				})
			}
			wg.Wait()
			if ok != 1 {
				t.Fatalf("%d logins with one code, want 1", ok)
			}
		})
	})
}
