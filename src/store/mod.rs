//! History in SQLite: pipelines and their versions, runs, steps and each run's event
//! stream. One writer connection (SQLite serialises writes anyway; a single writer avoids
//! lock upgrades failing with SQLITE_BUSY) and a pool of read-only connections, in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use app::definition::Params;
use app::model::{
    EventBody, LogLine, LogStream, RecentRun, RunEvent, RunStatus, RunSummary, StepState,
    StepStatus, Trigger, WebhookDelivery,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("a pipeline named \"{0}\" already exists")]
    PipelineExists(String),
    #[error("the pipeline already has a pending or running run")]
    ActiveRun,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    writer: SqlitePool,
    reader: SqlitePool,
}

#[derive(Debug, Clone)]
pub struct PipelineRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub source: String,
    pub definition: String,
}

#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: i64,
    pub created_at: i64,
    pub source: String,
    pub definition: String,
}

/// A step as recorded when its run is created.
pub struct NewStep {
    pub stage: String,
    pub name: String,
    pub needs: Vec<String>,
    pub approval: bool,
    /// A step a retry takes over: recorded as succeeded, with this message.
    pub reused: Option<String>,
}

/// Everything one supervisor batch writes, in one transaction.
#[derive(Default)]
pub struct Batch {
    pub events: Vec<RunEvent>,
    pub run_status: Option<(RunStatus, Option<String>)>,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub pipeline_id: Option<i64>,
    pub status: Option<RunStatus>,
    pub tag: Option<String>,
    /// Only runs created at or after this (Unix ms).
    pub since: Option<i64>,
    /// Only runs created before this (Unix ms).
    pub until: Option<i64>,
    pub trigger: Option<Trigger>,
    pub before: Option<i64>,
    pub limit: u32,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

const RUN_COLUMNS: &str =
    "r.id, p.name AS pipeline, r.number, r.version, r.tag, r.status, r.message, \
                           r.created_at, r.started_at, r.finished_at, r.engine, r.trigger";

fn run_summary(row: &SqliteRow) -> StoreResult<RunSummary> {
    Ok(RunSummary {
        id: row.try_get("id")?,
        pipeline: row.try_get("pipeline")?,
        number: row.try_get("number")?,
        version: row.try_get("version")?,
        tag: row.try_get("tag")?,
        status: RunStatus::from_str(row.try_get::<&str, _>("status")?).map_err(corrupt)?,
        message: row.try_get("message")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        engine: row.try_get("engine")?,
        trigger: Trigger::from_str(row.try_get::<&str, _>("trigger")?).map_err(corrupt)?,
    })
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Store {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Store { writer, reader })
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    pub async fn create_pipeline(
        &self,
        name: &str,
        description: Option<&str>,
        source: &str,
        definition: &str,
    ) -> StoreResult<PipelineRow> {
        self.create_pipeline_with(name, description, source, definition, None)
            .await
    }

    /// A workflow: its pipeline and its sealed credentials, in one transaction.
    pub async fn create_workflow(
        &self,
        name: &str,
        description: Option<&str>,
        source: &str,
        definition: &str,
        credentials: &[u8],
    ) -> StoreResult<PipelineRow> {
        self.create_pipeline_with(name, description, source, definition, Some(credentials))
            .await
    }

    async fn create_pipeline_with(
        &self,
        name: &str,
        description: Option<&str>,
        source: &str,
        definition: &str,
        credentials: Option<&[u8]>,
    ) -> StoreResult<PipelineRow> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO pipelines (name, description, latest_version, created_at, updated_at) \
             VALUES (?, ?, 1, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get("id")?,
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::PipelineExists(name.to_owned()))
            }
            Err(err) => return Err(err.into()),
        };
        sqlx::query(
            "INSERT INTO pipeline_versions (pipeline_id, version, source, definition, created_at) VALUES (?, 1, ?, ?, ?)",
        )
        .bind(id)
        .bind(source)
        .bind(definition)
        .bind(now)
        .execute(&mut *tx)
        .await?;
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
            description: description.map(str::to_owned),
            version: 1,
            created_at: now,
            updated_at: now,
            source: source.to_owned(),
            definition: definition.to_owned(),
        })
    }

    /// Saves a new version of an existing pipeline; returns its number.
    pub async fn add_version(
        &self,
        pipeline_id: i64,
        description: Option<&str>,
        source: &str,
        definition: &str,
    ) -> StoreResult<i64> {
        self.add_version_with(pipeline_id, description, source, definition, None)
            .await
    }

    /// Saves a new version of a workflow with its (re-sealed) credentials.
    pub async fn add_workflow_version(
        &self,
        pipeline_id: i64,
        description: Option<&str>,
        source: &str,
        definition: &str,
        credentials: &[u8],
    ) -> StoreResult<i64> {
        self.add_version_with(
            pipeline_id,
            description,
            source,
            definition,
            Some(credentials),
        )
        .await
    }

    async fn add_version_with(
        &self,
        pipeline_id: i64,
        description: Option<&str>,
        source: &str,
        definition: &str,
        credentials: Option<&[u8]>,
    ) -> StoreResult<i64> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let version: i64 = sqlx::query(
            "UPDATE pipelines SET latest_version = latest_version + 1, description = ?, updated_at = ? \
             WHERE id = ? RETURNING latest_version",
        )
        .bind(description)
        .bind(now)
        .bind(pipeline_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("latest_version")?;
        sqlx::query(
            "INSERT INTO pipeline_versions (pipeline_id, version, source, definition, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(pipeline_id)
        .bind(version)
        .bind(source)
        .bind(definition)
        .bind(now)
        .execute(&mut *tx)
        .await?;
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

    /// A workflow's sealed credentials; `None` when the pipeline is not a workflow.
    pub async fn workflow_credentials(&self, pipeline_id: i64) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT credentials FROM workflows WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| row.try_get("credentials"))
            .transpose()
            .map_err(Into::into)
    }

    /// Whether the pipeline is a workflow (without reading its sealed credentials).
    pub async fn is_workflow(&self, pipeline_id: i64) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM workflows WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    /// Names of the pipelines that are workflows.
    pub async fn workflow_names(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT p.name FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id ORDER BY p.name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
    }

    pub async fn pipeline(&self, name: &str) -> StoreResult<Option<PipelineRow>> {
        let row = sqlx::query(
            "SELECT p.id, p.name, p.description, p.latest_version, p.created_at, p.updated_at, v.source, v.definition \
             FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.latest_version \
             WHERE p.name = ?",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(PipelineRow {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                version: row.try_get("latest_version")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                source: row.try_get("source")?,
                definition: row.try_get("definition")?,
            })
        })
        .transpose()
    }

    /// The last `limit` finished runs of every pipeline, oldest first, in one query (each
    /// pipeline's through the `(pipeline_id, id)` index, so a long history costs nothing).
    pub async fn recent_runs(
        &self,
        limit: u32,
    ) -> StoreResult<std::collections::HashMap<i64, Vec<RecentRun>>> {
        let rows = sqlx::query(
            "SELECT r.pipeline_id, r.status, r.started_at, r.finished_at FROM pipelines p \
             JOIN runs r ON r.id IN (SELECT id FROM runs WHERE pipeline_id = p.id AND finished_at IS NOT NULL \
                                     ORDER BY id DESC LIMIT ?) \
             ORDER BY r.pipeline_id, r.id",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        let mut recent: std::collections::HashMap<i64, Vec<RecentRun>> =
            std::collections::HashMap::new();
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
                let pipeline = PipelineRow {
                    id: row.try_get("pipeline_id")?,
                    name: row.try_get("pipeline")?,
                    description: row.try_get("description")?,
                    version: row.try_get("latest_version")?,
                    created_at: row.try_get("pipeline_created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    source: String::new(),
                    definition: String::new(),
                };
                Ok((pipeline, latest))
            })
            .collect()
    }

    pub async fn versions(&self, pipeline_id: i64) -> StoreResult<Vec<VersionRow>> {
        let rows = sqlx::query(
            "SELECT version, created_at, source, definition FROM pipeline_versions WHERE pipeline_id = ? ORDER BY version DESC",
        )
        .bind(pipeline_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(version_row).collect()
    }

    pub async fn version(&self, pipeline_id: i64, version: i64) -> StoreResult<Option<VersionRow>> {
        let row = sqlx::query(
            "SELECT version, created_at, source, definition FROM pipeline_versions WHERE pipeline_id = ? AND version = ?",
        )
        .bind(pipeline_id)
        .bind(version)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(version_row).transpose()
    }

    pub async fn delete_pipeline(&self, pipeline_id: i64) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        let active: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM runs WHERE pipeline_id = ? AND finished_at IS NULL",
        )
        .bind(pipeline_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if active > 0 {
            return Err(StoreError::ActiveRun);
        }
        sqlx::query("DELETE FROM pipelines WHERE id = ?")
            .bind(pipeline_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes every finished run of a pipeline (seed 000's `emptytask`); refuses while one
    /// is in flight. Returns how many were deleted.
    pub async fn delete_runs(&self, pipeline_id: i64) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        let active: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM runs WHERE pipeline_id = ? AND finished_at IS NULL",
        )
        .bind(pipeline_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if active > 0 {
            return Err(StoreError::ActiveRun);
        }
        let deleted = sqlx::query("DELETE FROM runs WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected())
    }

    /// Records a new pending run and its steps. Fails with [`StoreError::ActiveRun`] when the
    /// pipeline already has a run in flight (checked by a unique index, so races lose too).
    pub async fn create_run(
        &self,
        pipeline_id: i64,
        version: i64,
        tag: &str,
        params: &Params,
        steps: &[NewStep],
        engine: &str,
        trigger: Trigger,
    ) -> StoreResult<RunSummary> {
        let now = now_ms();
        let params = serde_json::to_string(params).map_err(corrupt)?;
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (pipeline_id, version, number, tag, params, status, created_at, engine, trigger) \
             VALUES (?1, ?2, (SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline_id = ?1), ?3, ?4, 'pending', ?5, ?6, ?7) \
             RETURNING id",
        )
        .bind(pipeline_id)
        .bind(version)
        .bind(tag)
        .bind(&params)
        .bind(now)
        .bind(engine)
        .bind(trigger.as_str())
        .fetch_one(&mut *tx)
        .await;
        let run_id: i64 = match inserted {
            Ok(row) => row.try_get("id")?,
            Err(err) if is_unique_violation(&err) => return Err(StoreError::ActiveRun),
            Err(err) => return Err(err.into()),
        };
        let needs: Vec<String> = steps
            .iter()
            .map(|step| serde_json::to_string(&step.needs).map_err(corrupt))
            .collect::<StoreResult<_>>()?;
        let rows: Vec<(usize, &NewStep)> = steps.iter().enumerate().collect();
        for chunk in rows.chunks(4000) {
            let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO steps (run_id, idx, stage, name, needs, approval, status, message) ",
            );
            insert.push_values(chunk, |mut row, &(idx, step)| {
                row.push_bind(run_id)
                    .push_bind(idx as i64)
                    .push_bind(&step.stage)
                    .push_bind(&step.name)
                    .push_bind(&needs[idx])
                    .push_bind(step.approval)
                    .push_bind(if step.reused.is_some() {
                        "succeeded"
                    } else {
                        "pending"
                    })
                    .push_bind(step.reused.as_deref());
            });
            insert.build().execute(&mut *tx).await?;
        }
        let summary = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?"))
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?;
        let summary = run_summary(&summary)?;
        tx.commit().await?;
        Ok(summary)
    }

    pub async fn run(&self, id: i64) -> StoreResult<Option<RunSummary>> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(run_summary).transpose()
    }

    pub async fn run_params(&self, id: i64) -> StoreResult<Params> {
        let text: String = sqlx::query("SELECT params FROM runs WHERE id = ?")
            .bind(id)
            .fetch_one(&self.reader)
            .await?
            .try_get("params")?;
        serde_json::from_str(&text).map_err(corrupt)
    }

    /// The pipeline id and version a run executed.
    pub async fn run_origin(&self, id: i64) -> StoreResult<(i64, i64)> {
        let row = sqlx::query("SELECT pipeline_id, version FROM runs WHERE id = ?")
            .bind(id)
            .fetch_one(&self.reader)
            .await?;
        Ok((row.try_get("pipeline_id")?, row.try_get("version")?))
    }

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

    pub async fn steps(&self, run_id: i64) -> StoreResult<Vec<StepState>> {
        let rows = sqlx::query(
            "SELECT idx, stage, name, needs, approval, status, exit_code, message, started_at, finished_at \
             FROM steps WHERE run_id = ? ORDER BY idx",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StepState {
                    index: row.try_get::<i64, _>("idx")? as usize,
                    stage: row.try_get("stage")?,
                    name: row.try_get("name")?,
                    needs: serde_json::from_str(row.try_get::<&str, _>("needs")?)
                        .map_err(corrupt)?,
                    approval: row.try_get("approval")?,
                    status: StepStatus::from_str(row.try_get::<&str, _>("status")?)
                        .map_err(corrupt)?,
                    exit_code: row.try_get("exit_code")?,
                    message: row.try_get("message")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            })
            .collect()
    }

    /// One page of runs, newest first, by keyset (`before` = the last id of the previous page).
    pub async fn runs(&self, filter: &RunFilter) -> StoreResult<(Vec<RunSummary>, Option<i64>)> {
        let limit = filter.limit.clamp(1, 500) as i64;
        let Some(ids) = self.id_range(filter).await? else {
            return Ok((Vec::new(), None));
        };
        let rows = runs_query("", filter, ids, limit + 1)
            .build()
            .fetch_all(&self.reader)
            .await?;
        let mut runs: Vec<RunSummary> = rows.iter().map(run_summary).collect::<StoreResult<_>>()?;
        let next = if runs.len() as i64 > limit {
            runs.truncate(limit as usize);
            runs.last().map(|r| r.id)
        } else {
            None
        };
        Ok((runs, next))
    }

    /// The ids a date filter allows, found through the `created_at` index; `None` when no
    /// run falls in the range.
    async fn id_range(&self, filter: &RunFilter) -> StoreResult<Option<(i64, i64)>> {
        let mut range = (0, i64::MAX);
        if let Some(since) = filter.since {
            let row = sqlx::query("SELECT MIN(id) AS id FROM runs WHERE created_at >= ?")
                .bind(since)
                .fetch_one(&self.reader)
                .await?;
            match row.try_get::<Option<i64>, _>("id")? {
                Some(id) => range.0 = id,
                None => return Ok(None),
            }
        }
        if let Some(until) = filter.until {
            let row = sqlx::query("SELECT MAX(id) AS id FROM runs WHERE created_at < ?")
                .bind(until)
                .fetch_one(&self.reader)
                .await?;
            match row.try_get::<Option<i64>, _>("id")? {
                Some(id) => range.1 = id,
                None => return Ok(None),
            }
        }
        Ok(Some(range))
    }

    /// The last event sequence number of a run (0 when it has none).
    pub async fn last_seq(&self, run_id: i64) -> StoreResult<i64> {
        Ok(
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM run_events WHERE run_id = ?")
                .bind(run_id)
                .fetch_one(&self.writer)
                .await?
                .try_get("seq")?,
        )
    }

    /// Persists a supervisor batch: events, the step rows they change and the run status,
    /// in one transaction of a few multi-row statements.
    pub async fn append(
        &self,
        run_id: i64,
        step_names: &[String],
        batch: &Batch,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        // Each row binds 10 values; SQLite allows 32766 per statement.
        for events in batch.events.chunks(3000) {
            let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO run_events (run_id, seq, ts, kind, step, stream, partial, status, exit_code, text) ",
            );
            insert.push_values(events, |mut row, event| {
                let (kind, step, stream, partial, status, exit_code, text) = match &event.body {
                    EventBody::Log {
                        step,
                        stream,
                        text,
                        partial,
                    } => (
                        "log",
                        step_index(step_names, step),
                        Some(stream.as_str()),
                        *partial,
                        None,
                        None,
                        Some(text.as_str()),
                    ),
                    EventBody::Step {
                        step,
                        status,
                        exit_code,
                        message,
                    } => (
                        "step",
                        step_index(step_names, step),
                        None,
                        false,
                        Some(status.as_str()),
                        *exit_code,
                        message.as_deref(),
                    ),
                    EventBody::Run { status, message } => (
                        "run",
                        None,
                        None,
                        false,
                        Some(status.as_str()),
                        None,
                        message.as_deref(),
                    ),
                };
                row.push_bind(run_id)
                    .push_bind(event.seq)
                    .push_bind(event.ts)
                    .push_bind(kind)
                    .push_bind(step)
                    .push_bind(stream)
                    .push_bind(partial)
                    .push_bind(status)
                    .push_bind(exit_code)
                    .push_bind(text);
            });
            insert.build().execute(&mut *tx).await?;
        }
        // The step rows: the last state each step reached in this batch.
        let mut changes: Vec<StepChange> = Vec::new();
        for event in &batch.events {
            if let EventBody::Step {
                step,
                status,
                exit_code,
                message,
            } = &event.body
            {
                let Some(idx) = step_index(step_names, step) else {
                    continue;
                };
                let change = match changes.iter_mut().find(|c| c.idx == idx) {
                    Some(change) => change,
                    None => {
                        changes.push(StepChange {
                            idx,
                            ..Default::default()
                        });
                        changes.last_mut().ok_or_else(|| corrupt("step change"))?
                    }
                };
                change.status = status.as_str();
                change.exit_code = exit_code.or(change.exit_code);
                change.message = message.clone().or(change.message.take());
                if *status == StepStatus::Running {
                    change.started_at = Some(event.ts);
                }
                if status.is_terminal() {
                    change.finished_at = Some(event.ts);
                }
            }
        }
        for changes in changes.chunks(3000) {
            let mut update: QueryBuilder<Sqlite> = QueryBuilder::new(
                "UPDATE steps SET status = v.column2, exit_code = COALESCE(v.column3, steps.exit_code), \
                 message = COALESCE(v.column4, steps.message), started_at = COALESCE(v.column5, steps.started_at), \
                 finished_at = COALESCE(v.column6, steps.finished_at) FROM (",
            );
            update.push_values(changes, |mut row, change| {
                row.push_bind(change.idx)
                    .push_bind(change.status)
                    .push_bind(change.exit_code)
                    .push_bind(change.message.as_deref())
                    .push_bind(change.started_at)
                    .push_bind(change.finished_at);
            });
            update
                .push(") AS v WHERE steps.run_id = ")
                .push_bind(run_id)
                .push(" AND steps.idx = v.column1");
            update.build().execute(&mut *tx).await?;
        }
        if let Some((status, message)) = &batch.run_status {
            let now = now_ms();
            sqlx::query(
                "UPDATE runs SET status = ?1, message = COALESCE(?2, message), \
                 started_at = COALESCE(started_at, ?3), \
                 finished_at = CASE WHEN ?4 THEN ?3 ELSE finished_at END \
                 WHERE id = ?5",
            )
            .bind(status.as_str())
            .bind(message)
            .bind(now)
            .bind(status.is_terminal())
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Events of a run with `seq > after`, in order, at most `limit`.
    pub async fn events_after(
        &self,
        run_id: i64,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<RunEvent>> {
        let rows = sqlx::query(
            "SELECT e.seq, e.ts, e.kind, s.name AS step, e.stream, e.partial, e.status, e.exit_code, e.text \
             FROM run_events e LEFT JOIN steps s ON s.run_id = e.run_id AND s.idx = e.step \
             WHERE e.run_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(run_event).collect()
    }

    /// Log lines of a run (optionally of one step), in order, at most `limit` after `after`.
    pub async fn log_lines(
        &self,
        run_id: i64,
        step: Option<usize>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, String, String, bool)>> {
        let rows = sqlx::query(
            "SELECT e.seq, s.name AS step, e.text, e.partial FROM run_events e \
             JOIN steps s ON s.run_id = e.run_id AND s.idx = e.step \
             WHERE e.run_id = ?1 AND e.kind = 'log' AND (?2 IS NULL OR e.step = ?2) AND e.seq > ?3 \
             ORDER BY e.seq LIMIT ?4",
        )
        .bind(run_id)
        .bind(step.map(|s| s as i64))
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("seq")?,
                    row.try_get("step")?,
                    row.try_get("text")?,
                    row.try_get("partial")?,
                ))
            })
            .collect()
    }

    /// The last `limit` log lines of a run, oldest first, each numbered within its step as
    /// the log viewer numbers them (every log event of the step counts). Read in one
    /// transaction, so the numbers agree with the lines even while the run is writing.
    pub async fn log_tail(&self, run_id: i64, limit: u32) -> StoreResult<Vec<LogLine>> {
        let mut tx = self.reader.begin().await?;
        let counts = sqlx::query("SELECT step, COUNT(*) AS n FROM run_events WHERE run_id = ?1 AND kind = 'log' GROUP BY step")
            .bind(run_id)
            .fetch_all(&mut *tx)
            .await?;
        let mut next: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for row in &counts {
            next.insert(row.try_get("step")?, row.try_get::<i64, _>("n")? as usize);
        }
        let rows = sqlx::query(
            "SELECT e.seq, e.step AS idx, s.name AS step, e.stream, e.text FROM run_events e \
             JOIN steps s ON s.run_id = e.run_id AND s.idx = e.step \
             WHERE e.run_id = ?1 AND e.kind = 'log' ORDER BY e.seq DESC LIMIT ?2",
        )
        .bind(run_id)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            // Newest first: each step's lines count down from its total.
            let number = next.entry(row.try_get("idx")?).or_insert(0);
            lines.push(LogLine {
                seq: row.try_get("seq")?,
                step: row.try_get("step")?,
                number: *number,
                stream: LogStream::from_str(
                    row.try_get::<Option<&str>, _>("stream")?
                        .unwrap_or("stdout"),
                )
                .map_err(corrupt)?,
                text: row
                    .try_get::<Option<String>, _>("text")?
                    .unwrap_or_default(),
            });
            *number = number.saturating_sub(1);
        }
        lines.reverse();
        Ok(lines)
    }

    /// Per step of a run: log pieces recorded from the step itself (the engines' system
    /// lines not counted), and whether it ever waited for approval.
    pub async fn step_progress(
        &self,
        run_id: i64,
        steps: usize,
    ) -> StoreResult<(Vec<u64>, Vec<bool>)> {
        let mut lines = vec![0u64; steps];
        let mut waited = vec![false; steps];
        let counts = sqlx::query(
            "SELECT step, COUNT(*) AS n FROM run_events \
             WHERE run_id = ? AND kind = 'log' AND stream != 'system' GROUP BY step",
        )
        .bind(run_id)
        .fetch_all(&self.writer)
        .await?;
        for row in counts {
            let (step, count): (i64, i64) = (row.try_get("step")?, row.try_get("n")?);
            if let Some(slot) = lines.get_mut(step as usize) {
                *slot = count as u64;
            }
        }
        let gates = sqlx::query(
            "SELECT DISTINCT step FROM run_events WHERE run_id = ? AND kind = 'step' AND status = 'waiting_approval'",
        )
        .bind(run_id)
        .fetch_all(&self.writer)
        .await?;
        for row in gates {
            if let Some(slot) = waited.get_mut(row.try_get::<i64, _>("step")? as usize) {
                *slot = true;
            }
        }
        Ok((lines, waited))
    }

    /// Runs left in flight by a previous server process.
    pub async fn unfinished_runs(&self) -> StoreResult<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM runs WHERE finished_at IS NULL")
            .fetch_all(&self.writer)
            .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// Query plans for the run listings, for tests that check index use.
    pub async fn explain_runs(&self, filter: &RunFilter) -> StoreResult<Vec<String>> {
        let limit = filter.limit.clamp(1, 500) as i64;
        let ids = self.id_range(filter).await?.unwrap_or((0, 0));
        let rows = runs_query("EXPLAIN QUERY PLAN ", filter, ids, limit + 1)
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

/// The run listing: only the conditions in use, so SQLite picks the matching index.
/// `ids` bounds the run ids (both inclusive): a date range made an id range.
fn runs_query<'a>(
    prefix: &str,
    filter: &'a RunFilter,
    ids: (i64, i64),
    limit: i64,
) -> QueryBuilder<'a, Sqlite> {
    let mut query: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("{prefix}SELECT {RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE 1 = 1"));
    if let Some(pipeline_id) = filter.pipeline_id {
        query.push(" AND r.pipeline_id = ").push_bind(pipeline_id);
    }
    if let Some(status) = filter.status {
        query.push(" AND r.status = ").push_bind(status.as_str());
    }
    if let Some(tag) = &filter.tag {
        query.push(" AND r.tag = ").push_bind(tag.as_str());
    }
    if let Some(trigger) = filter.trigger {
        query.push(" AND r.trigger = ").push_bind(trigger.as_str());
    }
    if filter.since.is_some() {
        query.push(" AND r.id >= ").push_bind(ids.0);
    }
    if filter.until.is_some() {
        query.push(" AND r.id <= ").push_bind(ids.1);
    }
    if let Some(before) = filter.before {
        query.push(" AND r.id < ").push_bind(before);
    }
    query.push(" ORDER BY r.id DESC LIMIT ").push_bind(limit);
    query
}

