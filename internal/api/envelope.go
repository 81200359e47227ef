package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latch-auth/latch/internal/auth"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyRequestInfo
)

// requestInfo is filled by handlers for the request's log line.
type requestInfo struct {
	start    time.Time
	status   int // written; 0 while nothing is
	err      error
	project  string
	pattern  string // the route matched
	panicked bool
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

func info(r *http.Request) *requestInfo {
	ri, _ := r.Context().Value(keyRequestInfo).(*requestInfo)
	if ri == nil {
		return &requestInfo{}
	}
	return ri
}

func withValues(ctx context.Context, id string, ri *requestInfo) context.Context {
	return context.WithValue(context.WithValue(ctx, keyRequestID, id), keyRequestInfo, ri)
}

// envelope is embedded first in every response body.
type envelope struct {
	RequestID  string `json:"request_id"`
	StatusCode int    `json:"status_code"`
}

// ok fills the envelope of a 200 body.
func ok(r *http.Request) envelope {
	return envelope{RequestID: requestID(r), StatusCode: http.StatusOK}
}

// writeJSON sends body with the given status. Every Latch body is JSON.
func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		slog.Error("encode response", "err", err)
		b = []byte(`{"status_code":500,"error_type":"internal_server_error","error_message":"encoding failed"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorBody is Stytch's error envelope (CONTRACT.md §1.4).
type errorBody struct {
	StatusCode   int    `json:"status_code"`
	RequestID    string `json:"request_id"`
	ErrorType    string `json:"error_type"`
	ErrorMessage string `json:"error_message"`
	ErrorURL     string `json:"error_url"`
}

// writeError answers err: an *auth.Error as itself, anything else as 500
// with the detail only in the log (tied to the request id).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, known := auth.AsError(err)
	if !known {
		e = auth.ErrInternal
	}
	info(r).err = err
	writeJSON(w, e.Status, errorBody{
		StatusCode:   e.Status,
		RequestID:    requestID(r),
		ErrorType:    e.Type,
		ErrorMessage: e.Message,
		ErrorURL:     fmt.Sprintf("https://stytch.com/docs/api/errors/%d#%s", e.Status, e.Type),
	})
}

// maxBody is the largest request body Latch reads.
const maxBody = 1 << 20

// decode reads a JSON body into v. An empty body is an empty object;
// unknown fields are ignored; a syntax error or a value of the wrong type
// is a 400 that names the field; a body over 1 MiB is a 413, refused on its
// Content-Length before reading when the client declares it.
func decode(r *http.Request, v any) error {
	if r.ContentLength > maxBody {
		return auth.ErrRequestTooLarge
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return auth.ErrRequestTooLarge
		}
		return auth.ErrBadRequest.With("The request body could not be read.")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return decodeErr(err)
	}
	if hasNULEscape(b) {
		// PostgreSQL text cannot hold NUL: refuse it here, on every
		// backend alike, rather than fail at the database with a 500.
		return auth.ErrBadRequest.With("Strings may not contain NUL characters (\\u0000).")
	}
	return nil
}

// hasNULEscape reports a \u0000 escape in JSON text (one not itself
// escaped as \\u0000). Raw NUL bytes are already a JSON syntax error.
func hasNULEscape(b []byte) bool {
	for i := bytes.Index(b, []byte(`\u0000`)); i >= 0; {
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		k := bytes.Index(b[i+1:], []byte(`\u0000`))
		if k < 0 {
			return false
		}
		i += 1 + k
	}
	return false
}

// cleanText reports whether s is UTF-8 without NUL characters: what every
// id, address and credential is, and all that PostgreSQL text can hold.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// cleanURL reports whether the request's path and query values are clean
// text (they reach database queries as ids).
func cleanURL(u *url.URL) bool {
	if !cleanText(u.Path) {
		return false
	}
	q, _ := url.ParseQuery(u.RawQuery)
	for k, vs := range q {
		if !cleanText(k) {
			return false
		}
		for _, v := range vs {
			if !cleanText(v) {
				return false
			}
		}
	}
	return true
}

func decodeErr(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return auth.ErrBadRequest.With("Malformed JSON at byte %d: %s.", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return auth.ErrBadRequest.With("The request body must be a JSON object.")
		}
		return auth.ErrBadRequest.With("%s must be %s, not %s.", field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return auth.ErrBadRequest.With("Malformed JSON: %s.", err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "of another type"
}
