-- The frontend SDK's credentials: a project's public token (public, so kept
-- as is) and the origins whose pages may call /sdk/v1 with it.
CREATE TABLE sdk_public_tokens (
    project_id TEXT    PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    token      TEXT    NOT NULL UNIQUE,
    -- Bootstrap's pkce_required_for_email_magic_links: the SDK then sends a
    -- code_challenge with every magic link, and Latch refuses one without.
    pkce_required BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT  NOT NULL
);

CREATE TABLE sdk_origins (
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    origin     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (project_id, origin)
);
CREATE INDEX sdk_origins_origin_idx ON sdk_origins (origin);
