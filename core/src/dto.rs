//! What the REST API and the pages exchange about pipelines, runs and workflows: plain
//! serde types, built by the server, read by scripts and the browser.

use serde::{Deserialize, Serialize};

use crate::definition::{Params, Pipeline, Problem};
use crate::plan::Plan;
use crate::run::{LogStream, RunStatus, StepState, Trigger};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub id: i64,
    pub pipeline: String,
    /// Per-pipeline run number, from 1.
    pub number: i64,
    /// Pipeline version the run executed.
    pub version: i64,
    pub tag: String,
    pub status: RunStatus,
    /// Unix milliseconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub message: Option<String>,
    /// The engine the run went to: `local` or `tekton`.
    pub engine: String,
    /// How it started: `ui`, `api` or `rerun`.
    #[serde(default)]
    pub trigger: Trigger,
    /// The account that started it (none: the server itself, or before accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// The branch its code came from, when it came from a branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The code it built, when a forge's event started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<crate::run::Commit>,
    /// A queued run's place in its pipeline's queue: 1 starts next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_place: Option<i64>,
}

/// A forge's delivery as one pipeline saw it: what it was, and the run it started or why
/// none ("why didn't my push build?").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliverySummary {
    /// `github`, `gitea` or `gitlab`.
    pub forge: String,
    /// The forge's delivery id.
    pub delivery: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// Unix milliseconds.
    pub received_at: i64,
    pub pipeline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_number: Option<i64>,
    /// Why no run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RunSummary {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }

    /// Folds one run status event in: the store applies this to its run rows, the browser
    /// to the run page. The first status change starts the run; a final one ends it.
    pub fn apply(&mut self, status: RunStatus, message: Option<&str>, ts: i64) {
        self.status = status;
        if let Some(message) = message {
            self.message = Some(message.to_owned());
        }
        if status != RunStatus::Queued {
            self.queue_place = None;
            self.started_at.get_or_insert(ts);
        }
        if status.is_terminal() {
            self.finished_at = Some(ts);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunSummary,
    pub params: Params,
    pub steps: Vec<StepState>,
    /// Webhook deliveries of this run so far, oldest first.
    pub webhooks: Vec<WebhookDelivery>,
    /// Its approval gates' decisions: who decided, and when.
    #[serde(default)]
    pub decisions: Vec<GateDecision>,
    /// Who may decide each gate that names its approvers, by step name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub gates: std::collections::BTreeMap<String, crate::approval::ApprovalRule>,
    /// The image the run pushed, pinned by digest (`name@sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Who approved or refused a step, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateDecision {
    pub step: String,
    pub approved: bool,
    /// The account that decided.
    pub by: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// One line of a run's log as the log viewer shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub seq: i64,
    pub step: String,
    /// 1-based, within its step: what `#step-<name>-L<n>` links point at. Every log event
    /// of the step counts, pieces of an over-long line included.
    pub number: usize,
    pub stream: LogStream,
    pub text: String,
}

/// How many of a run's last log lines its page carries in its HTML, for reading before
/// the WASM has loaded (or without JavaScript).
pub const LOG_TAIL_LINES: u32 = 200;

/// One webhook call and how it ended. Only the scheme and host of the URL are kept: its
/// path and query often carry a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub step: String,
    pub event: String,
    /// `scheme://host[:port]` of the URL called.
    pub target: String,
    pub attempts: u32,
    /// The HTTP status of the last attempt, when one was received.
    pub status_code: Option<u16>,
    /// Why the last attempt failed, when it did.
    pub error: Option<String>,
    pub ok: bool,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
    /// Pass as `after` to get the previous (newer) page; absent on the newest page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSummary {
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub updated_at: i64,
    pub latest_run: Option<RunSummary>,
    /// The last finished runs, oldest first (for the sparkline and the success rate).
    pub recent: Vec<RecentRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentRun {
    pub status: RunStatus,
    pub duration_ms: Option<i64>,
}

/// How many finished runs the dashboard shows per pipeline.
pub const RECENT_RUNS: usize = 20;

/// Folds a run's new state into the dashboard's rows (one run at a time per pipeline, so
/// a run that ends is the newest finished one). `false`: its pipeline is not among the
/// rows, and they should be read again.
pub fn apply_run_change(rows: &mut [PipelineSummary], run: RunSummary) -> bool {
    let Some(row) = rows.iter_mut().find(|p| p.name == run.pipeline) else {
        return false;
    };
    let latest = row.latest_run.as_ref();
    if latest.is_some_and(|l| l.id > run.id) {
        return true;
    }
    let newly_finished = run.status.is_terminal()
        && !latest.is_some_and(|l| l.id == run.id && l.status.is_terminal());
    if newly_finished {
        row.recent.push(RecentRun {
            status: run.status,
            duration_ms: run.duration_ms(),
        });
        if row.recent.len() > RECENT_RUNS {
            row.recent.remove(0);
        }
    }
    row.latest_run = Some(run);
    true
}

/// Share of succeeded runs among finished ones, in percent.
pub fn success_rate(recent: &[RecentRun]) -> Option<u32> {
    let finished = recent.iter().filter(|r| r.status.is_terminal()).count();
    let succeeded = recent
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count();
    crate::stats::percent(succeeded as i64, finished as i64)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineDetail {
    pub name: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The document as saved (comments and key order kept).
    pub source: String,
    pub definition: Pipeline,
    pub plan: Plan,
    pub latest_run: Option<RunSummary>,
    /// The engine its runs go to: its own `engine:`, or the server's default.
    pub engine: String,
    /// A workflow's pipeline: edited through its deployment settings, not as a document.
    #[serde(default)]
    pub workflow: bool,
    /// Its next scheduled runs (Unix milliseconds), soonest first: three at most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_runs: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineVersion {
    pub version: i64,
    pub created_at: i64,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Validation {
    pub valid: bool,
    pub problems: Vec<Problem>,
    pub plan: Option<Plan>,
}

impl Validation {
    pub fn of(source: &str) -> Validation {
        match crate::document::check_document(source) {
            Ok((_, plan)) => Validation {
                valid: true,
                problems: Vec::new(),
                plan: Some(plan),
            },
            Err(problems) => Validation {
                valid: false,
                problems,
                plan: None,
            },
        }
    }
}

/// A workflow as the API shows it: passwords appear as `"********"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowDetail {
    pub name: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub workflow: crate::workflow::Workflow,
    /// The pipeline it runs: stage `build` (clone, build) and, with autoDeploy, `deploy`.
    pub plan: Plan,
    /// Its status: the latest run's, with its sub-tasks.
    pub latest_run: Option<RunSummary>,
    pub steps: Vec<StepState>,
    pub engine: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowSummary {
    pub name: String,
    pub image: String,
    pub auto_deploy: bool,
    pub latest_run: Option<RunSummary>,
}

/// Two saved versions of a pipeline and the line diff between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionComparison {
    /// Every version: its number and when it was saved, newest first.
    pub versions: Vec<(i64, i64)>,
    pub from: i64,
    pub to: i64,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffLine {
    /// `same`, `added` or `removed`.
    pub kind: String,
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub text: String,
}

/// Which runs a listing shows, newest first: the REST API's query string, the history
/// page's filters and the store's listing all take this one shape. Dates are UTC days,
/// `YYYY-MM-DD`, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct RunsQuery {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this image tag.
    pub tag: Option<String>,
    /// Only runs created on or after this UTC day (`YYYY-MM-DD`).
    pub since: Option<String>,
    /// Only runs created on or before this UTC day (`YYYY-MM-DD`).
    pub until: Option<String>,
    /// How the runs started: `ui`, `api`, `rerun`, `push`, `pull_request`, `schedule` or
    /// `kubernetes`.
    pub trigger: Option<Trigger>,
    /// Only runs of code from this branch.
    pub branch: Option<String>,
    /// Keyset cursor: only runs with a smaller id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Keyset cursor the other way: only runs with a larger id, the oldest of them (the
    /// `next_after` of a page: the newer runs before it).
    pub after: Option<i64>,
    /// Page size, 1–500 (default 25).
    pub limit: Option<u32>,
}

impl RunsQuery {
    /// Rows per page when the query does not say.
    pub const DEFAULT_LIMIT: u32 = 25;

    /// Reads a query from `name=value` pairs as a query string or a form gives them. An
    /// empty value means no filter; a value that does not parse, a name given twice or an
    /// unknown name is a problem at that name.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<RunsQuery, Problem> {
        fn set<T: std::str::FromStr>(
            slot: &mut Option<T>,
            name: &str,
            value: &str,
        ) -> Result<(), Problem>
        where
            T::Err: std::fmt::Display,
        {
            if slot.is_some() {
                return Err(Problem::new(name, format!("\"{name}\" is given twice")));
            }
            if !value.is_empty() {
                let parsed = value.parse().map_err(|err: T::Err| match name {
                    "before" | "after" | "limit" => {
                        Problem::new(name, format!("\"{value}\" is not a number"))
                    }
                    _ => Problem::new(name, err.to_string()),
                })?;
                *slot = Some(parsed);
            }
            Ok(())
        }
        let mut query = RunsQuery::default();
        for (name, value) in pairs {
            match name {
                "status" => set(&mut query.status, name, value)?,
                "tag" => set(&mut query.tag, name, value)?,
                "since" => set(&mut query.since, name, value)?,
                "until" => set(&mut query.until, name, value)?,
                "trigger" => set(&mut query.trigger, name, value)?,
                "branch" => set(&mut query.branch, name, value)?,
                "before" => set(&mut query.before, name, value)?,
                "after" => set(&mut query.after, name, value)?,
                "limit" => set(&mut query.limit, name, value)?,
                other => {
                    return Err(Problem::new(
                        other,
                        format!(
                            "unknown filter \"{other}\"; known: status, tag, since, until, trigger, branch, before, after, limit"
                        ),
                    ))
                }
            }
        }
        Ok(query)
    }

    /// Rows per page: the query's, 1 to 500, or [`Self::DEFAULT_LIMIT`].
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, 500)
    }

    /// The filters that need checking, each problem at its name: the dates and the tag.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, day) in [("since", &self.since), ("until", &self.until)] {
            if let Some(text) = day
                .as_deref()
                .filter(|d| crate::format::day_start_ms(d).is_none())
            {
                problems.push(Problem::new(
                    name,
                    format!("\"{text}\" is not a date like 2026-11-21"),
                ));
            }
        }
        if let Some(tag) = self.tag.as_deref().filter(|t| !crate::run::is_valid_tag(t)) {
            problems.push(Problem::new(
                "tag",
                format!(
                    "\"{tag}\" is not a valid image tag: {}",
                    crate::run::TAG_RULE
                ),
            ));
        }
        if self.before.is_some() && self.after.is_some() {
            problems.push(Problem::new(
                "after",
                "give `before` (older runs) or `after` (newer runs), not both",
            ));
        }
        problems
    }

    /// The date range as Unix milliseconds: created at or after the first, before the
    /// second (the day after `until`).
    pub fn created_range(&self) -> (Option<i64>, Option<i64>) {
        let day = |d: &Option<String>| d.as_deref().and_then(crate::format::day_start_ms);
        (day(&self.since), day(&self.until).map(|ms| ms + 86_400_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, status: RunStatus) -> RunSummary {
        RunSummary {
            id,
            pipeline: "web".into(),
            number: id,
            version: 1,
            tag: "v1".into(),
            status,
            created_at: 0,
            started_at: Some(10),
            finished_at: status.is_terminal().then_some(40),
            message: None,
            engine: "local".into(),
            trigger: Trigger::Api,
            started_by: None,
            branch: None,
            commit: None,
            queue_place: None,
        }
    }

    #[test]
    fn run_changes_fold_into_dashboard_rows() {
        let mut rows = vec![PipelineSummary {
            name: "web".into(),
            description: None,
            version: 1,
            updated_at: 0,
            latest_run: None,
            recent: Vec::new(),
        }];
        assert!(apply_run_change(&mut rows, run(1, RunStatus::Running)));
        assert_eq!(
            rows[0].latest_run.as_ref().map(|r| r.status),
            Some(RunStatus::Running)
        );
        assert!(rows[0].recent.is_empty(), "not finished yet");
        assert!(apply_run_change(&mut rows, run(1, RunStatus::Succeeded)));
        // The same end told twice (a reload raced the feed) counts once.
        assert!(apply_run_change(&mut rows, run(1, RunStatus::Succeeded)));
        assert_eq!(
            rows[0].recent,
            [RecentRun {
                status: RunStatus::Succeeded,
                duration_ms: Some(30)
            }]
        );
        // An older run's news does not replace a newer one.
        assert!(apply_run_change(&mut rows, run(2, RunStatus::Failed)));
        assert!(apply_run_change(&mut rows, run(1, RunStatus::Succeeded)));
        assert_eq!(rows[0].latest_run.as_ref().map(|r| r.id), Some(2));
        assert_eq!(success_rate(&rows[0].recent), Some(50));
        for id in 3..30 {
            apply_run_change(&mut rows, run(id, RunStatus::Failed));
        }
        assert_eq!(rows[0].recent.len(), RECENT_RUNS);
        assert!(
            !apply_run_change(
                &mut rows,
                RunSummary {
                    pipeline: "other".into(),
                    ..run(40, RunStatus::Running)
                }
            ),
            "unknown: reload"
        );
    }
}
