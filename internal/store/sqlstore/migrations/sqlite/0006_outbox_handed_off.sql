-- When a message was last handed to its transport without an outcome
-- recorded yet: set just before the hand-off, cleared by a failure.
ALTER TABLE outbox ADD COLUMN handed_off_at INTEGER;
