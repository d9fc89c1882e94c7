//! Releases: each deploy of a workflow, recorded when its run ends.

use std::str::FromStr;

use conveyor_core::run::Trigger;
use conveyor_core::workflow::{Release, RolloutOutcome};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{corrupt, now_ms, Store, StoreResult};

/// A deploy that ended, as its run's supervisor saw it.
pub struct NewRelease<'a> {
    pub run_id: i64,
    /// What the Deployment was given (`name@sha256:…` when the digest is known).
    pub image: &'a str,
    pub digest: Option<&'a str>,
    pub outcome: RolloutOutcome,
    pub reason: Option<&'a str>,
    pub rollback_of: Option<i64>,
}

const RELEASE_COLUMNS: &str = "r.id, p.name AS workflow, r.run_id, r.run_number, r.tag, r.image, \
     r.digest, r.trigger, r.started_by, r.created_at, r.outcome, r.reason, r.rollback_of, \
     r.id = (SELECT MAX(l.id) FROM releases l WHERE l.pipeline_id = r.pipeline_id AND l.outcome = 'rolled_out') AS live";

fn release(row: &SqliteRow) -> StoreResult<Release> {
    let trigger: String = row.try_get("trigger")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(Release {
        id: row.try_get("id")?,
        workflow: row.try_get("workflow")?,
        run_id: row.try_get("run_id")?,
        run_number: row.try_get("run_number")?,
        tag: row.try_get("tag")?,
        image: row.try_get("image")?,
        digest: row.try_get("digest")?,
        trigger: Trigger::from_str(&trigger).map_err(corrupt)?,
        started_by: row.try_get("started_by")?,
        created_at: row.try_get("created_at")?,
        outcome: RolloutOutcome::from_str(&outcome).map_err(corrupt)?,
        reason: row.try_get("reason")?,
        rollback_of: row.try_get("rollback_of")?,
        live: row.try_get::<Option<bool>, _>("live")?.unwrap_or(false),
    })
}

impl Store {
    /// Records the deploy of a run (its workflow, number, tag, trigger and author are the
    /// run's); once per run.
    pub async fn record_release(&self, new: &NewRelease<'_>) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO releases (pipeline_id, run_id, run_number, tag, image, digest, trigger, started_by, \
             created_at, outcome, reason, rollback_of) \
             SELECT pipeline_id, id, number, tag, ?, ?, trigger, started_by, ?, ?, ?, ? FROM runs \
             WHERE id = ? AND NOT EXISTS (SELECT 1 FROM releases WHERE run_id = ?) RETURNING id",
        )
        .bind(new.image)
        .bind(new.digest)
        .bind(now_ms())
        .bind(new.outcome.as_str())
        .bind(new.reason)
        .bind(new.rollback_of)
        .bind(new.run_id)
        .bind(new.run_id)
        .fetch_optional(&self.writer)
        .await?;
        match row {
            Some(row) => Ok(row.try_get("id")?),
            None => Err(corrupt(format!(
                "run {} is not on record, or its release already is",
                new.run_id
            ))),
        }
    }

    /// A workflow's releases, newest first: `limit` of them, older than `before`.
    pub async fn releases(
        &self,
        pipeline_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Release>> {
        let rows = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases r JOIN pipelines p ON p.id = r.pipeline_id \
             WHERE r.pipeline_id = ? AND r.id < ? ORDER BY r.id DESC LIMIT ?"
        ))
        .bind(pipeline_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(release).collect()
    }

    /// One release of a workflow.
    pub async fn release(&self, pipeline_id: i64, id: i64) -> StoreResult<Option<Release>> {
        let row = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases r JOIN pipelines p ON p.id = r.pipeline_id \
             WHERE r.pipeline_id = ? AND r.id = ?"
        ))
        .bind(pipeline_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(release).transpose()
    }

    /// The newest release of a workflow that rolled out `image` (`name@sha256:…`).
    pub async fn release_with_image(
        &self,
        pipeline_id: i64,
        image: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(id) FROM releases WHERE pipeline_id = ? AND image = ? AND outcome = 'rolled_out'",
        )
        .bind(pipeline_id)
        .bind(image)
        .fetch_one(&self.reader)
        .await?)
    }
}
