package accounts_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/mail"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// FuzzTokenParsers feeds arbitrary strings to every endpoint that takes a
// token or code: refresh tokens, email links, MFA challenges and codes, API
// keys and access tokens. None may panic, and none may accept a forgery.
func FuzzTokenParsers(f *testing.F) {
	ctx := context.Background()
	db := enginetest.SQLite(f)
	hasher := auth.NewHasher(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, 4)
	rec, err := records.New(ctx, db, records.Options{Hasher: accounts.Policy{Hasher: hasher, MinLength: 8}})
	if err != nil {
		f.Fatal(err)
	}
	keys, err := auth.LoadKeySet(ctx, db, nil)
	if err != nil {
		f.Fatal(err)
	}
	tok, err := auth.NewTokens(keys, auth.TokenConfig{Issuer: "keep", Audience: "keep"})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	ob, err := mail.New(db, mail.Config{Mode: "file", Dir: filepath.Join(dir, "outbox"), From: "keep@keep.test"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	box, err := secretbox.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	acc := accounts.New(accounts.Deps{DB: db, Records: rec, Hasher: hasher, Tokens: tok, Mailer: ob, Box: box,
		Logger: slog.New(slog.DiscardHandler)})
	if _, err := rec.Signup(ctx, records.Body{"email": jsonValue("alice@example.com"), "password": jsonValue("alice password 1")}); err != nil {
		f.Fatal(err)
	}
	login, err := acc.Login(ctx, "alice@example.com", "alice password 1", accounts.ClientInfo{})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", login.RefreshToken, login.AccessToken, "kr_", "keep_", "keep_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"123456", "abcd-efgh-ijkl-mnop", "\x00", "kr_" + login.RefreshToken[3:len(login.RefreshToken)-1] + "A"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == login.RefreshToken || s == login.AccessToken {
			return // the genuine tokens are meant to work
		}
		if _, err := acc.Refresh(ctx, s, accounts.ClientInfo{}); err == nil {
			t.Fatalf("Refresh accepted %q", s)
		}
		if _, err := acc.Authenticate(ctx, s, accounts.ClientInfo{}); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q) = %v", s, err)
		}
		if err := acc.ConfirmVerification(ctx, s); err == nil {
			t.Fatalf("ConfirmVerification accepted %q", s)
		}
		if err := acc.ConfirmReset(ctx, s, "a brand new passphrase"); err == nil {
			t.Fatalf("ConfirmReset accepted %q", s)
		}
		if _, err := acc.VerifyMFA(ctx, s, "123456", "", accounts.ClientInfo{}); err == nil {
			t.Fatalf("VerifyMFA accepted challenge %q", s)
		}
		if _, err := acc.VerifyMFA(ctx, s, "", s, accounts.ClientInfo{}); err == nil {
			t.Fatalf("VerifyMFA accepted recovery code %q", s)
		}
	})
}
