-- The operators' console (internal/console).

-- Operators: the email addresses allowed to sign in to the console
-- (lower-cased), added with `latch console operators add`.
CREATE TABLE console_operators (
    email      TEXT   PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Sign-in links: single use, short-lived, stored as SHA-256.
CREATE TABLE console_tokens (
    token_hash BYTEA  PRIMARY KEY,
    email      TEXT   NOT NULL REFERENCES console_operators (email) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX console_tokens_expires_idx ON console_tokens (expires_at);

-- Console sessions: the cookie's value is stored as SHA-256; removing an
-- operator removes their sessions.
CREATE TABLE console_sessions (
    id           TEXT   PRIMARY KEY,
    token_hash   BYTEA  NOT NULL UNIQUE,
    email        TEXT   NOT NULL REFERENCES console_operators (email) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ip_address   TEXT   NOT NULL,
    user_agent   TEXT   NOT NULL
);
CREATE INDEX console_sessions_email_idx ON console_sessions (email);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- The audit log of console sign-ins and actions (kept when an operator goes).
CREATE TABLE console_audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    email      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    ip_address TEXT   NOT NULL,
    user_agent TEXT   NOT NULL
);

-- A project's most recent sessions, and logins per minute.
CREATE INDEX sessions_started_idx ON sessions (project_id, started_at);

-- The console's own sign-in emails belong to no project (NULL).
ALTER TABLE outbox ALTER COLUMN project_id DROP NOT NULL;
