-- The engine a run went to (a pipeline may ask for one over the server's default); a run
-- is resumed after a restart by the engine that ran it.
ALTER TABLE runs ADD COLUMN engine TEXT NOT NULL DEFAULT 'local';
