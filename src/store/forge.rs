//! Forge deliveries: each accepted once per delivery id, with what it did for each pipeline
//! of its repository.

use conveyor_core::dto::DeliverySummary;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{is_unique_violation, now_ms, Store, StoreError, StoreResult};

/// A delivery about to be recorded.
pub struct NewDelivery<'a> {
    pub forge: &'a str,
    pub delivery: &'a str,
    pub event: &'a str,
    pub git_ref: Option<&'a str>,
    pub commit_sha: Option<&'a str>,
    /// What makes it the same delivery: SHA-256 of the forge, body and proven pipelines.
    pub fingerprint: &'a [u8],
}

fn summary(row: &SqliteRow) -> StoreResult<DeliverySummary> {
    Ok(DeliverySummary {
        forge: row.try_get("forge")?,
        delivery: row.try_get("delivery")?,
        event: row.try_get("event")?,
        git_ref: row.try_get("git_ref")?,
        commit_sha: row.try_get("commit_sha")?,
        received_at: row.try_get("received_at")?,
        pipeline: row.try_get("pipeline")?,
        run_id: row.try_get("run_id")?,
        run_number: row.try_get("run_number")?,
        reason: row.try_get("reason")?,
    })
}

const SUMMARY: &str =
    "SELECT d.forge, d.delivery, d.event, d.git_ref, d.commit_sha, d.received_at, \
     p.name AS pipeline, x.run_id, r.number AS run_number, x.reason \
     FROM forge_delivery_results x JOIN forge_deliveries d ON d.id = x.delivery_id \
     JOIN pipelines p ON p.id = x.pipeline_id LEFT JOIN runs r ON r.id = x.run_id";

impl Store {
    /// The pipelines whose latest version builds one of these repositories (by key).
    pub async fn pipelines_of_repository(&self, keys: &[String]) -> StoreResult<Vec<String>> {
        let mut names = Vec::new();
        for key in keys {
            let rows = sqlx::query("SELECT name FROM pipelines WHERE repository = ? ORDER BY id")
                .bind(key)
                .fetch_all(&self.reader)
                .await?;
            for row in rows {
                let name: String = row.try_get("name")?;
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    /// Records a delivery once: its row id, or [`StoreError::DuplicateDelivery`] with the
    /// first one's when the same fingerprint came before.
    pub async fn record_forge_delivery(&self, new: &NewDelivery<'_>) -> StoreResult<i64> {
        let inserted = sqlx::query(
            "INSERT INTO forge_deliveries (forge, delivery, event, git_ref, commit_sha, received_at, fingerprint) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.forge)
        .bind(new.delivery)
        .bind(new.event)
        .bind(new.git_ref)
        .bind(new.commit_sha)
        .bind(now_ms())
        .bind(new.fingerprint)
        .fetch_one(&self.writer)
        .await;
        match inserted {
            Ok(row) => Ok(row.try_get("id")?),
            Err(err) if is_unique_violation(&err) => {
                let first: i64 =
                    sqlx::query("SELECT id FROM forge_deliveries WHERE fingerprint = ?")
                        .bind(new.fingerprint)
                        .fetch_one(&self.writer)
                        .await?
                        .try_get("id")?;
                Err(StoreError::DuplicateDelivery(first))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// What a delivery did for one pipeline: the run it started, or why none.
    pub async fn record_delivery_result(
        &self,
        delivery_id: i64,
        pipeline: &str,
        run_id: Option<i64>,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO forge_delivery_results (delivery_id, pipeline_id, run_id, reason) \
             SELECT ?, id, ?, ? FROM pipelines WHERE name = ?",
        )
        .bind(delivery_id)
        .bind(run_id)
        .bind(reason)
        .bind(pipeline)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// What one delivery did, pipeline by pipeline.
    pub async fn delivery_results(&self, delivery_id: i64) -> StoreResult<Vec<DeliverySummary>> {
        let rows = sqlx::query(&format!("{SUMMARY} WHERE d.id = ? ORDER BY p.name"))
            .bind(delivery_id)
            .fetch_all(&self.writer)
            .await?;
        rows.iter().map(summary).collect()
    }

    /// A pipeline's latest deliveries, newest first.
    pub async fn deliveries_of(
        &self,
        pipeline_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliverySummary>> {
        let rows = sqlx::query(&format!(
            "{SUMMARY} WHERE x.pipeline_id = ? ORDER BY x.delivery_id DESC LIMIT ?"
        ))
        .bind(pipeline_id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(summary).collect()
    }
}
