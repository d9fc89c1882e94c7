//! Writing the index: a run's lines the index lacks, read back from the log store and cut
//! into chunks, each chunk's trigrams one FTS5 document, in one transaction per run with how
//! far each step is indexed.

use std::collections::HashSet;

use sqlx::Row;

use super::grams::Grams;
use super::{chunk_ids, MAX_CHUNKS};
use crate::store::logs::read::{From, Scan, Take};
use crate::store::{Store, StoreResult};

/// Text in one chunk, at most (the last line may take it past).
const CHUNK_TEXT: u64 = 256 * 1024;
/// A live step's new lines are indexed once this much text waits (or when asked to flush).
const LIVE_TEXT: u64 = 64 * 1024;
/// Chunks written per call (one transaction; about 16 MiB of text held at once).
const CALL_CHUNKS: usize = 64;

/// Where indexing a run left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    /// Every line of the ended run is indexed.
    Complete,
    /// The run is live (or its lines could not all be indexed); some lines were indexed.
    Partly,
    /// The run is live and not enough of its new lines wait yet.
    Waiting,
    /// More is ready to index now (this call wrote as much as one call may).
    More,
    /// The run is not on record (any index entries of it are gone).
    Gone,
}

struct NewChunk {
    step: usize,
    first_line: u64,
    lines: u64,
    text: u64,
    document: String,
}

