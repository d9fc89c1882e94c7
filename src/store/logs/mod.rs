//! The log store. A run's log lines are not rows: each step appends its lines to a segment
//! file of its own (`logs/<run>/<step>.log`, see [`segment`]) and SQLite keeps, per step,
//! how far the segment is committed (bytes, lines, first and last sequence) and a sparse
//! index of marks (every ~256 KiB: line number, sequence, byte offset). The SQLite commit is
//! the commit point: bytes past a step's committed length were never shown to anyone and are
//! cut off when the run's log is opened again, so a crash leaves neither a gap nor a line
//! that a watcher saw and the store lost. Once a run ends its segments are compressed into
//! `<step>.zst`, one zstd frame per mark, so any line is still one frame away ([`pack`]).

mod pack;
mod query;
pub mod read;
pub mod segment;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use conveyor_core::run::LogStream;
use sqlx::{Row, Sqlite, Transaction};

use super::{corrupt, Store, StoreResult};
pub use query::LogItem;
pub use segment::Line;

/// A mark falls on the first block that starts this many bytes past the previous mark.
const MARK_EVERY: u64 = 256 * 1024;

/// A place in a step's segment where decoding can start (always a block boundary).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    /// Lines of the step before this mark (0-based index of its first line).
    pub line: u64,
    /// Sequence number of its first line.
    pub seq: i64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Byte offset of its frame in the compressed segment, once there is one.
    pub packed: Option<u64>,
}

/// What is committed of one step's log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepLog {
    /// Lines (and pieces of over-long lines), system lines included: what numbers them.
    pub lines: u64,
    /// Of which the step's own output (not the engines' system lines).
    pub own: u64,
    /// Committed length of the segment.
    pub bytes: u64,
    /// Bytes of text in it (what the log is, without the store's framing).
    pub text: u64,
    pub first_seq: Option<i64>,
    pub last_seq: i64,
    /// Size of the compressed segment, once the run has ended and it is written.
    pub packed: Option<u64>,
    pub marks: Vec<Mark>,
}

/// The committed log of every step of a run, by step index.
pub type Layout = Vec<StepLog>;

/// Where the log files of runs live.
#[derive(Debug, Clone)]
pub struct LogDir(PathBuf);

impl LogDir {
    pub fn new(path: PathBuf) -> LogDir {
        LogDir(path)
    }

    pub fn run(&self, run_id: i64) -> PathBuf {
        self.0.join(run_id.to_string())
    }

    pub fn segment(&self, run_id: i64, step: usize) -> PathBuf {
        self.run(run_id).join(format!("{step}.log"))
    }

    pub fn packed(&self, run_id: i64, step: usize) -> PathBuf {
        self.run(run_id).join(format!("{step}.zst"))
    }

    pub fn root(&self) -> &Path {
        &self.0
    }
}

/// A run's log as its supervisor appends to it: the committed layout and the open segments.
pub struct RunLog {
    run_id: i64,
    steps: Layout,
    files: Vec<Option<File>>,
}

