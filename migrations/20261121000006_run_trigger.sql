-- How each run started: from the web UI, through the API, or as a re-run of another run.
-- Runs from before this column existed were all started through the UI or the API; they
-- count as `api`.
ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'api';
CREATE INDEX runs_by_trigger ON runs (trigger, id);
CREATE INDEX runs_by_pipeline_trigger ON runs (pipeline_id, trigger, id);
