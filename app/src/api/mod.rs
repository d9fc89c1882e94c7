//! Server functions: the browser's way in. Each one reads the [`Backend`] from context,
//! calls one method and maps the error. Forms post to them before hydration.

pub mod account;
pub mod actions;
#[cfg(feature = "ssr")]
mod backend;
pub mod codec;
pub mod dto;
pub mod manage;
pub mod secrets;

use conveyor_core::dto::{PipelineSummary, RunPage, VersionComparison};
use conveyor_core::editor::{EditorState, GraphEdit};
use conveyor_core::workflow::form::WorkflowForm;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
pub use backend::{Backend, BackendError, BackendResult, SharedBackend};
use codec::TextJson;
use dto::{EditorPage, RunAct, RunPageData, WorkflowPage};

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>().ok_or_else(|| ServerFnError::new("backend missing from context"))
}

/// The account the request acts for (the server's guard found it before any function runs).
#[cfg(feature = "ssr")]
fn caller() -> Result<conveyor_core::access::Principal, ServerFnError> {
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<conveyor_core::access::Principal>()
                .cloned()
        })
        .ok_or_else(|| ServerFnError::new("sign in first"))
}

#[cfg(feature = "ssr")]
fn fail(err: BackendError) -> ServerFnError {
    ServerFnError::new(err.0)
}

/// Rows per history page.
pub const PAGE_SIZE: u32 = 25;

#[server(prefix = "/_sfn", endpoint = "list_pipelines", output = TextJson)]
pub async fn list_pipelines() -> Result<Vec<PipelineSummary>, ServerFnError> {
    backend()?.list_pipelines().await.map_err(fail)
}

#[server(prefix = "/_sfn", endpoint = "create_pipeline", output = TextJson)]
pub async fn create_pipeline(source: String) -> Result<String, ServerFnError> {
    let detail = backend()?
        .create_pipeline(&source, &caller()?)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&format!("/pipelines/{}", detail.name));
    Ok(detail.name)
}

#[server(prefix = "/_sfn", endpoint = "update_pipeline", output = TextJson)]
pub async fn update_pipeline(name: String, source: String) -> Result<i64, ServerFnError> {
    let detail = backend()?
        .update_pipeline(&name, &source, &caller()?)
        .await
        .map_err(fail)?;
    Ok(detail.version)
}

/// Starts a run with a tag and optional params, one `NAME=value` per line.
#[server(prefix = "/_sfn", endpoint = "start_run", output = TextJson)]
pub async fn start_run(
    pipeline: String,
    tag: String,
    params: Option<String>,
) -> Result<i64, ServerFnError> {
    let params = conveyor_core::params::parse_param_lines(params.as_deref().unwrap_or_default())
        .map_err(ServerFnError::new)?;
    let start = conveyor_core::run::Start::by(conveyor_core::run::Trigger::Ui, &caller()?.name);
    let run = backend()?
        .start_run(&pipeline, &tag, params, start)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&format!("/runs/{}", run.id));
    Ok(run.id)
}

/// A history page. `filters` are the history's query (status, tag, since, until, trigger,
/// branch), each optional; an unknown or bad one is refused with its name.
#[server(prefix = "/_sfn", endpoint = "list_runs", output = TextJson)]
pub async fn list_runs(
    pipeline: Option<String>,
    // An empty map is no field at all in the request: none is none.
    #[server(default)] filters: std::collections::BTreeMap<String, String>,
    before: Option<i64>,
    after: Option<i64>,
) -> Result<RunPage, ServerFnError> {
    let mut query = conveyor_core::dto::RunsQuery::from_pairs(
        filters
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "before" | "after" | "limit"))
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|problem| ServerFnError::new(problem.message))?;
    query.before = before;
    query.after = after;
    query.limit = Some(PAGE_SIZE);
    backend()?
        .list_runs(pipeline.as_deref().filter(|p| !p.is_empty()), &query)
        .await
        .map_err(fail)
}

/// A page of log lines that contain `q` (every run, or `run`'s), with the search page's
/// filters; a filter in the wrong form or a bad query is refused saying why.
#[server(prefix = "/_sfn", endpoint = "search_logs", output = TextJson)]
pub async fn search_logs(
    #[server(default)] params: std::collections::BTreeMap<String, String>,
) -> Result<conveyor_core::search::SearchPage, ServerFnError> {
    let query = conveyor_core::search::SearchQuery::from_pairs(
        params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|problem| ServerFnError::new(format!("{}: {}", problem.path, problem.message)))?;
    backend()?.search(&query).await.map_err(fail)
}

#[server(prefix = "/_sfn", endpoint = "get_run", output = TextJson)]
pub async fn get_run(id: i64) -> Result<RunPageData, ServerFnError> {
    let backend = backend()?;
    let detail = backend.get_run(id).await.map_err(fail)?;
    let tail = backend
        .log_tail(id, conveyor_core::dto::LOG_TAIL_LINES)
        .await
        .map_err(fail)?;
    Ok(RunPageData::new(detail, tail))
}

