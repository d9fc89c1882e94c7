//! Logs once their run has ended: compressed, one zstd frame per mark; removed with their
//! run; put in order after a crash; and logs from before the log store moved out of SQLite.
//!
//! Compressing a step: the frames go to `<step>.zst.tmp`, which is synced and renamed to
//! `<step>.zst`; then one transaction records the frames' offsets; then the plain segment
//! is removed. A crash between any two of these leaves either the plain segment on record
//! (a stray `.zst` is removed, compression runs again) or the compressed one (a stray plain
//! segment is removed): never a log that is neither.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use sqlx::Row;

use super::{io_error, Line, LogDir, RunLog, StepLog};
use crate::store::{corrupt, Store, StoreResult};

/// zstd's default level: most of the ratio at a fraction of the higher levels' time.
const LEVEL: i32 = 3;
/// Legacy log rows converted per read.
const LEGACY_PAGE: i64 = 10_000;

/// Writes a step's frames; returns each mark's frame offset and the compressed size.
fn compress_step(
    dir: &LogDir,
    run_id: i64,
    step: usize,
    log: &StepLog,
) -> StoreResult<(Vec<u64>, u64)> {
    let source_path = dir.segment(run_id, step);
    let source =
        File::open(&source_path).map_err(|err| io_error("could not open", &source_path, err))?;
    let target_path = dir.run(run_id).join(format!("{step}.zst.tmp"));
    let mut target =
        File::create(&target_path).map_err(|err| io_error("could not make", &target_path, err))?;
    let mut offsets = Vec::with_capacity(log.marks.len());
    let mut size = 0u64;
    for (i, mark) in log.marks.iter().enumerate() {
        let end = log.marks.get(i + 1).map_or(log.bytes, |m| m.offset);
        let mut raw = vec![0; (end - mark.offset) as usize];
        source
            .read_exact_at(&mut raw, mark.offset)
            .map_err(|err| io_error("could not read", &source_path, err))?;
        let frame = zstd::bulk::compress(&raw, LEVEL)
            .map_err(|err| io_error("could not compress", &source_path, err))?;
        target
            .write_all(&frame)
            .map_err(|err| io_error("could not write", &target_path, err))?;
        offsets.push(size);
        size += frame.len() as u64;
    }
    target
        .sync_data()
        .map_err(|err| io_error("could not sync", &target_path, err))?;
    fault("packed-written");
    let packed = dir.packed(run_id, step);
    std::fs::rename(&target_path, &packed)
        .map_err(|err| io_error("could not rename", &packed, err))?;
    fault("packed-renamed");
    Ok((offsets, size))
}

/// In test builds, `CONVEYOR_TEST_CRASH_AT=<point>` kills the process (as `kill -9` would)
/// at that point, for the crash tests.
fn fault(point: &str) {
    #[cfg(feature = "testing")]
    if std::env::var("CONVEYOR_TEST_CRASH_AT").is_ok_and(|at| at == point) {
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(feature = "testing"))]
    let _ = point;
}

fn remove_file(path: &std::path::Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %err, "could not remove a log file");
        }
    }
}

impl Store {
    /// Compresses the segments of a run whose steps no longer write (it has ended).
    pub async fn pack_run(&self, run_id: i64) -> StoreResult<()> {
        let layout = self.log_layout(run_id).await?;
        for (step, log) in layout.into_iter().enumerate() {
            if log.packed.is_some() || log.bytes == 0 {
                continue;
            }
            let dir = self.logs.clone();
            let marks = log.marks.clone();
            let (bytes, last_seq) = (log.bytes, log.last_seq);
            let (offsets, size) =
                tokio::task::spawn_blocking(move || compress_step(&dir, run_id, step, &log))
                    .await
                    .map_err(|err| corrupt(format!("compressing a log failed: {err}")))??;
            let mut tx = self.writer.begin().await?;
            // Only the log that was compressed: the run has ended and its step is as it was
            // read (a run deleted meanwhile may have left its id to a new one).
            let recorded = sqlx::query(
                "UPDATE steps SET log_packed = ?1 WHERE run_id = ?2 AND idx = ?3 \
                 AND log_packed IS NULL AND log_bytes = ?4 AND log_last_seq = ?5 \
                 AND run_id IN (SELECT id FROM runs WHERE finished_at IS NOT NULL)",
            )
            .bind(size as i64)
            .bind(run_id)
            .bind(step as i64)
            .bind(bytes as i64)
            .bind(last_seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if recorded == 0 {
                let packed: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT log_packed FROM steps WHERE run_id = ? AND idx = ?")
                        .bind(run_id)
                        .bind(step as i64)
                        .fetch_optional(&mut *tx)
                        .await?;
                drop(tx);
                // Unless another compression of the same log got there first, the file is
                // of nothing on record.
                if !matches!(packed, Some(Some(_))) {
                    remove_file(&self.logs.packed(run_id, step));
                }
                continue;
            }
            for (mark, offset) in marks.iter().zip(&offsets) {
                sqlx::query(
                    "UPDATE log_marks SET packed = ? WHERE run_id = ? AND step = ? AND line = ?",
                )
                .bind(*offset as i64)
                .bind(run_id)
                .bind(step as i64)
                .bind(mark.line as i64)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            fault("packed-committed");
            remove_file(&self.logs.segment(run_id, step));
        }
        Ok(())
    }

    /// Removes what the log store and the search index hold of runs (deleted or pruned; off
    /// the record first: what a crash leaves behind, start-up removes).
    pub(crate) async fn forget_runs(&self, ids: &[i64]) {
        self.remove_run_logs(ids);
        if let Err(err) = self.search.forget(ids).await {
            tracing::warn!(error = %err, "could not remove runs from the search index");
        }
    }

    /// Removes the log files of runs.
    fn remove_run_logs(&self, ids: &[i64]) {
        for id in ids {
            let dir = self.logs.run(*id);
            if let Err(err) = std::fs::remove_dir_all(&dir) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(run = id, error = %err, "could not remove a run's logs");
                }
            }
        }
    }

