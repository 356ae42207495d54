package records

// Encrypted fields. A field with `encrypted` (text, email, json, number) is
// stored only as ciphertext (package keyring, base64 in a TEXT column),
// sealed inside the writing transaction under the data key that is current
// in that transaction, with the collection id, field id and record id as
// additional data: a value copied to another row or field fails to open,
// and such a failure is an error wrapping keyring.ErrIntegrity, never a
// value. Ids rather than names are bound, so renaming a field needs no
// re-encryption.
//
// `searchable` adds a blind index column "_bi_<field id>" (field names
// cannot begin with "_"): HMAC-SHA-256 of the value under a key derived for
// the field. It serves == and != in filters and rules (compiled by package
// access with the HMAC computed in Go and bound as a parameter) and unique
// constraints (a unique index on the blind column). Ordering and range
// filters, sorting, in, size and string functions on encrypted fields are
// refused: a 400 in a filter or sort, a 422 in a rule at collection save.
// Whether a value is null, and its approximate length, are not hidden.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/store"
)

// normaliseEncryption validates the encrypted and searchable options.
func (f *Field) normaliseEncryption(key string, verr *ValidationError) {
	if !f.Encrypted {
		if f.Searchable {
			verr.add(key+".searchable", "only encrypted fields can be searchable")
		}
		return
	}
	switch f.Type {
	case TypeText, TypeEmail, TypeNumber:
	case TypeJSON:
		if f.Searchable {
			verr.add(key+".searchable", "json fields cannot be searchable")
		}
	default:
		verr.add(key+".encrypted", "only text, email, json and number fields can be encrypted")
	}
	if (f.Unique || f.Index) && !f.Searchable {
		verr.add(key+".unique", "an encrypted field needs searchable to be unique or indexed")
	}
}

// blindColumn is the blind-index column of a searchable field.
func blindColumn(f *Field) string { return "_bi_" + f.ID }

// hasEncrypted reports whether c has an encrypted field.
func (c *Collection) hasEncrypted() bool {
	return slices.ContainsFunc(c.Fields, func(f Field) bool { return f.Encrypted })
}

// fieldContext is the additional data of a field value: where it is stored.
func fieldContext(c *Collection, f *Field, recordID string) []byte {
	return []byte("keep/field/v1\x00" + c.ID + "\x00" + f.ID + "\x00" + recordID)
}

// plaintext encodes a normalised value of f for sealing and indexing.
func plaintext(f *Field, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case float64:
		if v == 0 {
			v = 0 // -0 and 0 are one number, as in SQL
		}
		return []byte(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case json.RawMessage:
		return []byte(v), nil
	}
	return nil, fmt.Errorf("records: field %q: cannot encrypt %T", f.Name, v)
}

// fromPlaintext decodes what plaintext encoded.
func fromPlaintext(f *Field, b []byte) (any, error) {
	switch f.Type {
	case TypeNumber:
		n, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return nil, keyring.ErrIntegrity
		}
		return n, nil
	case TypeJSON:
		return json.RawMessage(b), nil
	}
	return string(b), nil
}

// blindFunc is the blind index of f as package access binds it: the value
// converted for the field's kind (string or float64).
func (c *Collection) blindFunc(f *Field) func(any) (string, error) {
	ring, scope := c.ring, c.ID+"/"+f.ID
	return func(v any) (string, error) {
		if s, ok := v.(string); ok && f.Type == TypeEmail {
			// Stored emails have their domain lower-cased (checkEmail);
			// the filter's literal must hash the same way to match.
			if at := strings.LastIndexByte(s, '@'); at >= 0 {
				v = s[:at] + strings.ToLower(s[at:])
			}
		}
		pt, err := plaintext(f, v)
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(ring.BlindIndex(scope, pt)), nil
	}
}

// sealedValue is a column value still encrypted; openRecords replaces it.
type sealedValue string

// MarshalJSON fails: a value that was not opened must never be sent.
func (sealedValue) MarshalJSON() ([]byte, error) {
	return nil, errors.New("records: an encrypted value was not opened")
}

