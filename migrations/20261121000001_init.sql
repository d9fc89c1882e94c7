-- Pipelines keep every saved version of their definition; a run records the version it ran.
CREATE TABLE pipelines (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    description    TEXT,
    latest_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE pipeline_versions (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    source      TEXT    NOT NULL,  -- the document as the user wrote it
    definition  TEXT    NOT NULL,  -- the parsed pipeline, as JSON
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, version)
) WITHOUT ROWID;

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    tag         TEXT    NOT NULL,
    params      TEXT    NOT NULL,  -- JSON object
    status      TEXT    NOT NULL,
    message     TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    FOREIGN KEY (pipeline_id, version) REFERENCES pipeline_versions (pipeline_id, version)
);
-- Seed 000: at most one pending or running run per pipeline, enforced by the database.
CREATE UNIQUE INDEX runs_one_active_per_pipeline ON runs (pipeline_id) WHERE finished_at IS NULL;
CREATE UNIQUE INDEX runs_pipeline_number ON runs (pipeline_id, number);
-- Keyset pagination (id DESC) with and without filters.
CREATE INDEX runs_by_pipeline ON runs (pipeline_id, id);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_pipeline_status ON runs (pipeline_id, status, id);

CREATE TABLE steps (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    stage       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    needs       TEXT    NOT NULL,  -- JSON array of step names
    approval    INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    exit_code   INTEGER,
    message     TEXT,
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

-- One ordered stream per run: log lines, step status changes and run status changes.
-- `seq` is the SSE event id.
CREATE TABLE run_events (
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('log', 'step', 'run')),
    step      INTEGER,           -- step index, for log and step events
    stream    TEXT,              -- stdout | stderr | system, for log events
    partial   INTEGER NOT NULL DEFAULT 0,
    status    TEXT,              -- for step and run events
    exit_code INTEGER,
    text      TEXT,              -- the line, or a status message
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX run_events_by_step ON run_events (run_id, step, seq) WHERE kind = 'log';