impl Store {
    /// Indexes what the index lacks of a run's log: everything once the run has ended, else
    /// each step's new lines once [`LIVE_TEXT`] of them wait (all of them with `flush`).
    pub async fn index_run(&self, run_id: i64, flush: bool) -> StoreResult<Indexed> {
        let index = &self.search;
        let row = sqlx::query(
            "SELECT created_at, finished_at IS NOT NULL AS ended FROM runs WHERE id = ?",
        )
        .bind(run_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            index.forget(&[run_id]).await?;
            index.settle(run_id);
            return Ok(Indexed::Gone);
        };
        let created_at: i64 = row.try_get("created_at")?;
        let ended: bool = row.try_get("ended")?;
        // Entries of an earlier run that had this id go first.
        let known: Option<i64> = sqlx::query_scalar("SELECT created_at FROM runs WHERE run_id = ?")
            .bind(run_id)
            .fetch_optional(&index.reader)
            .await?;
        if known.is_some_and(|known| known != created_at) {
            index.forget(&[run_id]).await?;
        }
        let layout = self.log_layout(run_id).await?;
        let progress = index.progress(run_id).await?;
        let done = |step: usize| progress.get(step).copied().unwrap_or((0, 0));
        let work: Vec<(usize, u64, u64)> = layout
            .iter()
            .enumerate()
            .filter(|(step, log)| {
                let (lines, text) = done(*step);
                log.lines > lines && (ended || flush || log.text.saturating_sub(text) >= LIVE_TEXT)
            })
            .map(|(step, log)| (step, done(step).0, log.lines))
            .collect();
        let all_read = layout
            .iter()
            .enumerate()
            .all(|(step, log)| done(step).0 >= log.lines);
        if work.is_empty() && !(ended && all_read) {
            return Ok(Indexed::Waiting);
        }
        let chunks = if work.is_empty() {
            Vec::new()
        } else {
            self.read_stored(run_id, move |dir, steps| {
                let mut chunks = Vec::new();
                let mut grams = Grams::default();
                for &(step, from, to) in &work {
                    let mut scan = Scan::open(dir, run_id, steps, Some(step), From::Line(from))?;
                    let fresh = |first_line| NewChunk {
                        step,
                        first_line,
                        lines: 0,
                        text: 0,
                        document: String::new(),
                    };
                    let mut chunk = fresh(from);
                    scan.visit(|hit| {
                        if hit.number > to {
                            return Take::Stop;
                        }
                        grams.add_line(hit.text);
                        chunk.lines += 1;
                        chunk.text += hit.text.len() as u64;
                        if chunk.text >= CHUNK_TEXT {
                            chunk.document = grams.take_document();
                            chunks.push(std::mem::replace(&mut chunk, fresh(hit.number)));
                            if chunks.len() >= CALL_CHUNKS {
                                return Take::Last;
                            }
                        }
                        Take::More
                    })?;
                    if chunk.lines > 0 {
                        chunk.document = grams.take_document();
                        chunks.push(chunk);
                    }
                    if chunks.len() >= CALL_CHUNKS {
                        break;
                    }
                }
                Ok(chunks)
            })
            .await?
        };
        let mut tx = index.writer.begin().await?;
        sqlx::query("INSERT INTO runs (run_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(run_id)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        let mut next: i64 = sqlx::query_scalar("SELECT chunks FROM runs WHERE run_id = ?")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut reached: Vec<(u64, u64)> = (0..layout.len()).map(done).collect();
        let mut full = false;
        let mut inserted = 0;
        for chunk in &chunks {
            if next > MAX_CHUNKS {
                full = true;
                break;
            }
            inserted += 1;
            let id = chunk_ids(run_id).0 | next;
            next += 1;
            sqlx::query("INSERT INTO grams (rowid, body) VALUES (?, ?)")
                .bind(id)
                .bind(&chunk.document)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO chunks (id, step, first_line, lines) VALUES (?, ?, ?, ?)")
                .bind(id)
                .bind(chunk.step as i64)
                .bind(chunk.first_line as i64)
                .bind(chunk.lines as i64)
                .execute(&mut *tx)
                .await?;
            let step = &mut reached[chunk.step];
            *step = (chunk.first_line + chunk.lines, step.1 + chunk.text);
        }
        let steps: HashSet<usize> = chunks[..inserted].iter().map(|c| c.step).collect();
        for step in steps {
            let (lines, text) = reached[step];
            sqlx::query(
                "INSERT INTO indexed (run_id, step, lines, text) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (run_id, step) DO UPDATE SET lines = excluded.lines, text = excluded.text",
            )
            .bind(run_id)
            .bind(step as i64)
            .bind(lines as i64)
            .bind(text as i64)
            .execute(&mut *tx)
            .await?;
        }
        let complete =
            ended && !full && layout.iter().zip(&reached).all(|(log, r)| r.0 >= log.lines);
        sqlx::query("UPDATE runs SET chunks = ?, complete = ? WHERE run_id = ?")
            .bind(next)
            .bind(complete)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Deleted meanwhile (and the id perhaps taken by a new run): what was just written
        // goes too, and a new run is indexed afresh.
        match self.run_created(run_id).await? {
            None => {
                index.forget(&[run_id]).await?;
                index.settle(run_id);
                return Ok(Indexed::Gone);
            }
            Some(now) if now != created_at => {
                index.forget(&[run_id]).await?;
                return Ok(Indexed::Partly);
            }
            Some(_) => {}
        }
        if complete {
            index.settle(run_id);
            Ok(Indexed::Complete)
        } else if inserted == 0 {
            Ok(Indexed::Waiting)
        } else if chunks.len() >= CALL_CHUNKS && !full {
            Ok(Indexed::More)
        } else {
            Ok(Indexed::Partly)
        }
    }

    /// When the run with this id was created, if there is one.
    pub(super) async fn run_created(&self, run_id: i64) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT created_at FROM runs WHERE id = ?")
                .bind(run_id)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    /// Brings the index in line with the database at start: entries of runs no longer on
    /// record go; runs with lines it lacks are noted for the indexer.
    pub async fn search_backlog(&self) -> StoreResult<()> {
        let index = &self.search;
        let on_record: HashSet<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM runs")
            .fetch_all(&self.reader)
            .await?
            .into_iter()
            .collect();
        let stale: Vec<i64> = index
            .known_runs()
            .await?
            .into_iter()
            .filter(|id| !on_record.contains(id))
            .collect();
        index.forget(&stale).await?;
        let complete = index.complete_runs().await?;
        let with_lines: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT run_id FROM steps WHERE log_lines > 0")
                .fetch_all(&self.reader)
                .await?;
        for run_id in with_lines {
            if !complete.contains(&run_id) {
                index.touch(run_id);
            }
        }
        Ok(())
    }

    /// The search index.
    pub fn search_index(&self) -> &super::SearchIndex {
        &self.search
    }
}
