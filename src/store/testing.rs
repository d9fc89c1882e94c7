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
}
