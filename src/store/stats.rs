//! Daily aggregates of ended runs for the dashboard's panel: counted once per run when it
//! ends (and, at start, every ended run not counted yet), read per window of days. A day's
//! run-duration histogram is one row (a JSON array of bucket counts), so a window reads a
//! row per day whatever the number of runs.

use std::collections::BTreeMap;

use conveyor_core::stats::{percentile, top_steps, DayStats, Stats, StepStats, DAY_MS};
use sqlx::{Row, Sqlite, Transaction};

use super::{corrupt, Store, StoreResult};

/// The ended runs not counted yet, as each statement below reads them.
const UNCOUNTED: &str = "counted = 0 AND finished_at IS NOT NULL";

/// Folds the ended runs not counted yet into the daily run and step aggregates (each
/// pipeline's, and all pipelines'). Their durations go in by [`add_durations`]; the runs
/// are then marked counted.
fn count_ended_statements() -> [String; 4] {
    let add_runs = "runs = runs + excluded.runs, succeeded = succeeded + excluded.succeeded, \
                    failed = failed + excluded.failed";
    [
        format!(
            "INSERT INTO run_days (pipeline_id, day, runs, succeeded, failed) \
             SELECT pipeline_id, created_at / 86400000, COUNT(*), SUM(status = 'succeeded'), SUM(status = 'failed') \
             FROM runs WHERE {UNCOUNTED} GROUP BY 1, 2 ON CONFLICT (pipeline_id, day) DO UPDATE SET {add_runs}"
        ),
        format!(
            "INSERT INTO all_run_days (day, runs, succeeded, failed) \
             SELECT created_at / 86400000, COUNT(*), SUM(status = 'succeeded'), SUM(status = 'failed') \
             FROM runs WHERE {UNCOUNTED} GROUP BY 1 ON CONFLICT (day) DO UPDATE SET {add_runs}"
        ),
        step_statement("step_days", "day", 86_400_000),
        step_statement("step_weeks", "week", 7 * 86_400_000),
    ]
}

/// Adds the steps of the ended runs not counted yet to `table`, by `period` (`period_ms`
/// long).
fn step_statement(table: &str, period: &str, period_ms: i64) -> String {
    format!(
        "INSERT INTO {table} ({period}, pipeline_id, step, runs, failed, total_ms, max_ms) \
         SELECT r.created_at / {period_ms}, r.pipeline_id, s.name, COUNT(*), SUM(s.status = 'failed'), \
                SUM(s.finished_at - s.started_at), MAX(s.finished_at - s.started_at) \
         FROM runs r JOIN steps s ON s.run_id = r.id \
         WHERE r.counted = 0 AND r.finished_at IS NOT NULL \
           AND s.started_at IS NOT NULL AND s.finished_at IS NOT NULL \
         GROUP BY 1, 2, 3 \
         ON CONFLICT ({period}, pipeline_id, step) DO UPDATE SET runs = runs + excluded.runs, \
         failed = failed + excluded.failed, total_ms = total_ms + excluded.total_ms, \
         max_ms = MAX(max_ms, excluded.max_ms)"
    )
}

/// A histogram row's counts.
fn counts(text: &str) -> StoreResult<Vec<i64>> {
    serde_json::from_str(text).map_err(|err| corrupt(format!("a duration histogram: {err}")))
}

