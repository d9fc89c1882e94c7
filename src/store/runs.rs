//! Runs and their steps; the history listing.

use std::str::FromStr;

use conveyor_core::definition::{Concurrency, EngineKind, Params};
use conveyor_core::dto::{RunSummary, RunsQuery};
use conveyor_core::run::{Commit, StepState, StepStatus, Trigger};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{
    corrupt, is_unique_violation, now_ms, refuse_active_run, run_summary, Store, StoreError,
    StoreResult, RUN_COLUMNS,
};

/// A run as recorded when it is created.
pub struct NewRun<'a> {
    pub pipeline_id: i64,
    pub version: i64,
    pub tag: &'a str,
    pub params: &'a Params,
    pub engine: EngineKind,
    pub trigger: Trigger,
    /// The account that starts it.
    pub started_by: Option<&'a str>,
    /// Its resolved steps (`conveyor_core::resolve::ResolvedRun`), as JSON.
    pub resolved: &'a str,
    /// Whether it waits for the runs in flight (queued) or is refused.
    pub concurrency: Concurrency,
    /// The code it builds, when a forge's event started it.
    pub commit: Option<&'a Commit>,
    /// A workflow run's deploy as planned (JSON), recorded as a release when it ends.
    pub release_plan: Option<&'a str>,
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

