//! The search index over every log: its own SQLite file (`search.db` beside the database,
//! so indexing never holds the runs' writer) with an FTS5 table whose documents are
//! *chunks* of a step's log (consecutive lines, up to 256 KiB of text). A chunk's document
//! is the set of distinct three-byte pieces (trigrams) of its lines, ASCII letters folded,
//! each written as one token; a search asks FTS5 for the chunks that hold every trigram of
//! the query, then reads those chunks back from the log store and keeps the lines that do
//! contain it ([`find`]). FTS5's own trigram tokenizer builds the same index from the text
//! but measured 25 MB/s here; handing it the distinct trigrams measured 700 MB/s.
//!
//! A chunk's id is `run << 20 | n` (its run's n-th chunk), so a run's chunks are one id
//! range and "newest run first" is "highest id first". Which lines of each step are
//! indexed is kept per step; lines not indexed yet (a live run's latest, a run indexing
//! has not reached) are read directly by a search, so nothing stored is ever missed.

mod find;
mod grams;
mod write;

pub use write::Indexed;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::StoreResult;

/// Bits of a chunk id below the run id.
const RUN_SHIFT: u32 = 20;
/// The most chunks one run can have (beyond, its lines are read directly by searches).
const MAX_CHUNKS: i64 = (1 << RUN_SHIFT) - 1;

/// The first and last chunk id a run can have.
fn chunk_ids(run_id: i64) -> (i64, i64) {
    (run_id << RUN_SHIFT, (run_id << RUN_SHIFT) | MAX_CHUNKS)
}

fn run_of(chunk: i64) -> i64 {
    chunk >> RUN_SHIFT
}

/// How long one page of a search may read logs unless the server says otherwise.
pub const DEFAULT_PAGE_TIME: Duration = Duration::from_millis(300);

/// The search index's database, and which runs it has yet to index fully.
pub struct SearchIndex {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Runs with lines the index does not have yet (live ones, and ended ones it has not
    /// reached): searches read these runs' unindexed lines directly.
    pending: Mutex<BTreeSet<i64>>,
    /// Whether an indexer keeps the index (`--search-index false`: no).
    enabled: AtomicBool,
    /// Wakes the indexer when a run is noted.
    wake: tokio::sync::Notify,
    /// How long one page of a search may read logs (milliseconds).
    page_time: AtomicU64,
}

impl SearchIndex {
    pub(super) async fn open(path: &Path) -> StoreResult<SearchIndex> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().auto_vacuum(SqliteAutoVacuum::Incremental))
            .await?;
        for statement in [
            "CREATE VIRTUAL TABLE IF NOT EXISTS grams USING fts5(body, tokenize = 'ascii', \
             detail = 'none', content = '', contentless_delete = 1)",
            "CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, \
             first_line INTEGER NOT NULL, lines INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS indexed (run_id INTEGER NOT NULL, step INTEGER NOT NULL, \
             lines INTEGER NOT NULL, text INTEGER NOT NULL, PRIMARY KEY (run_id, step)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS runs (run_id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, \
             chunks INTEGER NOT NULL DEFAULT 0, complete INTEGER NOT NULL DEFAULT 0)",
        ] {
            sqlx::query(statement).execute(&writer).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SearchIndex {
            writer,
            reader,
            pending: Mutex::default(),
            enabled: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            page_time: AtomicU64::new(DEFAULT_PAGE_TIME.as_millis() as u64),
        })
    }

    pub(super) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn pending_runs(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Says that an indexer keeps the index from now on.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// How long one page of a search may read logs before it returns what it found, with
    /// a cursor that goes on from there (`--search-page-time`).
    pub fn set_page_time(&self, time: Duration) {
        let millis = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
        self.page_time.store(millis, Ordering::SeqCst);
    }

    pub(super) fn page_time(&self) -> Duration {
        Duration::from_millis(self.page_time.load(Ordering::SeqCst))
    }

    /// Notes that a run has (or may have) lines the index lacks.
    pub fn touch(&self, run_id: i64) {
        self.pending_runs().insert(run_id);
        self.wake.notify_one();
    }

    /// Waits until a run is noted (at once if one was since the last wait).
    pub async fn noted(&self) {
        self.wake.notified().await;
    }

    /// Runs with lines the index lacks, as far as is known.
    pub fn pending(&self) -> Vec<i64> {
        self.pending_runs().iter().copied().collect()
    }

    /// Notes that the index has a run fully (or that it is gone).
    pub(super) fn settle(&self, run_id: i64) {
        self.pending_runs().remove(&run_id);
    }

    /// The highest pending run id in `lo..=hi`.
    fn pending_below(&self, lo: i64, hi: i64) -> Option<i64> {
        if lo > hi {
            return None;
        }
        self.pending_runs().range(lo..=hi).next_back().copied()
    }

    /// Removes everything the index has of these runs (pruned or deleted, or an earlier
    /// run's entries under a reused id).
    pub(super) async fn forget(&self, ids: &[i64]) -> StoreResult<()> {
        for &run_id in ids {
            let (first, last) = chunk_ids(run_id);
            let mut tx = self.writer.begin().await?;
            sqlx::query(
                "DELETE FROM grams WHERE rowid IN (SELECT id FROM chunks WHERE id BETWEEN ? AND ?)",
            )
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM chunks WHERE id BETWEEN ? AND ?")
                .bind(first)
                .bind(last)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM indexed WHERE run_id = ?")
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM runs WHERE run_id = ?")
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Gives the space of forgotten runs back: merges the index's segments (dropping what
    /// was deleted) a bounded amount, then returns free pages to the file system.
    pub(super) async fn reclaim(&self) -> StoreResult<()> {
        sqlx::query("INSERT INTO grams (grams, rank) VALUES ('merge', 2000)")
            .execute(&self.writer)
            .await?;
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&self.writer)
            .await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Runs the index has fully.
    async fn complete_runs(&self) -> StoreResult<BTreeSet<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT run_id FROM runs WHERE complete = 1")
            .fetch_all(&self.reader)
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// Every run the index knows.
    async fn known_runs(&self) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT run_id FROM runs")
            .fetch_all(&self.reader)
            .await?)
    }

    /// How many lines of each step of a run are indexed, by step index.
    async fn progress(&self, run_id: i64) -> StoreResult<Vec<(u64, u64)>> {
        let rows =
            sqlx::query("SELECT step, lines, text FROM indexed WHERE run_id = ? ORDER BY step")
                .bind(run_id)
                .fetch_all(&self.reader)
                .await?;
        let mut progress = Vec::new();
        for row in &rows {
            let step = row.try_get::<i64, _>("step")? as usize;
            if progress.len() <= step {
                progress.resize(step + 1, (0, 0));
            }
            progress[step] = (
                row.try_get::<i64, _>("lines")? as u64,
                row.try_get::<i64, _>("text")? as u64,
            );
        }
        Ok(progress)
    }

    /// Size of the index's files in bytes.
    pub async fn size(&self) -> StoreResult<u64> {
        super::file_bytes(&self.reader).await
    }
}
