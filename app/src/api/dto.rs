//! What the pages load: only the fields a page shows cross to the browser, as every type
//! decoded there costs WASM. The API's own types (in `conveyor_core::dto`) carry more.

use conveyor_core::approval::ApprovalRule;
use conveyor_core::definition::Params;
use conveyor_core::dto::{
    GateDecision, LogLine, PipelineDetail, RunDetail, RunSummary, WebhookDelivery, WorkflowDetail,
};
use conveyor_core::editor::EditorState;
use conveyor_core::graph::GraphInput;
use conveyor_core::run::StepState;
use conveyor_core::workflow::form::WorkflowForm;
use serde::{Deserialize, Serialize};

/// The pipeline page's data: the saved pipeline's heading (none on the new-pipeline page)
/// and the editor's view of its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditorPage {
    pub head: Option<PipelineHead>,
    pub state: EditorState,
}

/// What the pipeline page shows around its editor. Only what the page uses crosses to the
/// browser: every type decoded there costs WASM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineHead {
    pub name: String,
    pub version: i64,
    /// The engine its runs go to.
    pub engine: String,
    pub latest_run: Option<RunLink>,
    /// A workflow's stage graph: a workflow's pipeline is edited through its deployment
    /// settings, so its page shows the graph instead of the editor.
    pub workflow_graph: Option<GraphInput>,
    /// Pushes or pull requests start its runs (its page says where the forge's webhook goes).
    pub builds_code: bool,
    /// Its latest forge deliveries, newest first.
    pub deliveries: Vec<conveyor_core::dto::DeliverySummary>,
    /// Its next scheduled runs (Unix milliseconds).
    pub next_runs: Vec<i64>,
}

impl PipelineHead {
    pub fn of(detail: PipelineDetail) -> Self {
        let workflow_graph = detail.workflow.then(|| GraphInput::from_plan(&detail.plan));
        Self {
            name: detail.name,
            version: detail.version,
            engine: detail.engine,
            latest_run: detail.latest_run.as_ref().map(RunLink::from),
            workflow_graph,
            builds_code: detail
                .definition
                .on
                .as_ref()
                .is_some_and(|on| on.push.is_some() || on.pull_request.is_some()),
            deliveries: Vec::new(),
            next_runs: detail.next_runs,
        }
    }
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

/// A run as its page reads it: [`RunDetail`] without `flatten`. serde's `flatten` buffers
/// every field before sorting them out, and that machinery costs WASM; the API keeps its
/// flat shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPageData {
    pub run: RunSummary,
    pub params: Params,
    pub steps: Vec<StepState>,
    pub webhooks: Vec<WebhookDelivery>,
    pub decisions: Vec<GateDecision>,
    pub gates: std::collections::BTreeMap<String, ApprovalRule>,
    /// The image the run pushed, pinned by digest.
    pub image: Option<String>,
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
            decisions: detail.decisions,
            gates: detail.gates,
            image: detail.image,
            log_tail,
        }
    }
}

/// The workflow page's data: the form and, for a saved workflow, its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowPage {
    pub form: WorkflowForm,
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

/// What the run page's buttons do to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAct {
    Cancel,
    /// Start it again: the same pipeline (its latest version), tag and params.
    Rerun,
    /// Run again only the steps that did not succeed (same version, tag and params).
    RetryFailed,
    /// Approve the waiting `step`.
    Approve,
    /// Refuse the waiting `step`.
    Refuse,
}

impl RunAct {
    /// The name it has in a form (and in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            RunAct::Cancel => "cancel",
            RunAct::Rerun => "rerun",
            RunAct::RetryFailed => "retry_failed",
            RunAct::Approve => "approve",
            RunAct::Refuse => "refuse",
        }
    }
}
