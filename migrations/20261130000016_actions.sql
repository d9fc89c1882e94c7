-- The action catalog (seeds 001 and 004): versioned step templates steps name as
-- `action: name@version`. A version is immutable once saved.
CREATE TABLE actions (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    -- The action as JSON (conveyor_core::definition::Action).
    definition  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT,
    UNIQUE (name, version)
);
-- Which catalog actions each pipeline's latest version names: an action in use cannot be
-- deleted (RESTRICT also closes the race with a save naming it).
CREATE TABLE action_uses (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    action_id   INTEGER NOT NULL REFERENCES actions (id) ON DELETE RESTRICT,
    PRIMARY KEY (pipeline_id, action_id)
) WITHOUT ROWID;
CREATE INDEX action_uses_by_action ON action_uses (action_id);
