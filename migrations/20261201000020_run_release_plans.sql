-- A workflow run's deploy as planned when it started (JSON: the step that deploys, the image
-- it deploys, and for a rollback the release it deploys again), so that a run a restarted
-- server resumes is still recorded as a release when it ends.
ALTER TABLE runs ADD COLUMN release_plan TEXT;
