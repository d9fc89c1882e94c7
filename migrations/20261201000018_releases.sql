-- Releases: each deploy of a workflow, the image it put on the cluster (by digest) and how
-- its rollout ended. A release outlives its run (retention may delete the run); ids are
-- never reused, so a rollback's `rollback_of` always means the release it names.
CREATE TABLE releases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    run_id      INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    run_number  INTEGER NOT NULL,
    tag         TEXT    NOT NULL,
    -- What the Deployment was given: `name@sha256:…` when the digest is known.
    image       TEXT    NOT NULL,
    digest      TEXT,
    trigger     TEXT    NOT NULL,
    started_by  TEXT,
    created_at  INTEGER NOT NULL,
    -- `rolled_out` or `failed` (with the deploy step's reason).
    outcome     TEXT    NOT NULL,
    reason      TEXT,
    rollback_of INTEGER REFERENCES releases (id) ON DELETE SET NULL
);
CREATE INDEX releases_by_pipeline ON releases (pipeline_id, id);
CREATE INDEX releases_by_run ON releases (run_id);
CREATE INDEX releases_live ON releases (pipeline_id, outcome, id);
