//! History in SQLite: pipelines and their versions, runs, steps and each run's event
//! stream, one file per aggregate. One writer connection (SQLite serialises writes anyway;
//! a single writer avoids lock upgrades failing with SQLITE_BUSY) and a pool of read-only
//! connections, in WAL mode.

mod accounts;
mod actions;
mod audit;
mod decisions;
mod deliveries;
mod events;
mod forge;
mod health;
pub mod logs;
mod pipelines;
mod queue;
mod releases;
mod retention;
mod runs;
mod schedules;
mod search;
mod secrets;
mod stats;
#[cfg(feature = "testing")]
mod testing;
mod workflows;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use conveyor_core::dto::RunSummary;
use conveyor_core::run::{Commit, RunStatus, Trigger};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

pub use accounts::{NewToken, UserRow};
pub use actions::{ActionRow, Undeletable};
pub use audit::Audit;
pub use events::Batch;
pub use forge::NewDelivery;
pub use pipelines::{NewVersion, PipelineRow, VersionRow};
pub use releases::NewRelease;
pub use runs::{NewRun, NewStep};
pub use search::{Indexed, SearchIndex};
pub use secrets::SecretRow;

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
    #[error("an account named \"{0}\" already exists")]
    UserExists(String),
    #[error("the last admin who can sign in must stay an admin")]
    LastAdmin,
    #[error("the step was decided already")]
    Decided,
    #[error("this delivery was received already")]
    DuplicateDelivery(i64),
    #[error("action \"{0}\" is saved already: a version is immutable; save a new version")]
    ActionExists(String),
    #[error("action \"{0}\" is not in the catalog (deleted meanwhile?)")]
    ActionMissing(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A log segment was compressed while it was being opened (read the layout again).
    #[error("a log segment moved while it was read")]
    LogMoved,
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Runs' log segments: `logs/` beside the database file.
    logs: logs::LogDir,
    /// The search index over every log: `search.db` beside the database file.
    search: std::sync::Arc<SearchIndex>,
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

/// Size of a SQLite database in bytes (its pages).
async fn file_bytes(pool: &SqlitePool) -> StoreResult<u64> {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await?;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await?;
    Ok((pages * size) as u64)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// [`StoreError::ActiveRun`] when the pipeline has a run in flight (in the transaction
/// that is about to delete what such a run needs).
async fn refuse_active_run(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    pipeline_id: i64,
) -> StoreResult<()> {
    let active: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE pipeline_id = ? AND finished_at IS NULL")
            .bind(pipeline_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?;
    if active > 0 {
        return Err(StoreError::ActiveRun);
    }
    Ok(())
}

/// The columns [`run_summary`] reads, from `runs r JOIN pipelines p`.
const RUN_COLUMNS: &str = "r.id, p.name AS pipeline, r.number, r.version, r.tag, r.status, \
                           r.message, r.created_at, r.started_at, r.finished_at, r.engine, \
                           r.trigger, r.started_by, r.branch, r.commit_sha, r.git_ref, \
                           r.commit_author, r.commit_message, r.pr_number, r.commit_url, r.forge, r.from_fork, \
                           CASE WHEN r.status = 'queued' THEN (SELECT COUNT(*) FROM runs q \
                             WHERE q.pipeline_id = r.pipeline_id AND q.status = 'queued' \
                             AND q.id <= r.id) END AS queue_place";

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
        started_by: row.try_get("started_by")?,
        branch: row.try_get("branch")?,
        commit: match row.try_get::<Option<String>, _>("commit_sha")? {
            Some(sha) => Some(Commit {
                sha,
                git_ref: row
                    .try_get::<Option<String>, _>("git_ref")?
                    .unwrap_or_default(),
                branch: row.try_get("branch")?,
                author: row.try_get("commit_author")?,
                message: row.try_get("commit_message")?,
                pull_request: row.try_get("pr_number")?,
                url: row.try_get("commit_url")?,
                forge: row.try_get("forge")?,
                from_fork: row.try_get("from_fork")?,
            }),
            None => None,
        },
        queue_place: row.try_get("queue_place")?,
    })
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
            // Pruned runs give their pages back to the file system (see `reclaim_space`).
            .connect_with(
                options
                    .clone()
                    .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental),
            )
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        // A file made before pruning existed: converted once (a rewrite of the file).
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&writer)
            .await?;
        if mode != 2 {
            tracing::info!("converting the database to incremental vacuum (once)");
            sqlx::query("VACUUM").execute(&writer).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let logs = logs::LogDir::new(dir.join("logs"));
        let search = std::sync::Arc::new(SearchIndex::open(&dir.join("search.db")).await?);
        Ok(Store {
            writer,
            reader,
            logs,
            search,
        })
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
        self.search.close().await;
    }
}
