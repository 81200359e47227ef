package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latch-auth/latch/internal/store"
)

// wrap maps driver errors to the store's sentinel errors:
// sql.ErrNoRows → ErrNotFound, unique violations → ErrDuplicate…/
// ErrAlreadyExists, and failures to reach the database → ErrUnavailable.
func (db *DB) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if isSentinel(err) {
		return err
	}
	if c := constraint(err); c != nil {
		return c
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func isSentinel(err error) bool {
	for _, s := range []error{store.ErrNotFound, store.ErrDuplicateEmail, store.ErrDuplicatePhone,
		store.ErrDuplicateExternal, store.ErrAlreadyExists, store.ErrConsumed, store.ErrUnavailable} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// constraint returns the sentinel for a unique-constraint violation (or
// ErrNotFound for a foreign key naming a missing parent), nil for any other
// error. Constraint names (PostgreSQL) and table.column lists (SQLite) tell
// which uniqueness was broken.
func constraint(err error) error {
	var text string
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr):
		if pgErr.Code == "23503" { // foreign_key_violation
			return fmt.Errorf("%w: %s", store.ErrNotFound, pgErr.Message)
		}
		if pgErr.Code != "23505" { // unique_violation
			return nil
		}
		text = pgErr.ConstraintName + " " + pgErr.Message
	case errors.As(err, &liteErr):
		code := liteErr.Code()
		if code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return fmt.Errorf("%w: %s", store.ErrNotFound, liteErr.Error())
		}
		if code != sqlite3.SQLITE_CONSTRAINT_UNIQUE && code != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return nil
		}
		text = liteErr.Error()
	default:
		return nil
	}
	switch {
	case strings.Contains(text, "emails_address_norm_uq"), strings.Contains(text, "emails_user_address_norm_uq"),
		strings.Contains(text, "emails.address_norm"):
		return store.ErrDuplicateEmail
	case strings.Contains(text, "phones_number_uq"), strings.Contains(text, "phones_user_number_uq"),
		strings.Contains(text, "phones.number"):
		return store.ErrDuplicatePhone
	case strings.Contains(text, "users_external_id_uq"), strings.Contains(text, "users.external_id"):
		return store.ErrDuplicateExternal
	}
	return store.ErrAlreadyExists
}

// unavailable reports whether err means the database could not be reached
// or is not answering.
func unavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, cannot connect now
			pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if pgconn.Timeout(err) {
		return true
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return true
		}
		return false
	}
	if strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection refused") {
		return true
	}
	return false
}

// isBusy reports a SQLite lock held by another connection or process.
func isBusy(err error) bool {
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		c := liteErr.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}
