//! Runs and steps: their statuses and the only transitions between them (seed 004), how a
//! run started, its events, and the one fold of those events into a step's state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident ($what:literal) {
        $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$variant_meta])* $variant),+ }

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
pub(crate) use status_enum;

status_enum!(
    /// Lifecycle of a run.
    #[derive(Default)]
    RunStatus ("run status") {
        /// Waiting for the runs of its pipeline before it to end.
        Queued = "queued",
        #[default]
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
    #[derive(Default)]
    StepStatus ("step status") {
        #[default]
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
    /// How a run started (runs from before triggers were recorded count as `api`).
    #[derive(Default)]
    Trigger ("trigger") {
        Ui = "ui",
        #[default]
        Api = "api",
        Rerun = "rerun",
        Push = "push",
        PullRequest = "pull_request",
        Schedule = "schedule",
        Kubernetes = "kubernetes",
        Rollback = "rollback",
    }
);

/// How a run starts: what started it, and the account that did (none: the server itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub trigger: Trigger,
    pub by: Option<String>,
    /// The code it builds, when a forge's event started it.
    pub commit: Option<Commit>,
}

/// The code a run built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Commit {
    pub sha: String,
    /// The ref it was fetched by (`refs/heads/main`, `refs/pull/5/head`).
    pub git_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The pull (merge) request it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<i64>,
    /// Its page on the forge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The forge that told of it: `github`, `gitea` or `gitlab` (where its status goes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<String>,
    /// A pull request from a fork: code of someone outside the repository, which gets none
    /// of the pipeline's secrets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_fork: bool,
}

impl Start {
    /// A start by the account named `by`.
    pub fn by(trigger: Trigger, by: &str) -> Start {
        Start {
            trigger,
            by: Some(by.to_owned()),
            commit: None,
        }
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
                Queued => matches!(to, Pending | Running | Failed | Cancelled),
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

/// A step of a run: where it is in the plan and how far it got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl StepState {
    /// Folds one status event of the step in: the store applies this to its step rows, the
    /// browser to the run page. An exit code or message an event lacks keeps the one before.
    pub fn apply(
        &mut self,
        status: StepStatus,
        exit_code: Option<i32>,
        message: Option<&str>,
        ts: i64,
    ) {
        self.status = status;
        self.exit_code = exit_code.or(self.exit_code);
        if let Some(message) = message {
            self.message = Some(message.to_owned());
        }
        if status == StepStatus::Running {
            self.started_at = Some(ts);
        }
        if status.is_terminal() {
            self.finished_at = Some(ts);
        }
    }
}

/// One entry of a run's event stream. Inside the server a step is its index
/// ([`Event`]); the API, the event stream and the pages name it ([`RunEvent`], the SSE
/// `data:`, whose `seq` is also the SSE `id:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunEvent<S = String> {
    /// Monotonic per run, from 1.
    pub seq: i64,
    /// Unix milliseconds.
    pub ts: i64,
    #[serde(flatten)]
    pub body: EventBody<S>,
}

/// A run event as the server keeps it: its step by index.
pub type Event = RunEvent<usize>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody<S = String> {
    /// One line (or, with `partial`, a piece of an over-long line that continues in the next).
    Log {
        step: S,
        stream: LogStream,
        text: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    Step {
        step: S,
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

impl<S> RunEvent<S> {
    /// The SSE event name: `log`, `step`, `run`, or `end` for the run's final status.
    pub fn sse_name(&self) -> &'static str {
        match &self.body {
            EventBody::Log { .. } => "log",
            EventBody::Step { .. } => "step",
            EventBody::Run { status, .. } if status.is_terminal() => "end",
            EventBody::Run { .. } => "run",
        }
    }

    /// Whether this is the run's last event (its final status).
    pub fn is_end(&self) -> bool {
        matches!(self.body, EventBody::Run { status, .. } if status.is_terminal())
    }

    /// The same event with its step told another way; `None` when `step` finds none.
    pub fn with_step<T>(self, step: impl FnOnce(S) -> Option<T>) -> Option<RunEvent<T>> {
        let body = match self.body {
            EventBody::Log {
                step: s,
                stream,
                text,
                partial,
            } => EventBody::Log {
                step: step(s)?,
                stream,
                text,
                partial,
            },
            EventBody::Step {
                step: s,
                status,
                exit_code,
                message,
            } => EventBody::Step {
                step: step(s)?,
                status,
                exit_code,
                message,
            },
            EventBody::Run { status, message } => EventBody::Run { status, message },
        };
        Some(RunEvent {
            seq: self.seq,
            ts: self.ts,
            body,
        })
    }
}

impl Event {
    /// The event as the API shows it, its step named (`names` by step index).
    pub fn named(&self, names: &[String]) -> Option<RunEvent> {
        self.clone().with_step(|index| names.get(index).cloned())
    }
}

/// Log lines of one step and stream with consecutive sequence numbers, as the event stream
/// sends them (the `logs` event, whose `id:` is the last line's sequence): line `i` has
/// sequence `seq + i` and is line `line + i` of its step (1-based, what `#step-<name>-L<n>`
/// links point at).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogBatch<S = String> {
    pub seq: i64,
    /// When the first line was written (Unix milliseconds).
    pub ts: i64,
    pub step: S,
    pub line: u64,
    pub stream: LogStream,
    pub lines: Vec<String>,
    /// Indices into `lines` of pieces of an over-long line that continue in the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<u32>,
    /// `[index, ts]` where a line was written at another time than the line before it (lines
    /// read at once share their time, so these are few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<(u32, i64)>,
}

impl<S> LogBatch<S> {
    /// The sequence number of the last line.
    pub fn last_seq(&self) -> i64 {
        self.seq + self.lines.len() as i64 - 1
    }

    /// The same lines with their step told another way.
    pub fn with_step<T>(self, step: T) -> LogBatch<T> {
        LogBatch {
            seq: self.seq,
            ts: self.ts,
            step,
            line: self.line,
            stream: self.stream,
            lines: self.lines,
            partial: self.partial,
            times: self.times,
        }
    }

    /// When line `index` was written.
    pub fn ts_of(&self, index: usize) -> i64 {
        match self.times.partition_point(|(i, _)| (*i as usize) <= index) {
            0 => self.ts,
            at => self.times[at - 1].1,
        }
    }
}

impl LogBatch {
    /// One event per line, as a reader that takes lines one by one wants them.
    pub fn into_events(self) -> impl Iterator<Item = RunEvent> {
        let times: Vec<i64> = (0..self.lines.len()).map(|i| self.ts_of(i)).collect();
        let (seq, step, stream, partial) = (self.seq, self.step, self.stream, self.partial);
        self.lines
            .into_iter()
            .enumerate()
            .map(move |(i, text)| RunEvent {
                seq: seq + i as i64,
                ts: times[i],
                body: EventBody::Log {
                    step: step.clone(),
                    stream,
                    text,
                    partial: partial.contains(&(i as u32)),
                },
            })
    }
}