impl Store {
    /// Records a new run and its steps: pending, or queued behind the pipeline's runs that
    /// have not ended. With [`Concurrency::Refuse`], fails with [`StoreError::ActiveRun`] when
    /// the pipeline has a run in flight (checked by a unique index, so races lose too).
    pub async fn create_run(&self, run: &NewRun<'_>, steps: &[NewStep]) -> StoreResult<RunSummary> {
        let now = now_ms();
        let params = serde_json::to_string(run.params).map_err(corrupt)?;
        let status = match run.concurrency {
            Concurrency::Refuse => "'pending'",
            Concurrency::Queue | Concurrency::CancelPrevious => {
                "CASE WHEN EXISTS (SELECT 1 FROM runs WHERE pipeline_id = ?1 AND finished_at IS NULL) \
                 THEN 'queued' ELSE 'pending' END"
            }
        };
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO runs (pipeline_id, version, number, tag, params, status, created_at, engine, trigger, resolved, started_by, \
             branch, commit_sha, git_ref, commit_author, commit_message, pr_number, commit_url, forge, from_fork, release_plan) \
             VALUES (?1, ?2, (SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline_id = ?1), ?3, ?4, {status}, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) RETURNING id",
        ))
        .bind(run.pipeline_id)
        .bind(run.version)
        .bind(run.tag)
        .bind(&params)
        .bind(now)
        .bind(run.engine.as_str())
        .bind(run.trigger.as_str())
        .bind(run.resolved)
        .bind(run.started_by)
        .bind(run.commit.and_then(|c| c.branch.as_deref()))
        .bind(run.commit.map(|c| c.sha.as_str()))
        .bind(run.commit.map(|c| c.git_ref.as_str()))
        .bind(run.commit.and_then(|c| c.author.as_deref()))
        .bind(run.commit.and_then(|c| c.message.as_deref()))
        .bind(run.commit.and_then(|c| c.pull_request))
        .bind(run.commit.and_then(|c| c.url.as_deref()))
        .bind(run.commit.and_then(|c| c.forge.as_deref()))
        .bind(run.commit.is_some_and(|c| c.from_fork))
        .bind(run.release_plan)
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
                let status = if step.reused.is_some() {
                    "succeeded"
                } else {
                    "pending"
                };
                row.push_bind(run_id)
                    .push_bind(idx as i64)
                    .push_bind(&step.stage)
                    .push_bind(&step.name)
                    .push_bind(&needs[idx])
                    .push_bind(step.approval)
                    .push_bind(status)
                    .push_bind(step.reused.as_deref());
            });
            insert.build().execute(&mut *tx).await?;
        }
        let summary = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?"
        ))
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
        let summary = run_summary(&summary)?;
        tx.commit().await?;
        Ok(summary)
    }

    pub async fn run(&self, id: i64) -> StoreResult<Option<RunSummary>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?"
        ))
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

    /// Records the image a run pushed, pinned by digest.
    pub async fn set_run_image(&self, id: i64, image: &str) -> StoreResult<()> {
        sqlx::query("UPDATE runs SET image = ? WHERE id = ?")
            .bind(image)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The image a run pushed (`name@sha256:…`), if it pushed one.
    pub async fn run_image(&self, id: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query("SELECT image FROM runs WHERE id = ?")
            .bind(id)
            .fetch_one(&self.reader)
            .await?
            .try_get("image")?)
    }

    /// A workflow run's deploy as planned when it started (JSON), if it deploys.
    pub async fn run_release_plan(&self, id: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query("SELECT release_plan FROM runs WHERE id = ?")
            .bind(id)
            .fetch_one(&self.reader)
            .await?
            .try_get("release_plan")?)
    }

    /// The pipeline id and version a run executed, and its resolved steps as JSON (none for
    /// runs from before they were kept).
    pub async fn run_origin(&self, id: i64) -> StoreResult<(i64, i64, Option<String>)> {
        let row = sqlx::query("SELECT pipeline_id, version, resolved FROM runs WHERE id = ?")
            .bind(id)
            .fetch_one(&self.reader)
            .await?;
        Ok((
            row.try_get("pipeline_id")?,
            row.try_get("version")?,
            row.try_get("resolved")?,
        ))
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

    /// Deletes every finished run of a pipeline (seed 000's `emptytask`); refuses while one
    /// is in flight. Returns how many were deleted.
    pub async fn delete_runs(&self, pipeline_id: i64) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        refuse_active_run(&mut tx, pipeline_id).await?;
        let deleted: Vec<i64> =
            sqlx::query_scalar("DELETE FROM runs WHERE pipeline_id = ? RETURNING id")
                .bind(pipeline_id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        self.forget_runs(&deleted).await;
        Ok(deleted.len() as u64)
    }

    /// One page of runs (of one pipeline, or all), newest first, by keyset (`before` = the
    /// last id of the previous page); the id to pass as `before` for the next page.
    pub async fn runs(
        &self,
        pipeline_id: Option<i64>,
        query: &RunsQuery,
    ) -> StoreResult<(Vec<RunSummary>, Option<i64>, Option<i64>)> {
        let limit = i64::from(query.page_size());
        let Some(ids) = self.id_range(query).await? else {
            return Ok((Vec::new(), None, None));
        };
        let rows = runs_query("", pipeline_id, query, ids, limit + 1)
            .build()
            .fetch_all(&self.reader)
            .await?;
        let mut runs: Vec<RunSummary> = rows.iter().map(run_summary).collect::<StoreResult<_>>()?;
        let more = runs.len() as i64 > limit;
        runs.truncate(limit as usize);
        if query.after.is_some() {
            // Read oldest first from the cursor up: the page shows newest first.
            runs.reverse();
        }
        let (newest, oldest) = (runs.first().map(|r| r.id), runs.last().map(|r| r.id));
        // Whether a run the filters allow lies beyond `edge` (older, or newer).
        let beyond = |edge: Option<i64>, older: bool| async move {
            let Some(edge) = edge else {
                return Ok::<_, StoreError>(None);
            };
            let probe = RunsQuery {
                before: older.then_some(edge),
                after: (!older).then_some(edge),
                ..query.clone()
            };
            let found = runs_query("", pipeline_id, &probe, ids, 1)
                .build()
                .fetch_optional(&self.reader)
                .await?;
            Ok(found.map(|_| edge))
        };
        let (next_before, next_after) = match query.after {
            None => (
                if more { oldest } else { None },
                match query.before {
                    Some(_) => beyond(newest, false).await?,
                    None => None,
                },
            ),
            Some(_) => (
                beyond(oldest, true).await?,
                if more { newest } else { None },
            ),
        };
        Ok((runs, next_before, next_after))
    }

    /// The ids a date filter allows, found through the `created_at` index; `None` when no
    /// run falls in the range.
    pub(super) async fn id_range(&self, query: &RunsQuery) -> StoreResult<Option<(i64, i64)>> {
        let (since, until) = query.created_range();
        let mut range = (0, i64::MAX);
        if let Some(since) = since {
            let row = sqlx::query("SELECT MIN(id) AS id FROM runs WHERE created_at >= ?")
                .bind(since)
                .fetch_one(&self.reader)
                .await?;
            match row.try_get::<Option<i64>, _>("id")? {
                Some(id) => range.0 = id,
                None => return Ok(None),
            }
        }
        if let Some(until) = until {
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

    /// Runs left in flight by a previous server process (queued runs are still waiting).
    pub async fn unfinished_runs(&self) -> StoreResult<Vec<i64>> {
        let rows =
            sqlx::query("SELECT id FROM runs WHERE finished_at IS NULL AND status != 'queued'")
                .fetch_all(&self.writer)
                .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }
}

/// The run listing: only the conditions in use, so SQLite picks the matching index.
/// `ids` bounds the run ids (both inclusive; `(0, i64::MAX)`: no bounds): a date range made
/// an id range.
pub(super) fn runs_query<'a>(
    prefix: &str,
    pipeline_id: Option<i64>,
    query: &'a RunsQuery,
    ids: (i64, i64),
    limit: i64,
) -> QueryBuilder<'a, Sqlite> {
    let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "{prefix}SELECT {RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE 1 = 1"
    ));
    if let Some(pipeline_id) = pipeline_id {
        sql.push(" AND r.pipeline_id = ").push_bind(pipeline_id);
    }
    if let Some(status) = query.status {
        sql.push(" AND r.status = ").push_bind(status.as_str());
    }
    if let Some(tag) = &query.tag {
        sql.push(" AND r.tag = ").push_bind(tag.as_str());
    }
    if let Some(trigger) = query.trigger {
        sql.push(" AND r.trigger = ").push_bind(trigger.as_str());
    }
    if let Some(branch) = &query.branch {
        sql.push(" AND r.branch = ").push_bind(branch.as_str());
    }
    if ids.0 > 0 {
        sql.push(" AND r.id >= ").push_bind(ids.0);
    }
    if ids.1 < i64::MAX {
        sql.push(" AND r.id <= ").push_bind(ids.1);
    }
    if let Some(before) = query.before {
        sql.push(" AND r.id < ").push_bind(before);
    }
    match query.after {
        Some(after) => {
            sql.push(" AND r.id > ").push_bind(after);
            sql.push(" ORDER BY r.id ASC LIMIT ").push_bind(limit);
        }
        None => {
            sql.push(" ORDER BY r.id DESC LIMIT ").push_bind(limit);
        }
    }
    sql
}
