-- One row per webhook call (after its retries). Only scheme://host[:port] of the URL is
-- kept: paths and queries of chat-bot hooks carry tokens.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    ok          INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_run ON webhook_deliveries (run_id, id);