    /// Puts the log files in order at start: logs of runs no longer on record go, a
    /// compression a crash interrupted is undone or finished, logs kept in the database by
    /// earlier versions move to segments. Returns the ended runs whose logs still need
    /// compressing ([`Store::pack_run`]).
    pub async fn tidy_logs(&self) -> StoreResult<Vec<i64>> {
        self.convert_legacy_logs().await?;
        let root = self.logs.root().to_path_buf();
        if let Ok(entries) = std::fs::read_dir(&root) {
            let known: std::collections::HashSet<i64> =
                sqlx::query_scalar::<_, i64>("SELECT id FROM runs")
                    .fetch_all(&self.reader)
                    .await?
                    .into_iter()
                    .collect();
            for entry in entries.flatten() {
                let id = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<i64>().ok());
                match id {
                    Some(id) if known.contains(&id) => {}
                    _ => {
                        if let Err(err) = std::fs::remove_dir_all(entry.path()) {
                            tracing::warn!(path = %entry.path().display(), error = %err, "could not remove stray logs");
                        }
                    }
                }
            }
        }
        let rows = sqlx::query("SELECT run_id, idx, log_packed FROM steps WHERE log_bytes > 0")
            .fetch_all(&self.reader)
            .await?;
        for row in &rows {
            let (run_id, step): (i64, i64) = (row.try_get("run_id")?, row.try_get("idx")?);
            let step = step as usize;
            remove_file(&self.logs.run(run_id).join(format!("{step}.zst.tmp")));
            if row.try_get::<Option<i64>, _>("log_packed")?.is_some() {
                remove_file(&self.logs.segment(run_id, step));
            } else {
                remove_file(&self.logs.packed(run_id, step));
            }
        }
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT s.run_id FROM steps s JOIN runs r ON r.id = s.run_id \
             WHERE r.finished_at IS NOT NULL AND s.log_bytes > 0 AND s.log_packed IS NULL",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// Moves log lines that earlier versions kept as rows into segments, a run at a time (in
    /// one transaction per run: a crash leaves the run's rows, converted again next time).
    async fn convert_legacy_logs(&self) -> StoreResult<()> {
        loop {
            let runs: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT run_id FROM run_events WHERE kind = 'log' LIMIT 100",
            )
            .fetch_all(&self.writer)
            .await?;
            if runs.is_empty() {
                return Ok(());
            }
            for run_id in runs {
                tracing::info!(run = run_id, "moving the run's log lines to the log store");
                self.remove_run_logs(&[run_id]);
                let mut log = self.open_run_log(run_id).await?;
                let empty = RunLog {
                    run_id,
                    steps: log.steps.clone(),
                    files: Vec::new(),
                };
                let mut after = 0i64;
                loop {
                    let rows = sqlx::query(
                        "SELECT seq, ts, step, stream, partial, text FROM run_events \
                         WHERE run_id = ? AND kind = 'log' AND seq > ? ORDER BY seq LIMIT ?",
                    )
                    .bind(run_id)
                    .bind(after)
                    .bind(LEGACY_PAGE)
                    .fetch_all(&self.writer)
                    .await?;
                    let Some(last) = rows.last() else { break };
                    after = last.try_get("seq")?;
                    let mut lines = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let stream: Option<String> = row.try_get("stream")?;
                        lines.push((
                            row.try_get::<i64, _>("step")? as usize,
                            Line {
                                seq: row.try_get("seq")?,
                                ts: row.try_get("ts")?,
                                stream: stream
                                    .as_deref()
                                    .unwrap_or("stdout")
                                    .parse()
                                    .map_err(corrupt)?,
                                partial: row.try_get("partial")?,
                                text: row
                                    .try_get::<Option<String>, _>("text")?
                                    .unwrap_or_default(),
                            },
                        ));
                    }
                    let next = self.write_lines(&mut log, &lines)?;
                    log.committed(next);
                }
                let written = log
                    .steps
                    .iter()
                    .cloned()
                    .enumerate()
                    .filter(|(_, s)| s.lines > 0)
                    .collect();
                let mut tx = self.writer.begin().await?;
                Store::commit_lines(&mut tx, &empty, &written).await?;
                sqlx::query("DELETE FROM run_events WHERE run_id = ? AND kind = 'log'")
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
    }
}
