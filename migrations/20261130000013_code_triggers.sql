-- What code a run built: the commit, its ref, author and message, the pull request, and a
-- link to the commit on its forge (runs started by people have none).
ALTER TABLE runs ADD COLUMN commit_sha TEXT;
ALTER TABLE runs ADD COLUMN git_ref TEXT;
ALTER TABLE runs ADD COLUMN commit_author TEXT;
ALTER TABLE runs ADD COLUMN commit_message TEXT;
ALTER TABLE runs ADD COLUMN pr_number INTEGER;
ALTER TABLE runs ADD COLUMN commit_url TEXT;
ALTER TABLE runs ADD COLUMN forge TEXT;
-- A pull request from a fork: its runs (and re-runs) get none of the pipeline's secrets.
ALTER TABLE runs ADD COLUMN from_fork INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_by_pipeline_branch ON runs (pipeline_id, branch, id);
CREATE INDEX runs_by_branch ON runs (branch, id);

-- The repository a pipeline's latest version builds (`conveyor_core::triggers::
-- repository_key`), so a forge's delivery finds its pipelines by index.
ALTER TABLE pipelines ADD COLUMN repository TEXT;
CREATE INDEX pipelines_by_repository ON pipelines (repository) WHERE repository IS NOT NULL;

-- Each forge delivery Conveyor accepted (its signature verified), once: what it was, and
-- for each pipeline of its repository the run it started or why none. Once means once per
-- fingerprint (SHA-256 of the forge, the body and the pipelines whose secret it proved):
-- the forge's delivery id is not signed, so a replayed body under a new id is the same.
CREATE TABLE forge_deliveries (
    id           INTEGER PRIMARY KEY,
    forge        TEXT    NOT NULL,
    delivery     TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    git_ref      TEXT,
    commit_sha   TEXT,
    received_at  INTEGER NOT NULL,
    fingerprint  BLOB    NOT NULL UNIQUE
);
CREATE TABLE forge_delivery_results (
    delivery_id  INTEGER NOT NULL REFERENCES forge_deliveries (id) ON DELETE CASCADE,
    pipeline_id  INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    run_id       INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    reason       TEXT,
    PRIMARY KEY (delivery_id, pipeline_id)
) WITHOUT ROWID;
CREATE INDEX forge_delivery_results_by_pipeline ON forge_delivery_results (pipeline_id, delivery_id);
