-- Who did what, and when: sign-ins, changes to pipelines, workflows, accounts, tokens and
-- secrets, and what was done to runs. Rows are only ever added.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT,              -- the account; NULL: the server itself
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT,
    address TEXT
);
CREATE INDEX audit_by_actor ON audit_log (actor, id);
CREATE INDEX audit_by_action ON audit_log (action, id);
CREATE INDEX audit_by_target ON audit_log (target, id);