/// The run page's buttons, one server function for all of them (each function the page
/// calls adds its own client code to the WASM). Re-runs answer with the new run, and go to
/// its page.
#[server(prefix = "/_sfn", endpoint = "run_control", output = TextJson)]
pub async fn run_control(
    id: i64,
    act: RunAct,
    step: Option<String>,
) -> Result<Option<i64>, ServerFnError> {
    let backend = backend()?;
    let who = caller()?;
    let waiting_step = || {
        step.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ServerFnError::new("which step? `step` is missing"))
    };
    let new_run = match act {
        RunAct::Cancel => {
            return backend
                .cancel_run(id, &who)
                .await
                .map(|()| None)
                .map_err(fail)
        }
        RunAct::Approve | RunAct::Refuse => {
            return backend
                .decide_step(id, &waiting_step()?, act == RunAct::Approve, &who)
                .await
                .map(|()| None)
                .map_err(fail);
        }
        RunAct::Rerun => backend.rerun(id, &who).await.map_err(fail)?,
        RunAct::RetryFailed => backend.retry_failed(id, &who).await.map_err(fail)?,
    };
    leptos_axum::redirect(&format!("/runs/{}", new_run.id));
    Ok(Some(new_run.id))
}

/// Two versions of a pipeline (by default the latest and the one before) and their diff.
#[server(prefix = "/_sfn", endpoint = "version_diff", output = TextJson)]
pub async fn version_diff(
    name: String,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<VersionComparison, ServerFnError> {
    backend()?
        .compare_versions(&name, from, to)
        .await
        .map_err(fail)
}

/// The editor's view of a document (its problems, each at its line and graph node, its
/// pipeline and its graph, by the server's own parser and validator), after `edit`, a change
/// made in the graph, when there is one: applied to the text without disturbing the rest of
/// it. Without an edit it is what the editor shows as the user types. One function serves
/// both, as each function the editor calls adds its own client code to the WASM.
#[server(prefix = "/_sfn", endpoint = "edit_graph", input = Json, output = TextJson)]
pub async fn edit_graph(
    source: String,
    edit: Option<GraphEdit>,
) -> Result<EditorState, ServerFnError> {
    match edit {
        Some(edit) => conveyor_core::editor::edit(&source, &edit).map_err(ServerFnError::new),
        // Oversized documents are one of the problems it reports.
        None => Ok(conveyor_core::editor::inspect(source, None)),
    }
}

/// A saved pipeline and its editor state (`None` for the name: a new pipeline's template).
#[server(prefix = "/_sfn", endpoint = "pipeline_editor", output = TextJson)]
pub async fn pipeline_editor(name: Option<String>) -> Result<EditorPage, ServerFnError> {
    let (detail, deliveries) = match name {
        Some(name) => {
            let backend = backend()?;
            let detail = backend.get_pipeline(&name).await.map_err(fail)?;
            let deliveries = backend.deliveries(&name, 10).await.map_err(fail)?;
            (Some(detail), deliveries)
        }
        None => (None, Vec::new()),
    };
    let source = detail.as_ref().map_or_else(
        || conveyor_core::editor::NEW_PIPELINE_TEMPLATE.to_owned(),
        |d| d.source.clone(),
    );
    Ok(EditorPage {
        head: detail.map(|detail| dto::PipelineHead {
            deliveries,
            ..dto::PipelineHead::of(detail)
        }),
        state: conveyor_core::editor::inspect(source, None),
    })
}

/// A workflow's deployment-settings form (a blank one for no name) and its status.
#[server(prefix = "/_sfn", endpoint = "load_workflow_form", output = TextJson)]
pub async fn load_workflow_form(name: Option<String>) -> Result<WorkflowPage, ServerFnError> {
    match name {
        Some(name) => {
            let detail = backend()?.get_workflow(&name).await.map_err(fail)?;
            Ok(WorkflowPage {
                form: WorkflowForm::of(&detail.workflow),
                status: Some(dto::WorkflowStatus::of(detail)),
            })
        }
        None => Ok(WorkflowPage {
            form: WorkflowForm::blank(),
            status: None,
        }),
    }
}

/// Saves the deployment-settings form: a new workflow, or a new version of `form.existing`.
/// Posts as a plain form before hydration.
#[server(prefix = "/_sfn", endpoint = "save_workflow", output = TextJson)]
pub async fn save_workflow(form: WorkflowForm) -> Result<String, ServerFnError> {
    let workflow = form.to_workflow().map_err(|problems| {
        ServerFnError::new(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let source =
        serde_json::to_string(&workflow).map_err(|err| ServerFnError::new(err.to_string()))?;
    let existing = Some(form.existing.as_str()).filter(|e| !e.is_empty());
    let detail = backend()?
        .save_workflow(existing, &source, &caller()?)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&format!("/workflows/{}", detail.name));
    Ok(detail.name)
}
