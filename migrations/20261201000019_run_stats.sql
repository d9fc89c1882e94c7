-- The dashboard's panel: daily aggregates of ended runs, kept as runs end. The panel reads
-- these, so what it costs depends on the window's days and pipelines, not on how many runs
-- there are. A run is counted once (`counted`); aggregates outlive the runs retention
-- deletes, and go with their pipeline.
ALTER TABLE runs ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
-- Only ended runs not counted yet: nearly always none or one.
CREATE INDEX runs_uncounted ON runs (id) WHERE counted = 0 AND finished_at IS NOT NULL;

CREATE TABLE run_days (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    -- UTC day of the run's creation: created_at / 86400000.
    day         INTEGER NOT NULL,
    runs        INTEGER NOT NULL,
    succeeded   INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, day)
) WITHOUT ROWID;
-- The same over every pipeline, so the panel of all of them reads a row per day (runs of
-- pipelines deleted since stay in these totals).
CREATE TABLE all_run_days (
    day       INTEGER PRIMARY KEY,
    runs      INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    failed    INTEGER NOT NULL
);

-- Run durations as a histogram per day: bucket k counts runs that took at least
-- duration_buckets[k - 1].low_ms and less than duration_buckets[k].low_ms (bucket 0: under
-- 1 ms; one longer than the last bound counts in the last bucket). The bounds grow by 2^(1/4) (19 %), so a percentile read from them is within 10 %.
CREATE TABLE duration_buckets (
    k      INTEGER PRIMARY KEY,
    low_ms REAL    NOT NULL
);
WITH RECURSIVE bounds (k, low_ms) AS (
    SELECT 0, 1.0
    UNION ALL
    SELECT k + 1, low_ms * 1.189207115002721 FROM bounds WHERE k < 139
)
INSERT INTO duration_buckets SELECT k, low_ms FROM bounds;

-- A day's histogram is one row: `runs` is a JSON array whose element k counts bucket k.
CREATE TABLE run_day_durations (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    day         INTEGER NOT NULL,
    runs        TEXT    NOT NULL,
    PRIMARY KEY (pipeline_id, day)
) WITHOUT ROWID;
CREATE TABLE all_run_day_durations (
    day  INTEGER PRIMARY KEY,
    runs TEXT    NOT NULL
);

-- Steps per day, and per week (day / 7) for the whole weeks of a long window: a window of
-- 90 days reads 12 weeks and the few days at its ends.
CREATE TABLE step_days (
    day         INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    step        TEXT    NOT NULL,
    runs        INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    total_ms    INTEGER NOT NULL,
    max_ms      INTEGER NOT NULL,
    PRIMARY KEY (day, pipeline_id, step)
) WITHOUT ROWID;
CREATE INDEX step_days_by_pipeline ON step_days (pipeline_id, day);
CREATE TABLE step_weeks (
    week        INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    step        TEXT    NOT NULL,
    runs        INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    total_ms    INTEGER NOT NULL,
    max_ms      INTEGER NOT NULL,
    PRIMARY KEY (week, pipeline_id, step)
) WITHOUT ROWID;
CREATE INDEX step_weeks_by_pipeline ON step_weeks (pipeline_id, week);
