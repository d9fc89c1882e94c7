-- Secrets steps get, global ('' scope) or for one pipeline (its name as scope), sealed with
-- the server's key (bound to scope and name); the value is never stored in clear.
CREATE TABLE secrets (
    scope      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;
