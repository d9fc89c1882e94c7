//! What the scheduler keeps: which pipelines have schedules, and the latest slot each
//! schedule took (so a restart never starts a slot twice).

use sqlx::Row;

use super::{Store, StoreResult};

impl Store {
    /// The names of the pipelines whose latest version has schedules.
    pub async fn scheduled_pipelines(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM pipelines WHERE scheduled = 1 ORDER BY id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
    }

    /// The names of the pipelines whose latest version has Kubernetes triggers.
    pub async fn watching_pipelines(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM pipelines WHERE watching = 1 ORDER BY id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
    }

    /// The latest slot the schedule took (Unix milliseconds), if any.
    pub async fn last_slot(&self, pipeline_id: i64, schedule: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "SELECT last_slot FROM schedule_slots WHERE pipeline_id = ? AND schedule = ?",
        )
        .bind(pipeline_id)
        .bind(schedule)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(|row| row.try_get("last_slot")).transpose()?)
    }

    /// Takes a slot for the schedule: true when it is later than any it took before (the
    /// caller may start its run), false when it was taken already.
    pub async fn take_slot(
        &self,
        pipeline_id: i64,
        schedule: &str,
        slot: i64,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(
            "INSERT INTO schedule_slots (pipeline_id, schedule, last_slot) VALUES (?, ?, ?) \
             ON CONFLICT (pipeline_id, schedule) DO UPDATE SET last_slot = excluded.last_slot \
             WHERE last_slot < excluded.last_slot",
        )
        .bind(pipeline_id)
        .bind(schedule)
        .bind(slot)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }
}
