-- Runs wait their turn. A `queued` run is not in flight: at most one run per pipeline is
-- (the index below replaces the first migration's, which counted every unfinished run).
DROP INDEX runs_one_active_per_pipeline;
CREATE UNIQUE INDEX runs_one_active_per_pipeline ON runs (pipeline_id)
    WHERE finished_at IS NULL AND status != 'queued';
-- Each pipeline's queue, oldest first.
CREATE INDEX runs_queued ON runs (pipeline_id, id) WHERE status = 'queued';
-- The branch a run's code came from (cancel-previous cancels within a branch).
ALTER TABLE runs ADD COLUMN branch TEXT;
