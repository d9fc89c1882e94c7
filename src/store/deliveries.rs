//! The outcome of each webhook call a run made.

use conveyor_core::dto::WebhookDelivery;
use sqlx::Row;

use super::{Store, StoreResult};

impl Store {
    pub async fn record_delivery(
        &self,
        run_id: i64,
        delivery: &WebhookDelivery,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (run_id, step, event, target, attempts, status_code, error, ok, at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(run_id)
        .bind(&delivery.step)
        .bind(&delivery.event)
        .bind(&delivery.target)
        .bind(delivery.attempts)
        .bind(delivery.status_code)
        .bind(&delivery.error)
        .bind(delivery.ok)
        .bind(delivery.at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn deliveries(&self, run_id: i64) -> StoreResult<Vec<WebhookDelivery>> {
        let rows = sqlx::query(
            "SELECT step, event, target, attempts, status_code, error, ok, at \
             FROM webhook_deliveries WHERE run_id = ? ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WebhookDelivery {
                    step: row.try_get("step")?,
                    event: row.try_get("event")?,
                    target: row.try_get("target")?,
                    attempts: row.try_get("attempts")?,
                    status_code: row.try_get("status_code")?,
                    error: row.try_get("error")?,
                    ok: row.try_get("ok")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }
}
