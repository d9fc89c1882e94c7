//! Pipelines and every saved version of their definition.

use std::collections::HashMap;
use std::str::FromStr;

use conveyor_core::dto::{RecentRun, RunSummary};
use conveyor_core::run::RunStatus;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{
    corrupt, is_unique_violation, now_ms, refuse_active_run, run_summary, Store, StoreError,
    StoreResult, RUN_COLUMNS,
};

/// A pipeline (its latest version is `version`).
#[derive(Debug, Clone)]
pub struct PipelineRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One saved version of a pipeline's definition.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: i64,
    pub created_at: i64,
    /// The document as the user wrote it.
    pub source: String,
    /// The parsed pipeline, as JSON.
    pub definition: String,
    /// Its plan, as JSON, made when it was saved (none for versions saved before plans were
    /// kept).
    pub plan: Option<String>,
}

/// What a new version records.
pub struct NewVersion<'a> {
    pub description: Option<&'a str>,
    pub source: &'a str,
    pub definition: &'a str,
    pub plan: &'a str,
    /// The repository it builds (`conveyor_core::triggers::repository_key`).
    pub repository: Option<&'a str>,
    /// It has `on.schedule`.
    pub scheduled: bool,
    /// It has `on.kubernetes`.
    pub watching: bool,
    /// The catalog actions (`name`, `version`) its steps name.
    pub actions: &'a [(String, String)],
}

const VERSION_COLUMNS: &str = "v.version, v.created_at, v.source, v.definition, v.plan";

fn version_row(row: &SqliteRow) -> StoreResult<VersionRow> {
    Ok(VersionRow {
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        source: row.try_get("source")?,
        definition: row.try_get("definition")?,
        plan: row.try_get("plan")?,
    })
}

