-- Latch schema, PostgreSQL. Timestamps are unix milliseconds (UTC); JSON is TEXT.

CREATE TABLE projects (
    id             TEXT PRIMARY KEY,
    name           TEXT    NOT NULL,
    live           BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL,
    lock_threshold BIGINT  NOT NULL,
    lock_ttl_ms    BIGINT  NOT NULL
);

CREATE TABLE project_secrets (
    id         TEXT    NOT NULL,
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    hash       BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE redirect_urls (
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url        TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (project_id, url)
);

CREATE TABLE users (
    id                 TEXT    NOT NULL,
    project_id         TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    external_id        TEXT,
    status             TEXT    NOT NULL,
    first_name         TEXT    NOT NULL,
    middle_name        TEXT    NOT NULL,
    last_name          TEXT    NOT NULL,
    trusted_metadata   TEXT    NOT NULL,
    untrusted_metadata TEXT    NOT NULL,
    roles              TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    failed_auths       BIGINT  NOT NULL DEFAULT 0,
    lock_created_at    BIGINT,
    lock_expires_at    BIGINT,
    PRIMARY KEY (project_id, id),
    CONSTRAINT users_external_id_uq UNIQUE (project_id, external_id)
);
CREATE INDEX users_created_idx ON users (project_id, created_at, id);

CREATE TABLE emails (
    id            TEXT    NOT NULL,
    project_id    TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    address_norm  TEXT    NOT NULL,
    verified      BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL,
    pending_until BIGINT,
    PRIMARY KEY (project_id, id),
    CONSTRAINT emails_address_norm_uq UNIQUE (project_id, address_norm),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
CREATE INDEX emails_user_idx ON emails (project_id, user_id, created_at);
CREATE INDEX emails_pending_idx ON emails (pending_until) WHERE pending_until IS NOT NULL;

CREATE TABLE phones (
    id            TEXT    NOT NULL,
    project_id    TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    number        TEXT    NOT NULL,
    verified      BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL,
    pending_until BIGINT,
    PRIMARY KEY (project_id, id),
    CONSTRAINT phones_number_uq UNIQUE (project_id, number),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
CREATE INDEX phones_user_idx ON phones (project_id, user_id, created_at);
CREATE INDEX phones_pending_idx ON phones (pending_until) WHERE pending_until IS NOT NULL;

CREATE TABLE magic_links (
    token_hash     BYTEA   NOT NULL,
    project_id     TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id        TEXT    NOT NULL,
    email_id       TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    ip_address     TEXT    NOT NULL,
    user_agent     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT,
    PRIMARY KEY (project_id, token_hash),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
CREATE INDEX magic_links_user_idx ON magic_links (project_id, user_id);
CREATE INDEX magic_links_expires_idx ON magic_links (expires_at);

CREATE TABLE otps (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT    NOT NULL,
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    method_id  TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    code_hash  BYTEA   NOT NULL,
    attempts   BIGINT  NOT NULL DEFAULT 0,
    ip_address TEXT    NOT NULL,
    user_agent TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    CONSTRAINT otps_id_uq UNIQUE (project_id, id),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
CREATE INDEX otps_method_idx ON otps (project_id, method_id, created_at, seq);
CREATE INDEX otps_user_idx ON otps (project_id, user_id);
CREATE INDEX otps_expires_idx ON otps (expires_at);

CREATE TABLE sessions (
    id               TEXT    NOT NULL,
    project_id       TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id          TEXT    NOT NULL,
    token_hash       BYTEA   NOT NULL,
    started_at       BIGINT  NOT NULL,
    last_accessed_at BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    ip_address       TEXT    NOT NULL,
    user_agent       TEXT    NOT NULL,
    custom_claims    TEXT    NOT NULL,
    factors          TEXT    NOT NULL,
    roles            TEXT    NOT NULL,
    PRIMARY KEY (project_id, id),
    CONSTRAINT sessions_token_hash_uq UNIQUE (project_id, token_hash),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (project_id, user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE signing_keys (
    kid             TEXT    NOT NULL,
    project_id      TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    private_key_enc BYTEA   NOT NULL,
    cert_der        BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL,
    retired_at      BIGINT,
    expires_at      BIGINT,
    PRIMARY KEY (project_id, kid)
);
CREATE INDEX signing_keys_created_idx ON signing_keys (project_id, created_at);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    payload         BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    sent_at         BIGINT,
    dead_at         BIGINT,
    last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due_idx ON outbox (sent_at, dead_at, next_attempt_at);
CREATE INDEX outbox_recipient_idx ON outbox (recipient, id);
CREATE INDEX outbox_project_idx ON outbox (project_id);

-- Rate-limit counters: one row per (project, key, window).
CREATE TABLE rate_limits (
    project_id   TEXT    NOT NULL,
    bucket       TEXT    NOT NULL,
    window_start BIGINT  NOT NULL,
    hits         BIGINT  NOT NULL,
    PRIMARY KEY (project_id, bucket, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
