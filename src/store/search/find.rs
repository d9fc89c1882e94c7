//! Answering a search: runs newest first, each run's candidate chunks (FTS5: chunks holding
//! every trigram of the query) and its unindexed lines read back from the log store, lines
//! kept that contain the query. A page stops when it is full or out of its time
//! (`--search-page-time`); its cursor says where the next one goes on.

use std::time::Instant;

use conveyor_core::dto::{RunSummary, RunsQuery};
use conveyor_core::search::{excerpt, Needle, SearchCursor, SearchHit, SearchPage, SearchQuery};
use sqlx::Row;

use super::{chunk_ids, grams, run_of};
use crate::store::logs::read::{From, Scan, Take};
use crate::store::runs::runs_query;
use crate::store::{run_summary, Store, StoreResult};

/// Lines read between two looks at the clock.
const CLOCK_EVERY: u32 = 4096;

/// Lines of one step to read: `first..end` (0-based).
#[derive(Debug, Clone, Copy)]
struct Piece {
    step: usize,
    first: u64,
    end: u64,
}

/// A matching line as the log store gave it.
struct Found {
    step: usize,
    number: u64,
    text: String,
    matches: Vec<[usize; 2]>,
}

/// What reading a run's pieces found, and where it stopped (full, or out of time).
type Verified = (Vec<Found>, Option<(usize, u64)>);

impl Store {
    /// A page of lines that contain `query.q`, of runs `query` (and the pipeline) allows.
    pub async fn search_logs(
        &self,
        query: &SearchQuery,
        pipeline_id: Option<i64>,
    ) -> StoreResult<SearchPage> {
        let mut page = SearchPage::default();
        let Some(grams) = grams::query(&query.q) else {
            return Ok(page);
        };
        let limit = query.page_size();
        let deadline = Instant::now() + self.search.page_time();
        let Some((lo, mut hi)) = self.search_bounds(query, pipeline_id).await? else {
            return Ok(page);
        };
        let filters = RunsQuery {
            before: None,
            limit: None,
            ..query.runs.clone()
        };
        loop {
            let candidate = match query.run {
                Some(run) => (lo..=hi).contains(&run).then_some(run),
                None => self.next_candidate(&grams, lo, hi).await?,
            };
            let Some(run_id) = candidate else {
                return Ok(page);
            };
            let after = query
                .cursor
                .filter(|c| c.run == run_id)
                .map_or((0, 0), |c| (c.step, c.line));
            if let Some(run) = self.matching_run(run_id, pipeline_id, &filters).await? {
                let room = limit - page.hits.len();
                let verified = self
                    .verify(run_id, &grams, query, after, room, deadline)
                    .await;
                let (found, stopped) = match verified {
                    Ok(verified) => verified,
                    // Deleted meanwhile (pruning), or a log that cannot be read: the other
                    // runs' hits still count.
                    Err(err) => {
                        if self.run_created(run_id).await?.is_some() {
                            tracing::warn!(run = run_id, error = %err, "a search could not read the run's log");
                        }
                        (Vec::new(), None)
                    }
                };
                let names: Vec<String> = self
                    .steps(run_id)
                    .await?
                    .into_iter()
                    .map(|s| s.name)
                    .collect();
                page.hits
                    .extend(found.into_iter().map(|found| hit(&run, &names, found)));
                if let Some((step, line)) = stopped {
                    let cursor = SearchCursor {
                        run: run_id,
                        step,
                        line,
                    };
                    page.next = Some(cursor.to_string());
                    page.partial = page.hits.len() < limit;
                    return Ok(page);
                }
            }
            if run_id <= lo || query.run.is_some() {
                return Ok(page);
            }
            hi = run_id - 1;
            if Instant::now() >= deadline {
                let cursor = SearchCursor {
                    run: hi,
                    step: 0,
                    line: 0,
                };
                page.next = Some(cursor.to_string());
                page.partial = true;
                return Ok(page);
            }
        }
    }

    /// The run ids a search can reach (both inclusive); `None` when none.
    async fn search_bounds(
        &self,
        query: &SearchQuery,
        pipeline_id: Option<i64>,
    ) -> StoreResult<Option<(i64, i64)>> {
        let Some((mut lo, mut hi)) = self.id_range(&query.runs).await? else {
            return Ok(None);
        };
        if let Some(pipeline_id) = pipeline_id {
            let row =
                sqlx::query("SELECT MIN(id) AS lo, MAX(id) AS hi FROM runs WHERE pipeline_id = ?")
                    .bind(pipeline_id)
                    .fetch_one(&self.reader)
                    .await?;
            let (Some(first), Some(last)) = (
                row.try_get::<Option<i64>, _>("lo")?,
                row.try_get::<Option<i64>, _>("hi")?,
            ) else {
                return Ok(None);
            };
            (lo, hi) = (lo.max(first), hi.min(last));
        }
        if let Some(cursor) = query.cursor {
            hi = hi.min(cursor.run);
        }
        hi = hi.min(i64::MAX >> super::RUN_SHIFT);
        Ok((lo <= hi).then_some((lo, hi)))
    }

