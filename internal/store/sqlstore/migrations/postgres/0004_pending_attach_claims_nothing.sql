-- An address attached to an existing user by a send call (pending_until set,
-- not yet verified) is not an identity: it claims nothing. Uniqueness holds
-- among the methods that are identities (pending_until IS NULL: created with
-- the user, or verified); a pending attach only may not repeat on its own user.
ALTER TABLE emails DROP CONSTRAINT emails_address_norm_uq;
CREATE UNIQUE INDEX emails_address_norm_uq ON emails (project_id, address_norm) WHERE pending_until IS NULL;
CREATE UNIQUE INDEX emails_user_address_norm_uq ON emails (project_id, user_id, address_norm);

ALTER TABLE phones DROP CONSTRAINT phones_number_uq;
CREATE UNIQUE INDEX phones_number_uq ON phones (project_id, number) WHERE pending_until IS NULL;
CREATE UNIQUE INDEX phones_user_number_uq ON phones (project_id, user_id, number);
