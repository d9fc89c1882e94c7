-- Log lines move out of run_events into per-step segment files under logs/ (README, "The
-- log store"). Per step: how far its segment is committed, and its size once compressed.
ALTER TABLE steps ADD COLUMN log_lines INTEGER NOT NULL DEFAULT 0;      -- lines, system ones included
ALTER TABLE steps ADD COLUMN log_own INTEGER NOT NULL DEFAULT 0;        -- of which the step's own output
ALTER TABLE steps ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;      -- committed length of the segment
ALTER TABLE steps ADD COLUMN log_text INTEGER NOT NULL DEFAULT 0;       -- bytes of text in it
ALTER TABLE steps ADD COLUMN log_first_seq INTEGER;
ALTER TABLE steps ADD COLUMN log_last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN log_packed INTEGER;                        -- compressed size, once compressed

-- The sparse index of each segment: where decoding can start (a mark every ~256 KiB), and
-- where its zstd frame starts once the segment is compressed.
CREATE TABLE log_marks (
    run_id INTEGER NOT NULL,
    step   INTEGER NOT NULL,
    line   INTEGER NOT NULL,  -- lines of the step before the mark
    seq    INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    packed INTEGER,
    PRIMARY KEY (run_id, step, line),
    FOREIGN KEY (run_id, step) REFERENCES steps (run_id, idx) ON DELETE CASCADE
) WITHOUT ROWID;
