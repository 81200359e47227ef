-- TOTP authenticator apps (RFC 6238), at most one per user: created
-- unverified (expires_at set), verified by the first accepted code.
-- last_step is the last accepted time step: a code is accepted only for a
-- later step (one conditional UPDATE), so each code is accepted once.
-- The secret is sealed under the master key.
CREATE TABLE totps (
    id            TEXT    NOT NULL,
    project_id    TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    secret_sealed BLOB    NOT NULL,
    verified      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_step     INTEGER NOT NULL DEFAULT -1,
    PRIMARY KEY (project_id, id),
    CONSTRAINT totps_user_uq UNIQUE (project_id, user_id),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
-- The sweep removes unverified TOTPs whose enrolment window has ended.
CREATE INDEX totps_expires_idx ON totps (expires_at) WHERE expires_at IS NOT NULL;

-- Single-use recovery codes: HMAC-SHA-256 under the install key for the
-- lookup, and sealed under the master key for totps/recovery_codes until
-- used (code_sealed is erased with the use).
CREATE TABLE totp_recovery_codes (
    id          TEXT    NOT NULL,
    project_id  TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    totp_id     TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    code_hash   BLOB    NOT NULL,
    code_sealed BLOB,
    used_at     INTEGER,
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, totp_id) REFERENCES totps (project_id, id) ON DELETE CASCADE
);
CREATE INDEX totp_recovery_codes_totp_idx ON totp_recovery_codes (project_id, totp_id, code_hash);
