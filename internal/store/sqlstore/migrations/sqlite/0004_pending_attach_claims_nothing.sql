-- An address attached to an existing user by a send call (pending_until set,
-- not yet verified) is not an identity: it claims nothing. Uniqueness holds
-- among the methods that are identities (pending_until IS NULL: created with
-- the user, or verified); a pending attach only may not repeat on its own user.
-- SQLite cannot drop a table constraint, so both tables are rebuilt.

CREATE TABLE emails_new (
    id            TEXT    NOT NULL,
    project_id    TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    address_norm  TEXT    NOT NULL,
    verified      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    pending_until INTEGER,
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
INSERT INTO emails_new (id, project_id, user_id, address, address_norm, verified, created_at, pending_until)
    SELECT id, project_id, user_id, address, address_norm, verified, created_at, pending_until FROM emails;
DROP TABLE emails;
ALTER TABLE emails_new RENAME TO emails;
CREATE UNIQUE INDEX emails_address_norm_uq ON emails (project_id, address_norm) WHERE pending_until IS NULL;
CREATE UNIQUE INDEX emails_user_address_norm_uq ON emails (project_id, user_id, address_norm);
CREATE INDEX emails_user_idx ON emails (project_id, user_id, created_at);
CREATE INDEX emails_pending_idx ON emails (pending_until) WHERE pending_until IS NOT NULL;

CREATE TABLE phones_new (
    id            TEXT    NOT NULL,
    project_id    TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    number        TEXT    NOT NULL,
    verified      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    pending_until INTEGER,
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);
INSERT INTO phones_new (id, project_id, user_id, number, verified, created_at, pending_until)
    SELECT id, project_id, user_id, number, verified, created_at, pending_until FROM phones;
DROP TABLE phones;
ALTER TABLE phones_new RENAME TO phones;
CREATE UNIQUE INDEX phones_number_uq ON phones (project_id, number) WHERE pending_until IS NULL;
CREATE UNIQUE INDEX phones_user_number_uq ON phones (project_id, user_id, number);
CREATE INDEX phones_user_idx ON phones (project_id, user_id, created_at);
CREATE INDEX phones_pending_idx ON phones (pending_until) WHERE pending_until IS NOT NULL;
