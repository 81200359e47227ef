-- The operators' console (internal/console).

-- Operators: the email addresses allowed to sign in to the console
-- (lower-cased), added with `latch console operators add`.
CREATE TABLE console_operators (
    email      TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- Sign-in links: single use, short-lived, stored as SHA-256.
CREATE TABLE console_tokens (
    token_hash BLOB    PRIMARY KEY,
    email      TEXT    NOT NULL REFERENCES console_operators (email) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX console_tokens_expires_idx ON console_tokens (expires_at);

-- Console sessions: the cookie's value is stored as SHA-256; removing an
-- operator removes their sessions.
CREATE TABLE console_sessions (
    id           TEXT    PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    email        TEXT    NOT NULL REFERENCES console_operators (email) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip_address   TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
);
CREATE INDEX console_sessions_email_idx ON console_sessions (email);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- The audit log of console sign-ins and actions (kept when an operator goes).
CREATE TABLE console_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    email      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    ip_address TEXT    NOT NULL,
    user_agent TEXT    NOT NULL
);

-- A project's most recent sessions, and logins per minute.
CREATE INDEX sessions_started_idx ON sessions (project_id, started_at);

-- The console's own sign-in emails belong to no project: outbox.project_id
-- becomes nullable (NULL = the console). SQLite cannot drop NOT NULL, so the
-- table is rebuilt, ids kept.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id      TEXT    REFERENCES projects (id) ON DELETE CASCADE,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    dead_at         INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    handed_off_at   INTEGER
);
INSERT INTO outbox_new (id, project_id, channel, recipient, payload, created_at, attempts, next_attempt_at, sent_at, dead_at, last_error, handed_off_at)
    SELECT id, project_id, channel, recipient, payload, created_at, attempts, next_attempt_at, sent_at, dead_at, last_error, handed_off_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due_idx ON outbox (sent_at, dead_at, next_attempt_at);
CREATE INDEX outbox_recipient_idx ON outbox (recipient, id);
CREATE INDEX outbox_project_idx ON outbox (project_id);
