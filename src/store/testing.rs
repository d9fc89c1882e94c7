//! Hooks for tests and benchmarks only (the `testing` feature): never in a production
//! build.

use conveyor_core::dto::RunsQuery;
use sqlx::Row;

use super::runs::runs_query;
use super::{Store, StoreResult};

impl Store {
    /// The query plan of a run listing, to check that it uses an index.
    pub async fn explain_runs(
        &self,
        pipeline_id: Option<i64>,
        query: &RunsQuery,
    ) -> StoreResult<Vec<String>> {
        let limit = i64::from(query.page_size());
        let ids = self.id_range(query).await?.unwrap_or((0, 0));
        let rows = runs_query("EXPLAIN QUERY PLAN ", pipeline_id, query, ids, limit + 1)
            .build()
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("detail")?))
            .collect()
    }

    /// Bulk-inserts finished runs (for scale tests and benchmarks).
    pub async fn insert_finished_runs(&self, pipeline_id: i64, count: i64) -> StoreResult<()> {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
             INSERT INTO runs (pipeline_id, version, number, tag, params, status, created_at, started_at, finished_at) \
             SELECT ?1, 1, (SELECT COALESCE(MAX(number), 0) FROM runs WHERE pipeline_id = ?1) + i, 'v' || i, '{}', \
                    CASE i % 3 WHEN 0 THEN 'failed' ELSE 'succeeded' END, i, i, i + 1000 FROM n",
        )
        .bind(pipeline_id)
        .bind(count)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Bulk-inserts `count` ended runs of the given pipelines (round robin, each at version
    /// 1), spread evenly over the `days` days before `now_ms`, each with three steps, one
    /// run in five failed at its last step (for benchmarks of the dashboard's panel). They
    /// are not counted in the aggregates until [`Store::count_ended_runs`].
    pub async fn insert_history(
        &self,
        pipelines: &[i64],
        count: i64,
        days: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        let ids = serde_json::to_string(pipelines).unwrap_or_default();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
             INSERT INTO runs (pipeline_id, version, number, tag, params, status, created_at, started_at, finished_at) \
             SELECT json_extract(?1, '$[' || (i % json_array_length(?1)) || ']'), 1, \
                    (SELECT COALESCE(MAX(number), 0) FROM runs) + i, 'v' || i, '{}', \
                    CASE i % 5 WHEN 0 THEN 'failed' ELSE 'succeeded' END, \
                    ?4 - i * (?3 * 86400000 / ?2), ?4 - i * (?3 * 86400000 / ?2), \
                    ?4 - i * (?3 * 86400000 / ?2) + 1000 + (i * 7919) % 60000 FROM n",
        )
        .bind(&ids)
        .bind(count)
        .bind(days)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO steps (run_id, idx, stage, name, needs, approval, status, started_at, finished_at) \
             SELECT r.id, k.idx, 'all', k.name, '[]', 0, \
                    CASE WHEN k.idx = 2 AND r.status = 'failed' THEN 'failed' ELSE 'succeeded' END, \
                    r.started_at, r.started_at + (r.finished_at - r.started_at) * (k.idx + 1) / 3 \
             FROM runs r CROSS JOIN (SELECT 0 AS idx, 'checkout' AS name UNION ALL SELECT 1, 'build' \
                                     UNION ALL SELECT 2, 'test') k \
             WHERE r.counted = 0 AND r.finished_at IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = r.id)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
