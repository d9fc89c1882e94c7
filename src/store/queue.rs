//! Each pipeline's queue: runs that wait for the runs before them to end, started oldest
//! first. A queued run is not in flight: the one-run-in-flight index leaves it out.

use std::str::FromStr;

use conveyor_core::run::RunStatus;
use sqlx::Row;

use super::{corrupt, is_unique_violation, Store, StoreResult};

impl Store {
    /// Takes the pipeline's oldest queued run out of the queue (it becomes pending) when no
    /// run of the pipeline is in flight: its id. `None` when the queue is empty or a run is
    /// still in flight.
    pub async fn take_queued(&self, pipeline_id: i64) -> StoreResult<Option<i64>> {
        let taken = sqlx::query(
            "UPDATE runs SET status = 'pending' WHERE id = \
             (SELECT id FROM runs WHERE pipeline_id = ? AND status = 'queued' ORDER BY id LIMIT 1) \
             RETURNING id",
        )
        .bind(pipeline_id)
        .fetch_optional(&self.writer)
        .await;
        match taken {
            Ok(row) => Ok(row.map(|row| row.try_get("id")).transpose()?),
            Err(err) if is_unique_violation(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Every queued run, oldest first: its id and its pipeline's.
    pub async fn queued_runs(&self) -> StoreResult<Vec<(i64, i64)>> {
        let rows =
            sqlx::query("SELECT id, pipeline_id FROM runs WHERE status = 'queued' ORDER BY id")
                .fetch_all(&self.writer)
                .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("pipeline_id")?)))
            .collect()
    }

    /// The pipeline's runs from `branch` (none: runs from no branch) and of the same pull
    /// request (none: of none) made before run `before` that have not ended, oldest first,
    /// with their statuses.
    pub async fn older_unfinished(
        &self,
        pipeline_id: i64,
        branch: Option<&str>,
        pull_request: Option<i64>,
        before: i64,
    ) -> StoreResult<Vec<(i64, RunStatus)>> {
        let rows = sqlx::query(
            "SELECT id, status FROM runs WHERE pipeline_id = ? AND finished_at IS NULL \
             AND branch IS ? AND pr_number IS ? AND id < ? ORDER BY id",
        )
        .bind(pipeline_id)
        .bind(branch)
        .bind(pull_request)
        .bind(before)
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| {
                let status = RunStatus::from_str(row.try_get::<&str, _>("status")?);
                Ok((row.try_get("id")?, status.map_err(corrupt)?))
            })
            .collect()
    }
}
