//! Pruning finished runs by a pipeline's retention policy, in small batches.

use sqlx::Row;

use super::{Store, StoreResult};

impl Store {
    /// Up to `limit` finished runs of a pipeline its policy no longer keeps, oldest first:
    /// outside its last `keep_runs` runs (if set) and created before `before_ms` (if set),
    /// never its latest successful run, never a run in flight or queued.
    pub async fn prunable_runs(
        &self,
        pipeline_id: i64,
        keep_runs: Option<u32>,
        before_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT id FROM runs WHERE pipeline_id = ?1 AND finished_at IS NOT NULL \
             AND (?2 IS NULL OR id < COALESCE((SELECT MIN(id) FROM \
                 (SELECT id FROM runs WHERE pipeline_id = ?1 ORDER BY id DESC LIMIT ?2)), 0)) \
             AND (?3 IS NULL OR created_at < ?3) \
             AND id IS NOT (SELECT MAX(id) FROM runs WHERE pipeline_id = ?1 AND status = 'succeeded') \
             ORDER BY id LIMIT ?4",
        )
        .bind(pipeline_id)
        .bind(keep_runs)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// The ids of a pipeline's runs, oldest first.
    pub async fn run_ids(&self, pipeline_id: i64) -> StoreResult<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM runs WHERE pipeline_id = ? ORDER BY id")
                .bind(pipeline_id)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    /// Deletes finished runs with everything that hangs off them (steps, events, log
    /// segments and their index, webhook deliveries, gate decisions); how many went.
    pub async fn delete_finished_runs(&self, ids: &[i64]) -> StoreResult<u64> {
        let ids = serde_json::to_string(ids).map_err(super::corrupt)?;
        let deleted: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM runs WHERE finished_at IS NOT NULL AND id IN (SELECT value FROM json_each(?)) \
             RETURNING id",
        )
        .bind(ids)
        .fetch_all(&self.writer)
        .await?;
        // Off the record first: a crash in between leaves files that start-up removes.
        self.forget_runs(&deleted).await;
        Ok(deleted.len() as u64)
    }

    /// Gives the pages pruned runs freed back to the file system, a little at a time, then
    /// truncates the write-ahead log; the search index's too.
    pub async fn reclaim_space(&self) -> StoreResult<()> {
        loop {
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&self.writer)
                .await?;
            if free == 0 {
                break;
            }
            sqlx::query("PRAGMA incremental_vacuum(1000)")
                .execute(&self.writer)
                .await?;
            tokio::task::yield_now().await;
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        self.search.reclaim().await
    }
}
