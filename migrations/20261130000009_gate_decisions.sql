-- Who started a run (none: the server itself, or a run from before accounts), and who
-- decided each approval gate, and when. A gate is decided once: the primary key makes a
-- second, concurrent decision fail.
ALTER TABLE runs ADD COLUMN started_by TEXT;

CREATE TABLE gate_decisions (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_idx   INTEGER NOT NULL,
    approved   INTEGER NOT NULL,
    decided_by TEXT    NOT NULL,
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_idx)
) WITHOUT ROWID;
