//! Who decided each approval gate of a run, and when.

use conveyor_core::dto::GateDecision;
use sqlx::Row;

use super::{is_unique_violation, now_ms, Store, StoreError, StoreResult};

impl Store {
    /// Records a decision of the gate at `step` (its index) of run `run_id`; a gate already
    /// decided is [`StoreError::Decided`].
    pub async fn record_decision(
        &self,
        run_id: i64,
        step: usize,
        approved: bool,
        by: &str,
    ) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO gate_decisions (run_id, step_idx, approved, decided_by, decided_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(run_id)
        .bind(step as i64)
        .bind(approved)
        .bind(by)
        .bind(now_ms())
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => Err(StoreError::Decided),
            Err(err) => Err(err.into()),
        }
    }

    /// Takes back a decision the run did not take (it ended meanwhile).
    pub async fn forget_decision(&self, run_id: i64, step: usize) -> StoreResult<()> {
        sqlx::query("DELETE FROM gate_decisions WHERE run_id = ? AND step_idx = ?")
            .bind(run_id)
            .bind(step as i64)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// A run's decisions, in the order of its steps.
    pub async fn decisions(&self, run_id: i64) -> StoreResult<Vec<GateDecision>> {
        let rows = sqlx::query(
            "SELECT s.name, d.approved, d.decided_by, d.decided_at FROM gate_decisions d \
             JOIN steps s ON s.run_id = d.run_id AND s.idx = d.step_idx \
             WHERE d.run_id = ? ORDER BY d.step_idx",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GateDecision {
                    step: row.try_get("name")?,
                    approved: row.try_get("approved")?,
                    by: row.try_get("decided_by")?,
                    at: row.try_get("decided_at")?,
                })
            })
            .collect()
    }
}
