-- A definition is planned once, when it is saved: each version keeps its plan (JSON). Versions
-- saved before this column have none and are planned when read.
ALTER TABLE pipeline_versions ADD COLUMN plan TEXT;
-- A run carries its steps as they were resolved when it started (what each one runs, in which
-- image, with which variables and webhooks; JSON), so a re-run of its failed steps and a
-- restarted server run exactly that. Runs from before this column have none.
ALTER TABLE runs ADD COLUMN resolved TEXT;