impl RunLog {
    /// The log of a run that writes no lines (status changes only).
    pub fn unopened(run_id: i64) -> RunLog {
        RunLog {
            run_id,
            steps: Vec::new(),
            files: Vec::new(),
        }
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// What is committed, for readers.
    pub fn layout(&self) -> &Layout {
        &self.steps
    }
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> super::StoreError {
    corrupt(format!("{what} {}: {err}", path.display()))
}

impl Store {
    pub fn log_dir(&self) -> &LogDir {
        &self.logs
    }

    /// The committed log layout of a run (empty steps for a run without lines).
    pub async fn log_layout(&self, run_id: i64) -> StoreResult<Layout> {
        let rows = sqlx::query(
            "SELECT idx, log_lines, log_own, log_bytes, log_text, log_first_seq, log_last_seq, log_packed \
             FROM steps WHERE run_id = ? ORDER BY idx",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        let mut layout = Vec::with_capacity(rows.len());
        for row in &rows {
            let idx: i64 = row.try_get("idx")?;
            if idx as usize != layout.len() {
                return Err(corrupt(format!(
                    "run {run_id} misses step {}",
                    layout.len()
                )));
            }
            layout.push(StepLog {
                lines: row.try_get::<i64, _>("log_lines")? as u64,
                own: row.try_get::<i64, _>("log_own")? as u64,
                bytes: row.try_get::<i64, _>("log_bytes")? as u64,
                text: row.try_get::<i64, _>("log_text")? as u64,
                first_seq: row.try_get("log_first_seq")?,
                last_seq: row.try_get("log_last_seq")?,
                packed: row
                    .try_get::<Option<i64>, _>("log_packed")?
                    .map(|p| p as u64),
                marks: Vec::new(),
            });
        }
        let marks = sqlx::query(
            "SELECT step, line, seq, byte_offset, packed FROM log_marks WHERE run_id = ? ORDER BY step, line",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        for row in &marks {
            let step: i64 = row.try_get("step")?;
            let Some(log) = layout.get_mut(step as usize) else {
                return Err(corrupt(format!("run {run_id} has a log mark of no step")));
            };
            log.marks.push(Mark {
                line: row.try_get::<i64, _>("line")? as u64,
                seq: row.try_get("seq")?,
                offset: row.try_get::<i64, _>("byte_offset")? as u64,
                packed: row.try_get::<Option<i64>, _>("packed")?.map(|p| p as u64),
            });
        }
        Ok(layout)
    }

    /// Opens a run's log for appending: what a crash left past the committed length of a
    /// segment (never shown to anyone) is cut off.
    pub async fn open_run_log(&self, run_id: i64) -> StoreResult<RunLog> {
        // Its lines are not all in the search index from now on.
        self.search.touch(run_id);
        let steps = self.log_layout(run_id).await?;
        for (step, log) in steps.iter().enumerate() {
            let path = self.logs.segment(run_id, step);
            if log.packed.is_none() && path.exists() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|err| io_error("could not open", &path, err))?;
                let length = file
                    .metadata()
                    .map_err(|err| io_error("could not read", &path, err))?
                    .len();
                // Shorter than committed: written lines are missing (never pad them).
                if length < log.bytes {
                    return Err(corrupt(format!(
                        "{} has {length} bytes, {} are on record",
                        path.display(),
                        log.bytes
                    )));
                }
                file.set_len(log.bytes)
                    .map_err(|err| io_error("could not cut back", &path, err))?;
            }
        }
        Ok(RunLog {
            run_id,
            files: steps.iter().map(|_| None).collect(),
            steps,
        })
    }

    /// Writes a batch's lines to their segments, before the transaction that commits them;
    /// returns the steps' layouts to take once it commits. On an error the caller cuts the
    /// segments back ([`Store::append`]).
    pub(super) fn write_lines(
        &self,
        log: &mut RunLog,
        lines: &[(usize, Line)],
    ) -> StoreResult<BTreeMap<usize, StepLog>> {
        let mut by_step: BTreeMap<usize, Vec<&Line>> = BTreeMap::new();
        for (step, line) in lines {
            by_step.entry(*step).or_default().push(line);
        }
        let mut next = BTreeMap::new();
        for (step, lines) in by_step {
            let Some(current) = log.steps.get(step) else {
                return Err(corrupt(format!(
                    "a log line for step {step}, which run {} lacks",
                    log.run_id
                )));
            };
            if current.packed.is_some() {
                return Err(corrupt(format!(
                    "step {step} of run {} was closed already",
                    log.run_id
                )));
            }
            let mut updated = current.clone();
            let current_bytes = current.bytes;
            let mut bytes = Vec::new();
            let mut start = 0;
            while start < lines.len() {
                let mut end = start;
                let mut size = 0;
                while end < lines.len() && size < segment::BLOCK_TARGET {
                    size += lines[end].text.len() + 8;
                    end += 1;
                }
                let offset = updated.bytes + bytes.len() as u64;
                let due = updated
                    .marks
                    .last()
                    .is_none_or(|mark| offset - mark.offset >= MARK_EVERY);
                if due {
                    updated.marks.push(Mark {
                        line: updated.lines + start as u64,
                        seq: lines[start].seq,
                        offset,
                        packed: None,
                    });
                }
                segment::encode_block(&lines[start..end], &mut bytes);
                start = end;
            }
            for line in &lines {
                updated.lines += 1;
                updated.own += u64::from(line.stream != LogStream::System);
                updated.text += line.text.len() as u64;
                updated.first_seq.get_or_insert(line.seq);
                updated.last_seq = line.seq;
            }
            updated.bytes += bytes.len() as u64;
            let file = match &mut log.files[step] {
                Some(file) => file,
                slot => {
                    let path = self.logs.segment(log.run_id, step);
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|err| io_error("could not make", dir, err))?;
                    }
                    let file = OpenOptions::new()
                        .create(true)
                        .write(true)
                        .truncate(false)
                        .open(&path)
                        .map_err(|err| io_error("could not open", &path, err))?;
                    slot.insert(file)
                }
            };
            // At the committed length: bytes a failed write left past it are overwritten.
            if let Err(err) = file.write_all_at(&bytes, current_bytes) {
                let path = self.logs.segment(log.run_id, step);
                return Err(io_error("could not write", &path, err));
            }
            next.insert(step, updated);
        }
        Ok(next)
    }

    /// Cuts every open segment back to its committed length (after a failed commit).
    pub(super) fn cut_back(&self, log: &mut RunLog) {
        for (step, file) in log.files.iter_mut().enumerate() {
            if let Some(file) = file {
                if let Err(err) = file.set_len(log.steps[step].bytes) {
                    tracing::error!(run = log.run_id, step, error = %err, "could not cut a log segment back");
                }
            }
        }
    }

    /// Records in `tx` what `write_lines` wrote.
    pub(super) async fn commit_lines(
        tx: &mut Transaction<'_, Sqlite>,
        log: &RunLog,
        next: &BTreeMap<usize, StepLog>,
    ) -> StoreResult<()> {
        for (&step, updated) in next {
            sqlx::query(
                "UPDATE steps SET log_lines = ?1, log_own = ?2, log_bytes = ?3, log_text = ?4, \
                 log_first_seq = ?5, log_last_seq = ?6 WHERE run_id = ?7 AND idx = ?8",
            )
            .bind(updated.lines as i64)
            .bind(updated.own as i64)
            .bind(updated.bytes as i64)
            .bind(updated.text as i64)
            .bind(updated.first_seq)
            .bind(updated.last_seq)
            .bind(log.run_id)
            .bind(step as i64)
            .execute(&mut **tx)
            .await?;
            let known = log.steps[step].marks.len();
            for mark in &updated.marks[known..] {
                sqlx::query(
                    "INSERT INTO log_marks (run_id, step, line, seq, byte_offset) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(log.run_id)
                .bind(step as i64)
                .bind(mark.line as i64)
                .bind(mark.seq)
                .bind(mark.offset as i64)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}

impl RunLog {
    /// Takes what a commit made durable.
    pub(super) fn committed(&mut self, next: BTreeMap<usize, StepLog>) {
        for (step, updated) in next {
            self.steps[step] = updated;
        }
    }
}
