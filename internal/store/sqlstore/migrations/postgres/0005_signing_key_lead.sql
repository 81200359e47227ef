-- When a key starts signing (ms); NULL means created_at. A rotation with a lead
-- publishes the new key in the JWKS at once and signs with it from active_at.
ALTER TABLE signing_keys ADD COLUMN active_at BIGINT;
