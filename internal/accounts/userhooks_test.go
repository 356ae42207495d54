package accounts_test

import (
	"context"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestEmailChangeVoidsLinks: links mailed to the old address stop working
// when a superuser changes the email, and the new address is unverified.
func TestEmailChangeVoidsLinks(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		e.rec.OnUserUpdate(e.acc.UserUpdated)
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

		su := records.Caller{Superuser: true}
		if _, err := e.rec.Update(ctx, su, "users", id, records.Body{"verified": jsonValue(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rec.Update(ctx, su, "users", id, records.Body{"email": jsonValue("alice@new.example.com")}); err != nil {
			t.Fatal(err)
		}
		badLink(t, e.acc.ConfirmVerification(ctx, verify))
		badLink(t, e.acc.ConfirmReset(ctx, reset, "a brand new passphrase"))
		if e.verified(id) {
			t.Fatal("the new address should be unverified")
		}
		// Setting both in one update keeps what the superuser said.
		if _, err := e.rec.Update(ctx, su, "users", id, records.Body{"email": jsonValue("alice@third.example.com"), "verified": jsonValue(true)}); err != nil {
			t.Fatal(err)
		}
		if !e.verified(id) {
			t.Fatal("verified set in the same update was overridden")
		}
	})
}