/// Adds the durations of the ended runs not counted yet to the days' histograms: each
/// run's bucket is the number of bounds at or under its duration (the last bucket takes
/// anything longer).
async fn add_durations(tx: &mut Transaction<'_, Sqlite>) -> StoreResult<()> {
    let rows = sqlx::query(&format!(
        "SELECT pipeline_id, created_at / 86400000 AS day, \
                MIN((SELECT COUNT(*) FROM duration_buckets WHERE low_ms <= finished_at - started_at), \
                    (SELECT MAX(k) FROM duration_buckets)) AS bucket, COUNT(*) AS runs \
         FROM runs WHERE {UNCOUNTED} AND started_at IS NOT NULL GROUP BY 1, 2, 3"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let mut per_pipeline: BTreeMap<(i64, i64), Vec<(usize, i64)>> = BTreeMap::new();
    let mut all: BTreeMap<i64, Vec<(usize, i64)>> = BTreeMap::new();
    for row in &rows {
        let (pipeline, day): (i64, i64) = (row.try_get("pipeline_id")?, row.try_get("day")?);
        let entry = (
            row.try_get::<i64, _>("bucket")? as usize,
            row.try_get("runs")?,
        );
        per_pipeline.entry((pipeline, day)).or_default().push(entry);
        all.entry(day).or_default().push(entry);
    }
    let add = |stored: Option<String>, more: &[(usize, i64)]| -> StoreResult<String> {
        let mut histogram = stored
            .as_deref()
            .map(counts)
            .transpose()?
            .unwrap_or_default();
        for &(bucket, runs) in more {
            if histogram.len() <= bucket {
                histogram.resize(bucket + 1, 0);
            }
            histogram[bucket] += runs;
        }
        serde_json::to_string(&histogram).map_err(corrupt)
    };
    for ((pipeline, day), more) in per_pipeline {
        let stored = sqlx::query_scalar(
            "SELECT runs FROM run_day_durations WHERE pipeline_id = ? AND day = ?",
        )
        .bind(pipeline)
        .bind(day)
        .fetch_optional(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT OR REPLACE INTO run_day_durations (pipeline_id, day, runs) VALUES (?, ?, ?)",
        )
        .bind(pipeline)
        .bind(day)
        .bind(add(stored, &more)?)
        .execute(&mut **tx)
        .await?;
    }
    for (day, more) in all {
        let stored = sqlx::query_scalar("SELECT runs FROM all_run_day_durations WHERE day = ?")
            .bind(day)
            .fetch_optional(&mut **tx)
            .await?;
        sqlx::query("INSERT OR REPLACE INTO all_run_day_durations (day, runs) VALUES (?, ?)")
            .bind(day)
            .bind(add(stored, &more)?)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Counts the runs that ended and are not counted yet into the panel's aggregates: one
    /// transaction, so a run is counted exactly once.
    pub async fn count_ended_runs(&self) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        for statement in count_ended_statements() {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        add_durations(&mut tx).await?;
        sqlx::query(&format!("UPDATE runs SET counted = 1 WHERE {UNCOUNTED}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The panel over the `days` UTC days up to the one holding `now_ms`, of one pipeline
    /// or all.
    pub async fn stats(
        &self,
        pipeline_id: Option<i64>,
        days: u32,
        now_ms: i64,
    ) -> StoreResult<Stats> {
        let last = now_ms.div_euclid(DAY_MS);
        let first = last - i64::from(days) + 1;
        // One pipeline's aggregates, or those of all of them (`?3` is then unused).
        let (days_table, durations_table, pipeline) = match pipeline_id {
            Some(_) => ("run_days", "run_day_durations", "pipeline_id = ?3 AND"),
            None => ("all_run_days", "all_run_day_durations", "?3 IS NULL AND"),
        };
        let rows = sqlx::query(&format!(
            "SELECT day, runs, succeeded, failed FROM {days_table} WHERE {pipeline} day BETWEEN ?1 AND ?2"
        ))
        .bind(first)
        .bind(last)
        .bind(pipeline_id)
        .fetch_all(&self.reader)
        .await?;
        let mut per_day: Vec<DayStats> = (first..=last)
            .map(|day| DayStats {
                day: day * DAY_MS,
                ..DayStats::default()
            })
            .collect();
        for row in &rows {
            let day: i64 = row.try_get("day")?;
            if let Some(slot) = per_day.get_mut((day - first) as usize) {
                slot.runs = row.try_get("runs")?;
                slot.succeeded = row.try_get("succeeded")?;
                slot.failed = row.try_get("failed")?;
            }
        }
        let mut histogram: Vec<i64> = Vec::new();
        let rows = sqlx::query(&format!(
            "SELECT runs FROM {durations_table} WHERE {pipeline} day BETWEEN ?1 AND ?2"
        ))
        .bind(first)
        .bind(last)
        .bind(pipeline_id)
        .fetch_all(&self.reader)
        .await?;
        for row in &rows {
            let day = counts(row.try_get("runs")?)?;
            if histogram.len() < day.len() {
                histogram.resize(day.len(), 0);
            }
            for (total, runs) in histogram.iter_mut().zip(day) {
                *total += runs;
            }
        }
        let bounds: Vec<f64> = sqlx::query_scalar("SELECT low_ms FROM duration_buckets ORDER BY k")
            .fetch_all(&self.reader)
            .await?;
        // Bucket k holds durations from bound k - 1 (0 for the first) up to bound k.
        let buckets: Vec<(f64, f64, i64)> = histogram
            .iter()
            .enumerate()
            .filter(|(_, &runs)| runs > 0)
            .map(|(k, &runs)| {
                let low = k
                    .checked_sub(1)
                    .and_then(|i| bounds.get(i))
                    .copied()
                    .unwrap_or(0.0);
                let high = bounds.get(k).copied().unwrap_or(low);
                (low, high, runs)
            })
            .collect();
        // Every step of the window once (its whole weeks from the weekly rows, the days
        // before and after them from the daily ones); both lists are cut from it.
        let (weeks_from, weeks_to) = ((first + 6).div_euclid(7), (last + 1).div_euclid(7) - 1);
        let (days_before, days_after) = if weeks_from <= weeks_to {
            (weeks_from * 7 - 1, (weeks_to + 1) * 7)
        } else {
            (last, last + 1)
        };
        let pipeline = match pipeline_id {
            Some(_) => "pipeline_id = ?3 AND",
            None => "?3 IS NULL AND",
        };
        let steps = sqlx::query(&format!(
            "SELECT p.name AS pipeline, w.step, w.runs, w.failed, w.total_ms / w.runs AS mean_ms, w.max_ms FROM \
             (SELECT pipeline_id, step, SUM(runs) AS runs, SUM(failed) AS failed, SUM(total_ms) AS total_ms, \
                     MAX(max_ms) AS max_ms FROM \
              (SELECT pipeline_id, step, runs, failed, total_ms, max_ms FROM step_days \
               WHERE {pipeline} (day BETWEEN ?1 AND ?4 OR day BETWEEN ?5 AND ?2) \
               UNION ALL \
               SELECT pipeline_id, step, runs, failed, total_ms, max_ms FROM step_weeks \
               WHERE {pipeline} week BETWEEN ?6 AND ?7) \
              GROUP BY pipeline_id, step) w \
             JOIN pipelines p ON p.id = w.pipeline_id"
        ))
        .bind(first)
        .bind(last)
        .bind(pipeline_id)
        .bind(days_before)
        .bind(days_after)
        .bind(weeks_from)
        .bind(weeks_to)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|row| {
            Ok(StepStats {
                pipeline: row.try_get("pipeline")?,
                step: row.try_get("step")?,
                runs: row.try_get("runs")?,
                failed: row.try_get("failed")?,
                mean_ms: row.try_get("mean_ms")?,
                max_ms: row.try_get("max_ms")?,
            })
        })
        .collect::<StoreResult<Vec<StepStats>>>()?;
        let (slowest_steps, failing_steps) = top_steps(steps);
        let runs: i64 = per_day.iter().map(|d| d.runs).sum();
        let succeeded: i64 = per_day.iter().map(|d| d.succeeded).sum();
        Ok(Stats {
            days,
            runs,
            succeeded,
            failed: per_day.iter().map(|d| d.failed).sum(),
            success_rate: conveyor_core::stats::percent(succeeded, runs),
            p50_ms: percentile(&buckets, 0.5),
            p95_ms: percentile(&buckets, 0.95),
            per_day,
            slowest_steps,
            failing_steps,
        })
    }
}
