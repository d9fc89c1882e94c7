-- The image a run pushed, pinned by digest (`name@sha256:…`), as its registry reported it
-- once the run ended.
ALTER TABLE runs ADD COLUMN image TEXT;
