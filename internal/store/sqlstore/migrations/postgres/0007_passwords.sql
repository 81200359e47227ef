-- Passwords: one per user, stored as a self-describing hash (Argon2id in
-- PHC form, or a migrated hash with its parameters), never the password.
CREATE TABLE passwords (
    id         TEXT    NOT NULL,
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    -- requires_reset: set when the user's unverified address is first
    -- proved by a passwordless login (the password may be someone else's).
    requires_reset BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id),
    CONSTRAINT passwords_user_uq UNIQUE (project_id, user_id),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, id) ON DELETE CASCADE
);

-- The password strength policy: zxcvbn (Stytch's default) or luds, with
-- the LUDS minimum length (8–32) and complexity (1–4); 0 = the default (8, 3).
ALTER TABLE projects ADD COLUMN password_policy TEXT NOT NULL DEFAULT 'zxcvbn';
ALTER TABLE projects ADD COLUMN luds_min_length BIGINT NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN luds_complexity BIGINT NOT NULL DEFAULT 0;
