package records_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// newEncryptedService opens the record service with a keyring on db.
func newEncryptedService(t testing.TB, db store.DB) *records.Service {
	t.Helper()
	root, _ := keyring.NewRootKey()
	ring, err := keyring.Open(context.Background(), db, root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := records.New(context.Background(), db, records.Options{Hasher: fakeHasher{}, Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEncryptedSchemaChanges: encrypted values survive renames (the
// additional data binds field ids, not names), fields can be added to and
// dropped from populated tables with their blind index, and encrypted and
// searchable cannot change on an existing field.
func TestEncryptedSchemaChanges(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newEncryptedService(t, open(t))
		c := mustCollection(t, s, records.CollectionInput{Name: "people", Rules: publicRules, Fields: []records.Field{
			{Name: "ssn", Type: records.TypeText, Encrypted: true, Searchable: true, Unique: true},
		}})
		rec := mustCreate(t, s, superuser, "people", map[string]any{"ssn": "111"})
		fields := append([]records.Field(nil), c.Fields...)
		fields[0].Name = "tax_id"
		fields = append(fields, records.Field{Name: "pin", Type: records.TypeNumber, Encrypted: true, Searchable: true})
		if _, err := s.UpdateCollection(ctx, "people", records.CollectionPatch{Fields: &fields}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, superuser, "people", rec.ID(), records.ViewOptions{})
		if err != nil || got["tax_id"] != "111" || got["pin"] != nil {
			t.Fatalf("after rename: %v, %v", got, err)
		}
		if _, err := s.Update(ctx, superuser, "people", rec.ID(), body(t, map[string]any{"pin": 1234})); err != nil {
			t.Fatal(err)
		}
		page, err := s.List(ctx, superuser, "people", records.ListOptions{Filter: `pin == 1234 && tax_id == "111"`})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("filter after add: %v, %v", page, err)
		}
		_, err = s.Create(ctx, superuser, "people", body(t, map[string]any{"tax_id": "111"}))
		wantErr(t, err, records.ErrConflict)

		// encrypted and searchable are fixed once the field exists.
		c, _ = s.Collection("people")
		for _, change := range []func(f *records.Field){
			func(f *records.Field) { f.Encrypted = false; f.Searchable = false; f.Unique = false },
			func(f *records.Field) { f.Searchable = false; f.Unique = false },
		} {
			next := append([]records.Field(nil), c.Fields...)
			change(&next[0])
			_, err := s.UpdateCollection(ctx, "people", records.CollectionPatch{Fields: &next})
			var ve *records.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("changing encryption options: %v", err)
			}
		}
		// Drop the searchable field: its blind index goes too, and a new
		// field may take its name.
		next := []records.Field{c.Fields[1], {Name: "tax_id", Type: records.TypeText}}
		if _, err := s.UpdateCollection(ctx, "people", records.CollectionPatch{Fields: &next}); err != nil {
			t.Fatal(err)
		}
		got, err = s.Get(ctx, superuser, "people", rec.ID(), records.ViewOptions{})
		if err != nil || got["pin"] != float64(1234) || got["tax_id"] != nil {
			t.Fatalf("after drop: %v, %v", got, err)
		}
	})
}

// TestEncryptedFieldsNeedKeyring: without a keyring, a collection with
// encrypted fields is refused rather than stored in plaintext.
func TestEncryptedFieldsNeedKeyring(t *testing.T) {
	s := newService(t, enginetest.SQLite(t))
	_, err := s.CreateCollection(context.Background(), records.CollectionInput{Name: "x", Fields: []records.Field{
		{Name: "a", Type: records.TypeText, Encrypted: true}}})
	wantValidation(t, err, "fields[0].encrypted")
}

// BenchmarkCreateEncrypted compares record create with three encrypted
// fields (two searchable) against the same collection in plaintext, on
// SQLite through the record service.
func BenchmarkCreateEncrypted(b *testing.B) {
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "encrypted3"
		}
		b.Run(name, func(b *testing.B) {
			s := newEncryptedService(b, enginetest.SQLite(b))
			mustCollection(b, s, records.CollectionInput{Name: "people", Rules: publicRules, Fields: []records.Field{
				{Name: "name", Type: records.TypeText},
				{Name: "ssn", Type: records.TypeText, Encrypted: enc, Searchable: enc},
				{Name: "note", Type: records.TypeText, Encrypted: enc},
				{Name: "score", Type: records.TypeNumber, Encrypted: enc, Searchable: enc},
			}})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Create(ctx, superuser, "people", body(b, map[string]any{
					"name": "n", "ssn": fmt.Sprint("ssn-", i), "note": "a note of some length", "score": i,
				})); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