    /// The newest run in `lo..=hi` with a chunk that may match, or lines not indexed yet.
    async fn next_candidate(&self, grams: &str, lo: i64, hi: i64) -> StoreResult<Option<i64>> {
        // Pending first: a run the indexer completes meanwhile is then in the index.
        let pending = self.search.pending_below(lo, hi);
        let chunk: Option<i64> = sqlx::query_scalar(
            "SELECT rowid FROM grams WHERE grams MATCH ? AND rowid BETWEEN ? AND ? \
             ORDER BY rowid DESC LIMIT 1",
        )
        .bind(grams)
        .bind(chunk_ids(lo).0)
        .bind(chunk_ids(hi).1)
        .fetch_optional(&self.search.reader)
        .await?;
        let indexed = chunk.map(run_of);
        Ok(indexed.max(pending))
    }

    /// The run, if the filters allow it.
    async fn matching_run(
        &self,
        run_id: i64,
        pipeline_id: Option<i64>,
        filters: &RunsQuery,
    ) -> StoreResult<Option<RunSummary>> {
        let row = runs_query("", pipeline_id, filters, (run_id, run_id), 1)
            .build()
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(run_summary).transpose()
    }

    /// Reads a run's candidate chunks and unindexed lines past `after` (step, line number)
    /// and keeps the lines that match, at most `room`.
    async fn verify(
        &self,
        run_id: i64,
        grams: &str,
        query: &SearchQuery,
        after: (usize, u64),
        room: usize,
        deadline: Instant,
    ) -> StoreResult<Verified> {
        // How far the index goes, read before its chunks: a chunk written in between is then
        // read twice (the second time skipped), never missed.
        let indexed = self.search.progress(run_id).await?;
        let (first, last) = chunk_ids(run_id);
        let rows = sqlx::query(
            "SELECT step, first_line, lines FROM chunks WHERE id IN \
             (SELECT rowid FROM grams WHERE grams MATCH ? AND rowid BETWEEN ? AND ?)",
        )
        .bind(grams)
        .bind(first)
        .bind(last)
        .fetch_all(&self.search.reader)
        .await?;
        let mut chunks = Vec::with_capacity(rows.len());
        for row in &rows {
            let first = row.try_get::<i64, _>("first_line")? as u64;
            chunks.push(Piece {
                step: row.try_get::<i64, _>("step")? as usize,
                first,
                end: first + row.try_get::<i64, _>("lines")? as u64,
            });
        }
        let needle = Needle::new(&query.q);
        self.read_stored(run_id, move |dir, layout| {
            let mut pieces = chunks.clone();
            // Lines past what the index has are read too.
            for (step, log) in layout.iter().enumerate() {
                let from = indexed.get(step).map_or(0, |p| p.0);
                if log.lines > from {
                    pieces.push(Piece {
                        step,
                        first: from,
                        end: log.lines,
                    });
                }
            }
            pieces.sort_by_key(|p| (p.step, p.first));
            let mut found = Vec::new();
            let mut scratch = Vec::new();
            let mut reached = after;
            let mut read = 0u32;
            let last = pieces.len();
            for (index, piece) in pieces.into_iter().enumerate() {
                if (piece.step, piece.end) <= reached {
                    continue;
                }
                let start = if piece.step == reached.0 {
                    piece.first.max(reached.1)
                } else {
                    piece.first
                };
                let mut scan =
                    Scan::open(dir, run_id, layout, Some(piece.step), From::Line(start))?;
                let mut stop = false;
                scan.visit(|hit| {
                    if hit.number > piece.end {
                        return Take::Stop;
                    }
                    reached = (piece.step, hit.number);
                    if !needle.find_all(hit.text, &mut scratch).is_empty() {
                        let text = hit.text();
                        let matches = needle.find_all(text.as_bytes(), &mut scratch);
                        let (text, matches) = excerpt(&text, &matches);
                        found.push(Found {
                            step: piece.step,
                            number: hit.number,
                            text,
                            matches,
                        });
                        stop = found.len() >= room;
                    }
                    read += 1;
                    if read.is_multiple_of(CLOCK_EVERY) && Instant::now() >= deadline {
                        stop = true;
                    }
                    if stop {
                        Take::Last
                    } else {
                        Take::More
                    }
                })?;
                let more = index + 1 < last;
                if stop || (more && Instant::now() >= deadline) {
                    return Ok((found, Some(reached)));
                }
            }
            Ok((found, None))
        })
        .await
    }
}

fn hit(run: &RunSummary, names: &[String], found: Found) -> SearchHit {
    let step = names.get(found.step).cloned().unwrap_or_default();
    SearchHit {
        run: run.id,
        pipeline: run.pipeline.clone(),
        number: run.number,
        tag: run.tag.clone(),
        status: run.status,
        created_at: run.created_at,
        link: format!("/runs/{}#step-{step}-L{}", run.id, found.number),
        step,
        line: found.number,
        text: found.text,
        matches: found.matches,
    }
}
