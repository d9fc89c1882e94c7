//! Runs, steps and their lifecycle (seed 004), plus the data the API and pages exchange.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::definition::{Params, Pipeline, Problem};
use crate::plan::Plan;

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} \"{other}\"; expected one of: {}",
                        $what,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

status_enum!(
    /// Lifecycle of a run.
    RunStatus ("run status") {
        Pending = "pending",
        Running = "running",
        WaitingApproval = "waiting_approval",
        Cancelling = "cancelling",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Refused = "refused",
    }
);

status_enum!(
    /// Lifecycle of a step.
    StepStatus ("step status") {
        Pending = "pending",
        WaitingApproval = "waiting_approval",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Skipped = "skipped",
        Refused = "refused",
    }
);

status_enum!(
    /// Which output a log line came from.
    LogStream ("log stream") { Stdout = "stdout", Stderr = "stderr", System = "system" }
);

/// An optional filter value as forms and query strings give it: empty means none, anything
/// else must parse (the error names what was expected).
pub fn parse_filter<T: FromStr<Err = String>>(text: Option<&str>) -> Result<Option<T>, String> {
    text.filter(|t| !t.is_empty()).map(str::parse).transpose()
}

status_enum!(
    /// How a run started.
    Trigger ("trigger") { Ui = "ui", Api = "api", Rerun = "rerun" }
);

