package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/records"
)

// readBody reads a JSON request body within the limit. It insists on a JSON
// content type (415 otherwise), which also keeps HTML form posts out.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.bodyLimit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, newError(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than the limit")
	case err != nil:
		return nil, newError(http.StatusBadRequest, "bad_request", "the body could not be read")
	case len(bytes.TrimSpace(b)) == 0:
		return nil, newError(http.StatusBadRequest, "malformed_json", "the body is empty")
	case !utf8.Valid(b):
		return nil, newError(http.StatusBadRequest, "malformed_json", "the body is not valid UTF-8")
	}
	return b, nil
}

// decodeStrict decodes a JSON body into dst, rejecting unknown keys and
// trailing data.
func (a *API) decodeStrict(w http.ResponseWriter, r *http.Request, dst any) error {
	b, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return newError(http.StatusBadRequest, "malformed_json", "the body holds more than one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a client message. Type errors of a
// typed body are validation errors of that key; syntax errors are 400.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &records.ValidationError{Fields: map[string]string{te.Field: "has the wrong type"}}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return newError(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &records.ValidationError{Fields: map[string]string{strings.Trim(name, `"`): "unknown field"}}
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Msg: "the body does not have the expected shape", Err: err}
}

// decodeRecordBody decodes a JSON object of field values.
func (a *API) decodeRecordBody(w http.ResponseWriter, r *http.Request) (records.Body, error) {
	b, err := a.readBody(w, r)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(b)
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, newError(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
		}
		return nil, newError(http.StatusBadRequest, "malformed_json", "the body must be a JSON object")
	}
	var body records.Body
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&body); err != nil {
		return nil, newError(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	}
	if dec.More() {
		return nil, newError(http.StatusBadRequest, "malformed_json", "the body holds more than one JSON value")
	}
	return body, nil
}
