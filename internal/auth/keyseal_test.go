package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

func testBox(t *testing.T, b byte) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// storedKeys reads kid → private_key as stored.
func storedKeys(t *testing.T, db store.DB) map[string][]byte {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT kid, private_key FROM _keep_signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var kid string
		var b []byte
		if err := rows.Scan(&kid, &b); err != nil {
			t.Fatal(err)
		}
		out[kid] = b
	}
	return out
}

// TestSigningKeysSealed: with a secret box, no signing seed is in the
// database in clear; a seed an older Keep stored in clear is sealed at the
// next start; a sealed seed does not open under another key or another kid.
func TestSigningKeysSealed(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		box := testBox(t, 1)

		// An older Keep's key, in clear.
		legacy, err := LoadKeySet(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		kid := legacy.KeyIDs()[0]
		if got := storedKeys(t, db)[kid]; len(got) != ed25519.SeedSize {
			t.Fatalf("legacy row holds %d bytes", len(got))
		}
		ks, err := LoadKeySet(ctx, db, box)
		if err != nil {
			t.Fatal(err)
		}
		next, err := RotateSigningKey(ctx, db, box)
		if err != nil {
			t.Fatal(err)
		}
		if err := RefreshKeySet(ctx, db, ks); err != nil {
			t.Fatal(err)
		}
		if ids := ks.KeyIDs(); len(ids) != 2 || ids[0] != next.ID {
			t.Fatalf("keys %v", ids)
		}
		stored := storedKeys(t, db)
		for id, b := range stored {
			if len(b) == ed25519.SeedSize {
				t.Fatalf("key %s is still in clear", id)
			}
		}
		if bytes.Contains(stored[next.ID], next.Private.Seed()) {
			t.Fatal("the new key's seed is in the database")
		}

		// Another install's secret key, or none, opens nothing.
		for _, b := range []Sealer{testBox(t, 2), nil} {
			if _, err := LoadKeySet(ctx, db, b); err == nil || !strings.Contains(err.Error(), "signing key") {
				t.Fatalf("LoadKeySet with the wrong box: %v", err)
			}
		}
		// A sealed seed moved to another row does not open there.
		if err := db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE _keep_signing_keys SET private_key = ? WHERE kid = ?`, stored[next.ID], kid)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeySet(ctx, db, box); err == nil || !strings.Contains(err.Error(), kid) {
			t.Fatalf("a seed copied to another kid: %v", err)
		}
	})
}
