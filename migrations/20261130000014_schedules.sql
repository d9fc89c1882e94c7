-- Pipelines whose latest version has `on.schedule` (the scheduler reads only these), and
-- those with `on.kubernetes` (the watchers are made from these).
ALTER TABLE pipelines ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN watching INTEGER NOT NULL DEFAULT 0;
-- The latest slot each schedule (cron expression and time zone) has taken: a slot is taken
-- once, across restarts, whether its run started or it was skipped (catch_up: false).
CREATE TABLE schedule_slots (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    schedule    TEXT    NOT NULL,
    last_slot   INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, schedule)
) WITHOUT ROWID;
