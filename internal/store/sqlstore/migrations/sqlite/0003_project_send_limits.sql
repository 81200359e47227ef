-- Per-project send limits, per minute; 0 means Latch's default.
ALTER TABLE projects ADD COLUMN recipient_sends_per_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN project_sends_per_minute INTEGER NOT NULL DEFAULT 0;