// writeArgs turns vals into the columns and arguments of an insert or
// update of record id, sealing encrypted values under the key current in q
// (the writing transaction) and adding blind indexes.
func (s *Service) writeArgs(ctx context.Context, q store.Querier, c *Collection, id string, vals map[string]any) ([]string, []any, error) {
	d := s.db.Dialect()
	var sealer *keyring.Sealer
	var cols []string
	var args []any
	for _, name := range sortedKeys(vals) {
		v := vals[name]
		f := c.Field(name)
		if f == nil || !f.Encrypted {
			cols, args = append(cols, store.QuoteIdent(name)), append(args, sqlValue(d, v))
			continue
		}
		var sealed, blind any
		if v != nil {
			if sealer == nil {
				if c.ring == nil {
					return nil, nil, errors.New("records: encrypted field without a keyring")
				}
				var err error
				if sealer, err = c.ring.Sealer(ctx, q); err != nil {
					return nil, nil, err
				}
			}
			pt, err := plaintext(f, v)
			if err != nil {
				return nil, nil, err
			}
			sealed = base64.StdEncoding.EncodeToString(sealer.Seal(pt, fieldContext(c, f, id)))
			if f.Searchable {
				blind = base64.StdEncoding.EncodeToString(c.ring.BlindIndex(c.ID+"/"+f.ID, pt))
			}
			clear(pt)
		}
		cols, args = append(cols, store.QuoteIdent(name)), append(args, sealed)
		if f.Searchable {
			cols, args = append(cols, store.QuoteIdent(blindColumn(f))), append(args, blind)
		}
	}
	return cols, args, nil
}

// integrityError is the error for a value of record id that does not open.
func integrityError(c *Collection, f *Field, id string, cause error) error {
	if !errors.Is(cause, keyring.ErrIntegrity) {
		return cause // the keyring could not be read: not the value's fault
	}
	return fmt.Errorf("%w: field %q of record %s in %q", keyring.ErrIntegrity, f.Name, id, c.Name)
}

// openValue opens the stored (base64) ciphertext of f in record id.
func (s *Service) openValue(ctx context.Context, q store.Querier, c *Collection, f *Field, id, stored string) (any, error) {
	ct, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, integrityError(c, f, id, keyring.ErrIntegrity)
	}
	if c.ring == nil {
		return nil, errors.New("records: encrypted field without a keyring")
	}
	pt, err := c.ring.Open(ctx, q, ct, fieldContext(c, f, id))
	if err != nil {
		return nil, integrityError(c, f, id, err)
	}
	v, err := fromPlaintext(f, pt)
	if f.Type != TypeJSON {
		clear(pt) // a json value keeps the buffer
	}
	if err != nil {
		return nil, integrityError(c, f, id, err)
	}
	return v, nil
}

// openRecords replaces the sealed values of recs (read from c) by their
// plaintext. It runs after the rows are closed, since opening may read a
// key through q.
func (s *Service) openRecords(ctx context.Context, q store.Querier, c *Collection, recs []Record) error {
	if !c.hasEncrypted() {
		return nil
	}
	for _, r := range recs {
		for name, v := range r {
			sv, ok := v.(sealedValue)
			if !ok {
				continue
			}
			pv, err := s.openValue(ctx, q, c, c.Field(name), r.ID(), string(sv))
			if err != nil {
				return err
			}
			r[name] = pv
		}
	}
	return nil
}

// Re-encryption after a data-key rotation.

// ReencryptBatch is how many records one re-encryption transaction visits:
// small enough that writers (SQLite's single writer especially) wait only
// briefly for it.
const ReencryptBatch = 100

