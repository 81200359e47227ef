package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Timestamps are stored as unix milliseconds, UTC.

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// msPtr maps a nil time to NULL.
func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// timePtr maps NULL to a nil time.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonObject returns raw as text, "{}" when empty.
func jsonObject(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	return string(raw)
}

// rawObject turns stored text back into a JSON object, never nil.
func rawObject(s string) json.RawMessage {
	if s == "" || s == "null" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s)
}

// jsonList encodes a slice, "[]" for nil.
func jsonList[T any](v []T) (string, error) {
	if v == nil {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlstore: encode json: %w", err)
	}
	return string(b), nil
}

// decodeList decodes a stored JSON array, never returning nil.
func decodeList[T any](s string) ([]T, error) {
	out := []T{}
	if s == "" || s == "null" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("sqlstore: decode json: %w", err)
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}
