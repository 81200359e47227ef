-- The session token sealed under the master key, so that an authenticate by
-- JWT can return the session_token. NULL for sessions made before.
ALTER TABLE sessions ADD COLUMN token_sealed BYTEA;