// Reencrypt works job (claimed by owner) until every encrypted value is
// sealed under the current data key, in batches of ReencryptBatch records,
// each its own transaction that also records progress and renews the lease.
// Each batch reads the current key inside its transaction, so a rotation
// during the job is followed. It resumes from the job's cursor, returns
// keyring.ErrLeaseLost when another worker took the job over, and
// ctx.Err() when ctx ends (the next worker resumes). progress, if set, is
// called after each batch.
func (s *Service) Reencrypt(ctx context.Context, job *keyring.Job, owner string, lease time.Duration, progress func(keyring.Job)) error {
	var colls []*Collection
	for _, c := range s.Collections() {
		if c.hasEncrypted() {
			colls = append(colls, c)
		}
	}
	slices.SortFunc(colls, func(a, b *Collection) int { return strings.Compare(a.Name, b.Name) })
	if job.Cursor == "" {
		job.Total = 0
		for _, c := range colls {
			var n int64
			if err := s.db.QueryRow(ctx, "SELECT count(*) FROM "+store.QuoteIdent(c.Table())).Scan(&n); err != nil {
				return err
			}
			job.Total += n
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, after, _ := strings.Cut(job.Cursor, "/")
		i := 0
		if job.Cursor != "" {
			i, _ = slices.BinarySearchFunc(colls, name, func(c *Collection, n string) int { return strings.Compare(c.Name, n) })
			if i < len(colls) && colls[i].Name != name {
				after = "" // that collection is gone: start the next one
			}
		}
		err := s.db.Tx(ctx, func(q store.Querier) error {
			j := *job
			if i >= len(colls) {
				j.Total = max(j.Total, j.Done)
				if err := keyring.Finish(ctx, q, &j, owner); err != nil {
					return err
				}
				*job = j
				return nil
			}
			c := colls[i]
			n, rewritten, last, err := s.reencryptBatch(ctx, q, c, after)
			if err != nil {
				return err
			}
			j.Done += int64(n)
			j.Rewritten += int64(rewritten)
			j.Cursor = c.Name + "/" + last
			if n < ReencryptBatch { // the collection is done: the next one
				if i+1 < len(colls) {
					j.Cursor = colls[i+1].Name + "/"
				} else {
					j.Cursor = "~/" // past every name ([a-z0-9_]): finish next
				}
			}
			if err := keyring.Progress(ctx, q, &j, owner, lease); err != nil {
				return err
			}
			*job = j
			return nil
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(*job)
		}
		if job.State == keyring.JobDone {
			return nil
		}
	}
}

// reencryptBatch re-seals, under the key current in q, the encrypted values
// of up to ReencryptBatch records of c after id after. It returns how many
// records it visited and rewrote, and the last id.
func (s *Service) reencryptBatch(ctx context.Context, q store.Querier, c *Collection, after string) (visited, rewritten int, last string, err error) {
	var fields []*Field
	names := []string{"id"}
	for i := range c.Fields {
		if f := &c.Fields[i]; f.Encrypted {
			fields = append(fields, f)
			names = append(names, store.QuoteIdent(f.Name))
		}
	}
	lock := ""
	if s.db.Dialect() == store.Postgres {
		lock = " FOR UPDATE" // a concurrent write waits, then overwrites with the current key
	}
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE id > ? ORDER BY id LIMIT %d%s",
		strings.Join(names, ", "), store.QuoteIdent(c.Table()), ReencryptBatch, lock), after)
	if err != nil {
		return 0, 0, "", err
	}
	type row struct {
		id   string
		vals []*string
	}
	var batch []row
	for rows.Next() {
		r := row{vals: make([]*string, len(fields))}
		ptrs := []any{&r.id}
		for i := range r.vals {
			ptrs = append(ptrs, &r.vals[i])
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return 0, 0, "", err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, "", err
	}
	if len(batch) == 0 {
		return 0, 0, after, nil
	}
	sealer, err := c.ring.Sealer(ctx, q)
	if err != nil {
		return 0, 0, "", err
	}
	for _, r := range batch {
		var sets []string
		var args []any
		for i, f := range fields {
			if r.vals[i] == nil {
				continue
			}
			ct, err := base64.StdEncoding.DecodeString(*r.vals[i])
			kid, kerr := keyring.KeyOf(ct)
			if err != nil || kerr != nil {
				s.log.Warn("re-encryption: a value does not parse; left as it is", "collection", c.Name, "field", f.Name, "id", r.id)
				continue
			}
			if kid == sealer.Key() {
				continue
			}
			pt, err := c.ring.Open(ctx, q, ct, fieldContext(c, f, r.id))
			if errors.Is(err, keyring.ErrIntegrity) {
				s.log.Warn("re-encryption: a value does not open; left as it is", "collection", c.Name, "field", f.Name, "id", r.id)
				continue
			}
			if err != nil {
				return 0, 0, "", err
			}
			sets = append(sets, store.QuoteIdent(f.Name)+" = ?")
			args = append(args, base64.StdEncoding.EncodeToString(sealer.Seal(pt, fieldContext(c, f, r.id))))
			clear(pt)
		}
		if len(sets) > 0 {
			if _, err := q.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE id = ?", store.QuoteIdent(c.Table()), strings.Join(sets, ", ")),
				append(args, r.id)...); err != nil {
				return 0, 0, "", err
			}
			rewritten++
		}
	}
	return len(batch), rewritten, batch[len(batch)-1].id, nil
}

// Keyring is the keyring the service seals with, or nil.
func (s *Service) Keyring() *keyring.Ring { return s.ring }
