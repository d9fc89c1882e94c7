-- History filters: by tag (keyset within a tag), and by date (a date range becomes an id
-- range through this index: ids grow with creation time).
CREATE INDEX runs_by_tag ON runs (tag, id);
CREATE INDEX runs_by_pipeline_tag ON runs (pipeline_id, tag, id);
CREATE INDEX runs_by_created ON runs (created_at);