impl Store {
    /// A new pipeline at version 1; a workflow's with its sealed `credentials`, in the same
    /// transaction.
    pub async fn create_pipeline(
        &self,
        name: &str,
        first: &NewVersion<'_>,
        credentials: Option<&[u8]>,
    ) -> StoreResult<PipelineRow> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO pipelines (name, description, latest_version, created_at, updated_at, repository, scheduled, watching) \
             VALUES (?, ?, 1, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(first.description)
        .bind(now)
        .bind(now)
        .bind(first.repository)
        .bind(first.scheduled)
        .bind(first.watching)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get("id")?,
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::PipelineExists(name.to_owned()))
            }
            Err(err) => return Err(err.into()),
        };
        insert_version(&mut tx, id, 1, first, now).await?;
        if let Some(credentials) = credentials {
            sqlx::query("INSERT INTO workflows (pipeline_id, credentials) VALUES (?, ?)")
                .bind(id)
                .bind(credentials)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(PipelineRow {
            id,
            name: name.to_owned(),
            description: first.description.map(str::to_owned),
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// Saves a new version of an existing pipeline (a workflow's with its re-sealed
    /// credentials); returns its number.
    pub async fn add_version(
        &self,
        pipeline_id: i64,
        next: &NewVersion<'_>,
        credentials: Option<&[u8]>,
    ) -> StoreResult<i64> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let version: i64 = sqlx::query(
            "UPDATE pipelines SET latest_version = latest_version + 1, description = ?, updated_at = ?, \
             repository = ?, scheduled = ?, watching = ? WHERE id = ? RETURNING latest_version",
        )
        .bind(next.description)
        .bind(now)
        .bind(next.repository)
        .bind(next.scheduled)
        .bind(next.watching)
        .bind(pipeline_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("latest_version")?;
        insert_version(&mut tx, pipeline_id, version, next, now).await?;
        if let Some(credentials) = credentials {
            sqlx::query("UPDATE workflows SET credentials = ? WHERE pipeline_id = ?")
                .bind(credentials)
                .bind(pipeline_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// A pipeline and its latest version.
    pub async fn pipeline(&self, name: &str) -> StoreResult<Option<(PipelineRow, VersionRow)>> {
        let row = sqlx::query(&format!(
            "SELECT p.id, p.name, p.description, p.latest_version, p.created_at AS pipeline_created_at, \
                    p.updated_at, {VERSION_COLUMNS} \
             FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.latest_version \
             WHERE p.name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| Ok((pipeline_row(&row, "id", "name")?, version_row(&row)?)))
            .transpose()
    }

    /// The last `limit` finished runs of every pipeline, oldest first, in one query (each
    /// pipeline's through the `(pipeline_id, id)` index, so a long history costs nothing).
    pub async fn recent_runs(&self, limit: u32) -> StoreResult<HashMap<i64, Vec<RecentRun>>> {
        let rows = sqlx::query(
            "SELECT r.pipeline_id, r.status, r.started_at, r.finished_at FROM pipelines p \
             JOIN runs r ON r.id IN (SELECT id FROM runs WHERE pipeline_id = p.id AND finished_at IS NOT NULL \
                                     ORDER BY id DESC LIMIT ?) \
             ORDER BY r.pipeline_id, r.id",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        let mut recent: HashMap<i64, Vec<RecentRun>> = HashMap::new();
        for row in rows {
            let started: Option<i64> = row.try_get("started_at")?;
            let finished: Option<i64> = row.try_get("finished_at")?;
            recent
                .entry(row.try_get("pipeline_id")?)
                .or_default()
                .push(RecentRun {
                    status: RunStatus::from_str(row.try_get::<&str, _>("status")?)
                        .map_err(corrupt)?,
                    duration_ms: started.zip(finished).map(|(s, f)| f - s),
                });
        }
        Ok(recent)
    }

    /// All pipelines by name with their latest run, in one query.
    pub async fn pipelines(&self) -> StoreResult<Vec<(PipelineRow, Option<RunSummary>)>> {
        let rows = sqlx::query(&format!(
            "SELECT p.id AS pipeline_id, p.description, p.latest_version, p.created_at AS pipeline_created_at, \
                    p.updated_at, {RUN_COLUMNS} \
             FROM pipelines p \
             LEFT JOIN runs r ON r.id = (SELECT MAX(id) FROM runs WHERE pipeline_id = p.id) \
             ORDER BY p.name"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let latest = match row.try_get::<Option<i64>, _>("id")? {
                    Some(_) => Some(run_summary(row)?),
                    None => None,
                };
                Ok((pipeline_row(row, "pipeline_id", "pipeline")?, latest))
            })
            .collect()
    }

    /// Every version of a pipeline, newest first.
    pub async fn versions(&self, pipeline_id: i64) -> StoreResult<Vec<VersionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM pipeline_versions v WHERE v.pipeline_id = ? ORDER BY v.version DESC"
        ))
        .bind(pipeline_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(version_row).collect()
    }

    pub async fn version(&self, pipeline_id: i64, version: i64) -> StoreResult<Option<VersionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM pipeline_versions v WHERE v.pipeline_id = ? AND v.version = ?"
        ))
        .bind(pipeline_id)
        .bind(version)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(version_row).transpose()
    }

    /// Deletes a pipeline with its versions and runs; refuses while a run is in flight.
    pub async fn delete_pipeline(&self, pipeline_id: i64) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        refuse_active_run(&mut tx, pipeline_id).await?;
        let runs: Vec<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pipelines WHERE id = ?")
            .bind(pipeline_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.forget_runs(&runs).await;
        Ok(())
    }
}

fn pipeline_row(row: &SqliteRow, id: &str, name: &str) -> StoreResult<PipelineRow> {
    Ok(PipelineRow {
        id: row.try_get(id)?,
        name: row.try_get(name)?,
        description: row.try_get("description")?,
        version: row.try_get("latest_version")?,
        created_at: row.try_get("pipeline_created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    pipeline_id: i64,
    version: i64,
    new: &NewVersion<'_>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO pipeline_versions (pipeline_id, version, source, definition, plan, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(pipeline_id)
    .bind(version)
    .bind(new.source)
    .bind(new.definition)
    .bind(new.plan)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    super::actions::set_uses(tx, pipeline_id, new.actions).await
}
