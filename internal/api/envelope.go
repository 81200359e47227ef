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
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

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

// Transport errors: what the router and the body reader refuse before any
// handler runs. They are HTTP's, so they live here; the domain's errors are
// auth's catalogue, and both are *auth.Error for the envelope.
var (
	errRouteNotFound    = &auth.Error{Status: http.StatusNotFound, Type: "route_not_found", Message: "The route does not exist."}
	errMethodNotAllowed = &auth.Error{Status: http.StatusMethodNotAllowed, Type: "method_not_allowed", Message: "The method is not allowed on this route."}
	errRequestTooLarge  = &auth.Error{Status: http.StatusRequestEntityTooLarge, Type: "request_too_large", Message: "The request body must be at most 1 MiB."}
)

// errorBody is Stytch's error envelope (Stytch: https://stytch.com/docs/api/errors).
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

// decode reads a JSON body into v, strictly: the body must be one JSON
// value of valid UTF-8 (lone surrogates too are refused); an object may not
// name a member twice, at any depth; member names match the fields
// exactly (no case folding: SESSION_TOKEN and ſession_token are unknown
// names, not session_token); every number fits an IEEE 754 double (I-JSON,
// RFC 7493: 1e400 is refused); no string holds NUL. Unknown members are
// ignored. An empty body is an empty object. A violation is a 400 that says
// what and where; a body over 1 MiB is a 413, refused on its Content-Length
// before reading when the client declares it. The decoder is
// github.com/go-json-experiment/json (encoding/json/v2), whose defaults are
// these rules.
func decode(r *http.Request, v any) error {
	if r.ContentLength > maxBody {
		return errRequestTooLarge
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errRequestTooLarge
		}
		return auth.ErrBadRequest.With("The request body could not be read.")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := checkValues(b); err != nil {
		return err
	}
	if err := jsonv2.Unmarshal(b, v); err != nil {
		return decodeErr(err)
	}
	return nil
}

// checkValues reads b token by token (which checks its syntax, UTF-8 and
// duplicate names) and refuses a number outside a double's range or a
// string with NUL: PostgreSQL text cannot hold NUL, and a number a client
// cannot decode would make every later read of that user fail. Metadata,
// custom claims and every other field pass through here.
func checkValues(b []byte) error {
	d := jsontext.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.ReadToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return decodeErr(err)
		}
		switch tok.Kind() {
		case '0':
			if _, err := strconv.ParseFloat(tok.String(), 64); err != nil {
				return auth.ErrBadRequest.With("The number %.40s at %s is outside the range of a double (I-JSON, RFC 7493).", tok.String(), pointer(d.StackPointer()))
			}
		case '"':
			if strings.IndexByte(tok.String(), 0) >= 0 {
				return auth.ErrBadRequest.With("Strings may not contain NUL characters (\\u0000).")
			}
		}
	}
}

// pointer names a place in the body for an error message.
func pointer(p jsontext.Pointer) string {
	if p == "" {
		return "the top level"
	}
	return string(p)
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

// quotedInput is a piece of the request that a JSON parser's message
// quotes between backquotes.
var quotedInput = regexp.MustCompile("`[^`]*`")

func decodeErr(err error) error {
	var se *jsontext.SyntacticError
	var te *jsonv2.SemanticError
	switch {
	case errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName):
		return auth.ErrBadRequest.With("The member %s appears twice in the request body.", pointer(se.JSONPointer))
	case errors.As(err, &se):
		// The parser quotes the bytes around a bad escape (`\ud800word-t`):
		// they may be part of a password, so the quote is left out.
		return auth.ErrBadRequest.With("Malformed JSON at byte %d: %s.", se.ByteOffset, quotedInput.ReplaceAllString(se.Err.Error(), "here"))
	case errors.As(err, &te):
		if te.JSONPointer == "" {
			return auth.ErrBadRequest.With("The request body must be a JSON object.")
		}
		field := strings.ReplaceAll(strings.TrimPrefix(string(te.JSONPointer), "/"), "/", ".")
		kind := "of another type"
		if te.GoType != nil {
			kind = jsonKind(te.GoType.Kind().String())
		}
		// The kind of the value, never the value: it may be a password or
		// a code sent in the wrong type.
		return auth.ErrBadRequest.With("%.200s must be %s, not %s.", field, kind, jsonKindName(te.JSONKind))
	}
	return auth.ErrBadRequest.With("Malformed JSON: %s.", err.Error())
}

// jsonKindName names a JSON value's kind as a message says it.
func jsonKindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value of another type"
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