impl Default for Trigger {
    fn default() -> Self {
        Trigger::Api
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {what} cannot go from {from} to {to}")]
pub struct TransitionError {
    pub what: &'static str,
    pub from: &'static str,
    pub to: &'static str,
}

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Skipped | Self::Refused
        )
    }

    /// The only way a step's status changes.
    pub fn transition(self, to: StepStatus) -> Result<StepStatus, TransitionError> {
        use StepStatus::*;
        let allowed = match self {
            Pending => matches!(to, Running | WaitingApproval | Skipped | Cancelled),
            // Approval puts the step back in the queue; refusal ends it.
            WaitingApproval => matches!(to, Pending | Refused | Cancelled | Skipped),
            Running => matches!(to, Succeeded | Failed | Cancelled),
            Succeeded | Failed | Cancelled | Skipped | Refused => false,
        };
        if allowed {
            Ok(to)
        } else {
            Err(TransitionError {
                what: "step",
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }

    /// Name of the webhook event a status change raises, if any.
    pub fn webhook_event(self) -> Option<&'static str> {
        match self {
            StepStatus::Running => Some("STARTED"),
            StepStatus::Succeeded => Some("SUCCEEDED"),
            StepStatus::Failed => Some("FAILED"),
            StepStatus::Cancelled => Some("CANCELLED"),
            StepStatus::Skipped => Some("SKIPPED"),
            StepStatus::Refused => Some("REFUSED"),
            StepStatus::Pending | StepStatus::WaitingApproval => None,
        }
    }
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Refused
        )
    }

    pub fn transition(self, to: RunStatus) -> Result<RunStatus, TransitionError> {
        use RunStatus::*;
        let allowed = self == to && !self.is_terminal()
            || match self {
                Pending => matches!(to, Running | Cancelling | Failed | Cancelled),
                Running => matches!(
                    to,
                    WaitingApproval | Cancelling | Succeeded | Failed | Refused | Cancelled
                ),
                WaitingApproval => matches!(
                    to,
                    Running | Cancelling | Succeeded | Failed | Refused | Cancelled
                ),
                Cancelling => matches!(to, Cancelled),
                Succeeded | Failed | Cancelled | Refused => false,
            };
        if allowed {
            Ok(to)
        } else {
            Err(TransitionError {
                what: "run",
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }

    /// Status of a run still in flight, from its steps.
    pub fn in_flight(steps: &[StepStatus], cancel_requested: bool) -> RunStatus {
        if cancel_requested {
            RunStatus::Cancelling
        } else if !steps.contains(&StepStatus::Running)
            && steps.contains(&StepStatus::WaitingApproval)
        {
            RunStatus::WaitingApproval
        } else {
            RunStatus::Running
        }
    }

    /// Outcome of a run whose steps have all ended.
    pub fn outcome(steps: &[StepStatus], cancel_requested: bool) -> RunStatus {
        if cancel_requested || steps.contains(&StepStatus::Cancelled) {
            RunStatus::Cancelled
        } else if steps.contains(&StepStatus::Failed) {
            RunStatus::Failed
        } else if steps.contains(&StepStatus::Refused) {
            RunStatus::Refused
        } else {
            RunStatus::Succeeded
        }
    }
}

/// True for a Docker image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub const TAG_RULE: &str =
    "a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
}

impl RunSummary {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StepState {
    pub index: usize,
    pub stage: String,
    pub name: String,
    pub status: StepStatus,
    pub needs: Vec<String>,
    pub approval: bool,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunSummary,
    pub params: Params,
    pub steps: Vec<StepState>,
    /// Webhook deliveries of this run so far, oldest first.
    pub webhooks: Vec<WebhookDelivery>,
}

/// A run as a heading links to it: number, tag and status name. Pages that show no more of
/// a run take this instead of a [`RunSummary`], whose decoder would be in their WASM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLink {
    pub id: i64,
    pub number: i64,
    pub tag: String,
    /// The status name, as the API writes it.
    pub status: String,
}

impl From<&RunSummary> for RunLink {
    fn from(run: &RunSummary) -> Self {
        Self {
            id: run.id,
            number: run.number,
            tag: run.tag.clone(),
            status: run.status.as_str().to_owned(),
        }
    }
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

/// A run as its page reads it: [`RunDetail`] without `flatten`. serde's `flatten` buffers
/// every field before sorting them out, and that machinery costs WASM; the API keeps its
/// flat shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPageData {
    pub run: RunSummary,
    pub params: Params,
    pub steps: Vec<StepState>,
    pub webhooks: Vec<WebhookDelivery>,
    /// The last [`LOG_TAIL_LINES`] lines of the log when the page was made, oldest first.
    pub log_tail: Vec<LogLine>,
}

impl RunPageData {
    pub fn new(detail: RunDetail, log_tail: Vec<LogLine>) -> Self {
        Self {
            run: detail.run,
            params: detail.params,
            steps: detail.steps,
            webhooks: detail.webhooks,
            log_tail,
        }
    }
}

/// One webhook call and how it ended. Only the scheme and host of the URL are kept: its
/// path and query often carry a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    (finished > 0).then(|| ((succeeded * 100 + finished / 2) / finished) as u32)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PipelineVersion {
    pub version: i64,
    pub created_at: i64,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Validation {
    pub valid: bool,
    pub problems: Vec<Problem>,
    pub plan: Option<Plan>,
}

impl Validation {
    pub fn of(source: &str) -> Validation {
        match crate::plan::check_document(source) {
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

/// One entry of a run's event stream (the SSE `data:`; `seq` is also the SSE `id:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunEvent {
    /// Monotonic per run, from 1.
    pub seq: i64,
    /// Unix milliseconds.
    pub ts: i64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// One line (or, with `partial`, a piece of an over-long line that continues in the next).
    Log {
        step: String,
        stream: LogStream,
        text: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    Step {
        step: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Run {
        status: RunStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl RunEvent {
    /// The SSE event name: `log`, `step`, `run`, or `end` for the run's final status.
    pub fn sse_name(&self) -> &'static str {
        match &self.body {
            EventBody::Log { .. } => "log",
            EventBody::Step { .. } => "step",
            EventBody::Run { status, .. } if status.is_terminal() => "end",
            EventBody::Run { .. } => "run",
        }
    }
}

/// A workflow as the API shows it: passwords appear as `"********"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkflowSummary {
    pub name: String,
    pub image: String,
    pub auto_deploy: bool,
    pub latest_run: Option<RunSummary>,
}

/// The workflow page's data: the form and, for a saved workflow, its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowPage {
    pub form: crate::workflow_form::WorkflowForm,
    pub status: Option<WorkflowStatus>,
}

/// A saved workflow's status as its page shows it: the latest run and its sub-tasks. Only
/// what the page uses crosses to the browser: every type decoded there costs WASM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStatus {
    pub name: String,
    /// The saved version the form shows.
    pub version: i64,
    pub latest_run: Option<RunLink>,
    /// The latest run's sub-tasks: name and status name.
    pub steps: Vec<(String, String)>,
    pub engine: String,
}

impl WorkflowStatus {
    pub fn of(detail: WorkflowDetail) -> Self {
        let steps = detail
            .steps
            .into_iter()
            .map(|s| (s.name, s.status.as_str().to_owned()))
            .collect();
        Self {
            name: detail.name,
            version: detail.version,
            latest_run: detail.latest_run.as_ref().map(RunLink::from),
            steps,
            engine: detail.engine,
        }
    }
}

/// Two saved versions of a pipeline and the line diff between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionComparison {
    /// Every version: its number and when it was saved, newest first.
    pub versions: Vec<(i64, i64)>,
    pub from: i64,
    pub to: i64,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `same`, `added` or `removed`.
    pub kind: String,
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub text: String,
}

/// Which runs a history page lists. Dates are UTC days, `YYYY-MM-DD`, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunsQuery {
    pub pipeline: Option<String>,
    pub status: Option<RunStatus>,
    pub tag: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub trigger: Option<Trigger>,
    /// Keyset cursor: runs with a smaller id.
    pub before: Option<i64>,
    pub limit: u32,
}

/// Unix milliseconds at the start of a UTC day given as `YYYY-MM-DD`.
pub fn day_start_ms(day: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Run params as typed in the run form: one `NAME=value` per line; blank lines and lines
/// starting with `#` are skipped. The names are checked later with the definitions' rule.
/// Params as forms show them, one `NAME=value` per line: what [`parse_param_lines`] reads.
pub fn param_lines(params: &crate::definition::Params) -> String {
    params.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

pub fn parse_param_lines(text: &str) -> Result<crate::definition::Params, String> {
    let mut params = crate::definition::Params::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "params line {}: \"{line}\" is not NAME=value",
                number + 1
            ));
        };
        if params
            .insert(name.trim().to_owned(), value.to_owned())
            .is_some()
        {
            return Err(format!(
                "params line {}: \"{}\" is given twice",
                number + 1,
                name.trim()
            ));
        }
    }
    Ok(params)
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
