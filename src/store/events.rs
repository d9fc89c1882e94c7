//! Each run's event stream: log lines, step and run status changes under one per-run
//! sequence, and the step and run rows those changes fold into.

use std::collections::BTreeMap;
use std::str::FromStr;

use conveyor_core::dto::RunSummary;
use conveyor_core::run::{Event, EventBody, LogStream, RunStatus, StepState, StepStatus};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::logs::{Line, RunLog, StepLog};
use super::{corrupt, Store, StoreResult};

/// Everything one supervisor batch writes, in one transaction: status events, and log lines
/// (by step index) for the log store.
#[derive(Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub lines: Vec<(usize, Line)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.lines.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len() + self.lines.len()
    }

    /// Whether the batch changes the run's status (dashboards hear of it).
    pub fn changes_run(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e.body, EventBody::Run { .. }))
    }
}

impl Store {
    /// The last sequence number of a run, events and log lines alike (0 when it has none).
    pub async fn last_seq(&self, run_id: i64) -> StoreResult<i64> {
        Ok(sqlx::query(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM run_events WHERE run_id = ?1), 0), \
             COALESCE((SELECT MAX(log_last_seq) FROM steps WHERE run_id = ?1), 0)) AS seq",
        )
        .bind(run_id)
        .fetch_one(&self.writer)
        .await?
        .try_get("seq")?)
    }

    /// Persists a supervisor batch: its lines to their segments, then in one transaction its
    /// events, the step and run rows they change (folded as the browser folds them) and how
    /// far each segment is committed. A failed commit cuts the segments back.
    pub async fn append(&self, log: &mut RunLog, batch: &Batch) -> StoreResult<()> {
        let written = match self.write_lines(log, &batch.lines) {
            Ok(next) => self.append_events(log, batch, &next).await.map(|()| next),
            Err(err) => Err(err),
        };
        match written {
            Ok(next) => {
                log.committed(next);
                Ok(())
            }
            Err(err) => {
                self.cut_back(log);
                Err(err)
            }
        }
    }

    async fn append_events(
        &self,
        log: &RunLog,
        batch: &Batch,
        lines: &std::collections::BTreeMap<usize, StepLog>,
    ) -> StoreResult<()> {
        let run_id = log.run_id();
        let mut tx = self.writer.begin().await?;
        Store::commit_lines(&mut tx, log, lines).await?;
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
                        Some(*step as i64),
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
                        Some(*step as i64),
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
        // What the batch changes, folded from nothing: a field the batch leaves empty keeps
        // the row's value (COALESCE), which is what folding onto the row itself gives.
        let mut steps: BTreeMap<usize, StepState> = BTreeMap::new();
        let mut run: Option<RunSummary> = None;
        for event in &batch.events {
            match &event.body {
                EventBody::Step {
                    step,
                    status,
                    exit_code,
                    message,
                } => steps.entry(*step).or_default().apply(
                    *status,
                    *exit_code,
                    message.as_deref(),
                    event.ts,
                ),
                EventBody::Run { status, message } => run
                    .get_or_insert_with(RunSummary::default)
                    .apply(*status, message.as_deref(), event.ts),
                EventBody::Log { .. } => {}
            }
        }
        let steps: Vec<(usize, StepState)> = steps.into_iter().collect();
        for changes in steps.chunks(3000) {
            let mut update: QueryBuilder<Sqlite> = QueryBuilder::new(
                "UPDATE steps SET status = v.column2, exit_code = COALESCE(v.column3, steps.exit_code), \
                 message = COALESCE(v.column4, steps.message), started_at = COALESCE(v.column5, steps.started_at), \
                 finished_at = COALESCE(v.column6, steps.finished_at) FROM (",
            );
            update.push_values(changes, |mut row, (index, change)| {
                row.push_bind(*index as i64)
                    .push_bind(change.status.as_str())
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
        if let Some(run) = run {
            sqlx::query(
                "UPDATE runs SET status = ?1, message = COALESCE(?2, message), \
                 started_at = COALESCE(started_at, ?3), finished_at = COALESCE(?4, finished_at) \
                 WHERE id = ?5",
            )
            .bind(run.status.as_str())
            .bind(run.message)
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Status events of a run with `after < seq <= upto`, in order, at most `limit`.
    pub async fn events_after(
        &self,
        run_id: i64,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, ts, kind, step, stream, partial, status, exit_code, text \
             FROM run_events WHERE run_id = ? AND seq > ? AND seq <= ? AND kind != 'log' \
             ORDER BY seq LIMIT ?",
        )
        .bind(run_id)
        .bind(after)
        .bind(upto)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(run_event).collect()
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
        let counts = sqlx::query("SELECT idx, log_own FROM steps WHERE run_id = ?")
            .bind(run_id)
            .fetch_all(&self.writer)
            .await?;
        for row in counts {
            let (step, count): (i64, i64) = (row.try_get("idx")?, row.try_get("log_own")?);
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
}

fn stream(row: &SqliteRow) -> StoreResult<LogStream> {
    LogStream::from_str(
        row.try_get::<Option<&str>, _>("stream")?
            .unwrap_or("stdout"),
    )
    .map_err(corrupt)
}

fn run_event(row: &SqliteRow) -> StoreResult<Event> {
    let kind: &str = row.try_get("kind")?;
    let step = || -> StoreResult<usize> {
        let step = row
            .try_get::<Option<i64>, _>("step")?
            .ok_or_else(|| corrupt("event without its step"))?;
        Ok(step as usize)
    };
    let status = || -> StoreResult<&str> {
        row.try_get::<Option<&str>, _>("status")?
            .ok_or_else(|| corrupt("event without a status"))
    };
    let body = match kind {
        "log" => EventBody::Log {
            step: step()?,
            stream: stream(row)?,
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
    Ok(Event {
        seq: row.try_get("seq")?,
        ts: row.try_get("ts")?,
        body,
    })
}
