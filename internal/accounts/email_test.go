package accounts_test

import (
	"context"
	"errors"
	"io"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/mail"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// emailEnv is an accounts service whose mail goes to a file outbox.
type emailEnv struct {
	t      *testing.T
	db     store.DB
	rec    *records.Service
	acc    *accounts.Service
	outbox *mail.Outbox
	dir    string
	clock  *fakeClock
	seen   map[string]bool // message files already read
}

func newEmailEnv(t *testing.T, db store.DB, cfg accounts.Config) *emailEnv {
	t.Helper()
	ctx := context.Background()
	hasher := auth.NewHasher(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, 4)
	rec, err := records.New(ctx, db, records.Options{Hasher: accounts.Policy{Hasher: hasher, MinLength: 8}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeySet(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	tok, err := auth.NewTokens(keys, auth.TokenConfig{Issuer: "https://keep.test", Audience: "https://keep.test", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "outbox")
	ob, err := mail.New(db, mail.Config{Mode: "file", Dir: dir, From: "keep@keep.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acc := accounts.New(accounts.Deps{DB: db, Records: rec, Hasher: hasher, Tokens: tok, Mailer: ob, Now: clock.Now, Config: cfg})
	return &emailEnv{t: t, db: db, rec: rec, acc: acc, outbox: ob, dir: dir, clock: clock, seen: map[string]bool{}}
}

func (e *emailEnv) signup(email, pw string) string {
	e.t.Helper()
	r, err := e.rec.Signup(context.Background(), records.Body{"email": jsonValue(email), "password": jsonValue(pw)})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ID()
}

var tokenInMail = regexp.MustCompile(`#token=([A-Za-z0-9_-]{43})\b`)

// mails delivers due mail and returns the new messages: recipient → token.
func (e *emailEnv) mails() map[string][]string {
	e.acc.Wait()
	e.t.Helper()
	if _, err := e.outbox.DeliverDue(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(e.dir, "*.eml"))
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range files {
		if e.seen[f] {
			continue
		}
		e.seen[f] = true
		fh, err := os.Open(f)
		if err != nil {
			e.t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(fh)
		if err != nil {
			e.t.Fatal(err)
		}
		body, _ := io.ReadAll(msg.Body)
		fh.Close()
		m := tokenInMail.FindSubmatch(body)
		if m == nil {
			e.t.Fatalf("no token in mail %q", body)
		}
		to := msg.Header.Get("To")
		out[to] = append(out[to], string(m[1]))
	}
	return out
}

// onlyMail expects exactly one new mail, to to, and returns its token.
func (e *emailEnv) onlyMail(to string) string {
	e.t.Helper()
	got := e.mails()
	if len(got) != 1 || len(got[to]) != 1 {
		e.t.Fatalf("new mails %v, want one to %s", got, to)
	}
	return got[to][0]
}

func (e *emailEnv) noMail() {
	e.t.Helper()
	if got := e.mails(); len(got) != 0 {
		e.t.Fatalf("unexpected mail: %v", got)
	}
}

func (e *emailEnv) verified(id string) bool {
	e.t.Helper()
	u, err := e.rec.User(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u["verified"] == true
}

func badLink(t *testing.T, err error) {
	t.Helper()
	var pe *records.PublicError
	if !errors.As(err, &pe) || !errors.Is(err, records.ErrBadRequest) || pe.Msg != "the link is invalid or has expired" {
		t.Fatalf("err = %v, want the invalid-link 400", err)
	}
}

func TestVerifyEmailFlow(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{PublicURL: "https://app.example.com/"})
		ctx := context.Background()
		id := e.signup("alice@example.com", "alice password 1")

		if err := e.acc.RequestVerification(ctx, "  Alice@Example.COM "); err != nil {
			t.Fatal(err)
		}
		tok := e.onlyMail("alice@example.com")
		if e.verified(id) {
			t.Fatal("verified before confirming")
		}
		if err := e.acc.ConfirmVerification(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if !e.verified(id) {
			t.Fatal("not verified after confirming")
		}
		badLink(t, e.acc.ConfirmVerification(ctx, tok)) // single use
		badLink(t, e.acc.ConfirmReset(ctx, tok, "a new password 1"))

		// Verified already: nothing to send, same answer.
		if err := e.acc.RequestVerification(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		e.noMail()
	})
}

func TestVerifyMailLink(t *testing.T) {
	e := newEmailEnv(t, enginetest.SQLite(t), accounts.Config{PublicURL: "https://app.example.com/"})
	e.signup("alice@example.com", "alice password 1")
	if err := e.acc.RequestVerification(context.Background(), "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	e.mails()
	files, _ := filepath.Glob(filepath.Join(e.dir, "*.eml"))
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "https://app.example.com/auth/verify#token=") || !strings.Contains(string(raw), "24 hours") {
		t.Fatalf("mail: %s", raw)
	}

	// Without a public URL the token stands alone, with a relative path.
	e = newEmailEnv(t, enginetest.SQLite(t), accounts.Config{})
	e.signup("bob@example.com", "bob password 12")
	if err := e.acc.RequestReset(context.Background(), "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	tok := e.onlyMail("bob@example.com")
	files, _ = filepath.Glob(filepath.Join(e.dir, "*.eml"))
	raw, _ = os.ReadFile(files[0])
	if !strings.Contains(string(raw), "\r\n"+tok+"\r\n") || !strings.Contains(string(raw), " /auth/reset#token="+tok) ||
		!strings.Contains(string(raw), "30 minutes") {
		t.Fatalf("mail: %s", raw)
	}
}

func TestEmailTokensExpire(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		// A reset TTL above 30 minutes is capped at 30.
		e := newEmailEnv(t, open(t), accounts.Config{ResetTTL: 2 * time.Hour})
		ctx := context.Background()
		id := e.signup("alice@example.com", "alice password 1")

		if err := e.acc.RequestVerification(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		verify := e.onlyMail("alice@example.com")
		if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		reset := e.onlyMail("alice@example.com")

		e.clock.Advance(30*time.Minute + time.Second)
		badLink(t, e.acc.ConfirmReset(ctx, reset, "a new password 1"))
		if err := e.acc.ConfirmVerification(ctx, verify); err != nil {
			t.Fatalf("verification token should live 24 h: %v", err)
		}
		if !e.verified(id) {
			t.Fatal("not verified")
		}

		// A verification token dies after 24 hours.
		id2 := e.signup("bob@example.com", "bob password 12")
		if err := e.acc.RequestVerification(ctx, "bob@example.com"); err != nil {
			t.Fatal(err)
		}
		verify = e.onlyMail("bob@example.com")
		e.clock.Advance(24*time.Hour + time.Second)
		badLink(t, e.acc.ConfirmVerification(ctx, verify))
		if e.verified(id2) {
			t.Fatal("verified with an expired token")
		}
	})
}

func TestNewerTokenReplacesOlder(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		ctx := context.Background()
		e.signup("alice@example.com", "alice password 1")
		for range 2 {
			if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
				t.Fatal(err)
			}
			e.acc.Wait()                     // the request's work runs after it answers
			e.clock.Advance(2 * time.Minute) // past the per-address cooldown
		}
		toks := e.mails()["alice@example.com"]
		if len(toks) != 2 {
			t.Fatalf("want two mails, got %v", toks)
		}
		// Mail files are named by UUIDv7 ids, so glob order is send order.
		badLink(t, e.acc.ConfirmReset(ctx, toks[0], "a new password 1"))
		if err := e.acc.ConfirmReset(ctx, toks[1], "a new password 1"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPasswordResetFlow(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		ctx := context.Background()
		const oldPW, newPW = "alice password 1", "a brand new passphrase"
		id := e.signup("alice@example.com", oldPW)
		cl := accounts.ClientInfo{IP: "192.0.2.7"}
		before, err := e.acc.Login(ctx, "alice@example.com", oldPW, cl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.Authenticate(ctx, before.AccessToken, cl); err != nil {
			t.Fatal(err)
		}

		if err := e.acc.RequestReset(ctx, "ALICE@example.com"); err != nil {
			t.Fatal(err)
		}
		tok := e.onlyMail("alice@example.com")

		// Refused passwords leave the token usable.
		for _, pw := range []string{"short", "alice@example.com", "Alice@Example.com"} {
			err := e.acc.ConfirmReset(ctx, tok, pw)
			var ve *records.ValidationError
			if !errors.As(err, &ve) || ve.Fields["new_password"] == "" {
				t.Fatalf("ConfirmReset(%q) = %v, want a new_password validation error", pw, err)
			}
		}
		if err := e.acc.ConfirmReset(ctx, tok, newPW); err != nil {
			t.Fatal(err)
		}
		badLink(t, e.acc.ConfirmReset(ctx, tok, "another password 2"))

		if _, err := e.acc.Login(ctx, "alice@example.com", oldPW, cl); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("old password: %v", err)
		}
		if _, err := e.acc.Login(ctx, "alice@example.com", newPW, cl); err != nil {
			t.Fatalf("new password: %v", err)
		}
		if !e.verified(id) {
			t.Fatal("a reset proves the mailbox: the account should be verified")
		}
		// The reset ended the sessions that existed before it.
		if _, err := e.acc.Authenticate(ctx, before.AccessToken, cl); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("access token of a session from before the reset: %v", err)
		}
		if before.RefreshToken != "" {
			if _, err := e.acc.Refresh(ctx, before.RefreshToken, cl); err == nil {
				t.Fatal("refresh token of a session from before the reset still works")
			}
		}
	})
}

func TestEmailRequestsRevealNothing(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		ctx := context.Background()
		e.signup("alice@example.com", "alice password 1")
		carol := e.signup("carol@example.com", "carol password 1")
		var disabled any = true
		if e.db.Dialect() == store.SQLite {
			disabled = 1
		}
		if err := e.db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE c_users SET disabled = ? WHERE id = ?`, disabled, carol)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, email := range []string{"nobody@example.com", "carol@example.com", "", "x\x00@example.com", strings.Repeat("a", 300) + "@example.com"} {
			if err := e.acc.RequestVerification(ctx, email); err != nil {
				t.Fatalf("RequestVerification(%q): %v", email, err)
			}
			if err := e.acc.RequestReset(ctx, email); err != nil {
				t.Fatalf("RequestReset(%q): %v", email, err)
			}
		}
		e.noMail()
		var n int
		if err := e.db.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_tokens`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d tokens (%v), want none", n, err)
		}
		// The known account answers the same.
		if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		e.onlyMail("alice@example.com")
	})
}

func TestEmailTokensStoredHashed(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		ctx := context.Background()
		e.signup("alice@example.com", "alice password 1")
		if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		tok := e.onlyMail("alice@example.com")
		var hash, kind string
		if err := e.db.QueryRow(ctx, `SELECT hash, kind FROM _keep_tokens`).Scan(&hash, &kind); err != nil {
			t.Fatal(err)
		}
		if kind != "reset" || len(hash) != 64 || strings.Contains(hash, tok) {
			t.Fatalf("stored %q %q", kind, hash)
		}
		// Once sent, the outbox no longer holds the token either.
		var body string
		if err := e.db.QueryRow(ctx, `SELECT body FROM _keep_outbox`).Scan(&body); err != nil || body != "" {
			t.Fatalf("outbox body %q %v", body, err)
		}
	})
}

func TestConfirmRefusesMalformedTokens(t *testing.T) {
	e := newEmailEnv(t, enginetest.SQLite(t), accounts.Config{})
	ctx := context.Background()
	for _, tok := range []string{"", "abc", strings.Repeat("!", 43), strings.Repeat("A", 44),
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", // non-canonical trailing bits
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // well formed, unknown
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00"} {
		badLink(t, e.acc.ConfirmVerification(ctx, tok))
		badLink(t, e.acc.ConfirmReset(ctx, tok, "a fine new password"))
	}
}

func TestConcurrentConfirmUsesTokenOnce(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		ctx := context.Background()
		e.signup("alice@example.com", "alice password 1")
		if err := e.acc.RequestVerification(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		tok := e.onlyMail("alice@example.com")
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []string
		)
		for range 8 {
			wg.Go(func() {
				err := e.acc.ConfirmVerification(ctx, tok)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					errs = append(errs, "ok")
				} else {
					errs = append(errs, err.Error())
				}
			})
		}
		wg.Wait()
		if n := len(slices.DeleteFunc(slices.Clone(errs), func(s string) bool { return s != "ok" })); n != 1 {
			t.Fatalf("%d confirmations succeeded, want 1: %v", n, errs)
		}
	})
}

func TestEmailFlowsWithoutMailer(t *testing.T) {
	e := newEmailEnv(t, enginetest.SQLite(t), accounts.Config{})
	acc := accounts.New(accounts.Deps{DB: e.db, Records: e.rec})
	for _, err := range []error{acc.RequestVerification(context.Background(), "a@example.com"), acc.RequestReset(context.Background(), "a@example.com")} {
		if !errors.Is(err, accounts.ErrMailNotConfigured) {
			t.Fatalf("err = %v", err)
		}
	}
}