#[derive(Default)]
struct StepChange {
    idx: i64,
    status: &'static str,
    exit_code: Option<i32>,
    message: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

fn step_index(step_names: &[String], step: &str) -> Option<i64> {
    step_names.iter().position(|s| s == step).map(|i| i as i64)
}

fn version_row(row: &SqliteRow) -> StoreResult<VersionRow> {
    Ok(VersionRow {
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        source: row.try_get("source")?,
        definition: row.try_get("definition")?,
    })
}

fn run_event(row: &SqliteRow) -> StoreResult<RunEvent> {
    let kind: &str = row.try_get("kind")?;
    let step = || -> StoreResult<String> {
        row.try_get::<Option<String>, _>("step")?
            .ok_or_else(|| corrupt("event without its step"))
    };
    let status = || -> StoreResult<&str> {
        row.try_get::<Option<&str>, _>("status")?
            .ok_or_else(|| corrupt("event without a status"))
    };
    let body = match kind {
        "log" => EventBody::Log {
            step: step()?,
            stream: LogStream::from_str(
                row.try_get::<Option<&str>, _>("stream")?
                    .unwrap_or("stdout"),
            )
            .map_err(corrupt)?,
            text: row
                .try_get::<Option<String>, _>("text")?
                .unwrap_or_default(),
            partial: row.try_get("partial")?,
        },
        "step" => EventBody::Step {
            step: step()?,
            status: StepStatus::from_str(status()?).map_err(corrupt)?,
            exit_code: row.try_get("exit_code")?,
            message: row.try_get("text")?,
        },
        "run" => EventBody::Run {
            status: RunStatus::from_str(status()?).map_err(corrupt)?,
            message: row.try_get("text")?,
        },
        other => return Err(corrupt(format!("unknown event kind {other}"))),
    };
    Ok(RunEvent {
        seq: row.try_get("seq")?,
        ts: row.try_get("ts")?,
        body,
    })
}
