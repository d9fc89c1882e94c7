//! Server functions: the browser's way in. Each one reads the [`Backend`] from context,
//! calls one method and maps the error. Forms post to them before hydration.

use leptos::prelude::*;

use crate::codec::TextJson;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::editor::{EditorPage, EditorState, GraphEdit};
use crate::model::{PipelineSummary, RunPage, RunPageData, VersionComparison, WorkflowPage};
use crate::workflow_form::WorkflowForm;

#[cfg(feature = "ssr")]
pub use backend::{Backend, BackendError, SharedBackend};

#[cfg(feature = "ssr")]
mod backend {
    use std::sync::Arc;

    use crate::definition::Params;
    use crate::model::{
        LogLine, PipelineDetail, PipelineSummary, PipelineVersion, RunDetail, RunPage, RunSummary,
        RunsQuery, Trigger, WorkflowDetail,
    };

    /// What a server function needs to know of a failure: a message fit for the user.
    #[derive(Debug, Clone, thiserror::Error)]
    #[error("{0}")]
    pub struct BackendError(pub String);

    /// The server's use cases as the pages see them (implemented by the service layer).
    #[async_trait::async_trait]
    pub trait Backend: Send + Sync {
        async fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, BackendError>;
        async fn get_pipeline(&self, name: &str) -> Result<PipelineDetail, BackendError>;
        async fn create_pipeline(&self, source: &str) -> Result<PipelineDetail, BackendError>;
        async fn update_pipeline(
            &self,
            name: &str,
            source: &str,
        ) -> Result<PipelineDetail, BackendError>;
        async fn start_run(
            &self,
            pipeline: &str,
            tag: &str,
            params: Params,
            trigger: Trigger,
        ) -> Result<RunSummary, BackendError>;
        async fn list_runs(&self, query: &RunsQuery) -> Result<RunPage, BackendError>;
        async fn get_run(&self, id: i64) -> Result<RunDetail, BackendError>;
        /// The last `limit` lines of a run's log, oldest first, numbered as the log viewer
        /// numbers them.
        async fn log_tail(&self, id: i64, limit: u32) -> Result<Vec<LogLine>, BackendError>;
        async fn cancel_run(&self, id: i64) -> Result<(), BackendError>;
        async fn decide_step(&self, id: i64, step: &str, approve: bool)
            -> Result<(), BackendError>;
        async fn versions(&self, name: &str) -> Result<Vec<PipelineVersion>, BackendError>;
        /// Re-runs the steps of a finished run that did not succeed.
        async fn retry_failed(&self, id: i64) -> Result<RunSummary, BackendError>;
        async fn get_workflow(&self, name: &str) -> Result<WorkflowDetail, BackendError>;
        /// Updates the named workflow, or creates one when `existing` is `None`.
        async fn save_workflow(
            &self,
            existing: Option<&str>,
            source: &str,
        ) -> Result<WorkflowDetail, BackendError>;
    }

    pub type SharedBackend = Arc<dyn Backend>;
}

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>().ok_or_else(|| ServerFnError::new("backend missing from context"))
}

#[cfg(feature = "ssr")]
fn fail(err: BackendError) -> ServerFnError {
    ServerFnError::new(err.0)
}

/// Rows per history page.
pub const PAGE_SIZE: u32 = 25;

#[server(prefix = "/_sfn", output = TextJson)]
pub async fn list_pipelines() -> Result<Vec<PipelineSummary>, ServerFnError> {
    backend()?.list_pipelines().await.map_err(fail)
}

#[server(prefix = "/_sfn", output = TextJson)]
pub async fn create_pipeline(source: String) -> Result<String, ServerFnError> {
    let detail = backend()?.create_pipeline(&source).await.map_err(fail)?;
    leptos_axum::redirect(&format!("/pipelines/{}", detail.name));
    Ok(detail.name)
}

#[server(prefix = "/_sfn", output = TextJson)]
pub async fn update_pipeline(name: String, source: String) -> Result<i64, ServerFnError> {
    let detail = backend()?
        .update_pipeline(&name, &source)
        .await
        .map_err(fail)?;
    Ok(detail.version)
}

/// Starts a run with a tag and optional params, one `NAME=value` per line.
#[server(prefix = "/_sfn", output = TextJson)]
pub async fn start_run(
    pipeline: String,
    tag: String,
    params: Option<String>,
) -> Result<i64, ServerFnError> {
    let params = crate::model::parse_param_lines(params.as_deref().unwrap_or_default())
        .map_err(ServerFnError::new)?;
    let run = backend()?
        .start_run(&pipeline, &tag, params, crate::model::Trigger::Ui)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&format!("/runs/{}", run.id));
    Ok(run.id)
}

/// A history page; every filter is optional (empty = none).
#[server(prefix = "/_sfn", output = TextJson)]
pub async fn list_runs(
    pipeline: Option<String>,
    status: Option<String>,
    tag: Option<String>,
    since: Option<String>,
    until: Option<String>,
    trigger: Option<String>,
    before: Option<i64>,
) -> Result<RunPage, ServerFnError> {
    use crate::model::parse_filter;
    let status = parse_filter(status.as_deref()).map_err(ServerFnError::new)?;
    let trigger = parse_filter(trigger.as_deref()).map_err(ServerFnError::new)?;
    let query = crate::model::RunsQuery {
        pipeline,
        status,
        tag,
        since,
        until,
        trigger,
        before,
        limit: PAGE_SIZE,
    };
    backend()?.list_runs(&query).await.map_err(fail)
}

#[server(prefix = "/_sfn", output = TextJson)]
pub async fn get_run(id: i64) -> Result<RunPageData, ServerFnError> {
    let backend = backend()?;
    let detail = backend.get_run(id).await.map_err(fail)?;
    let tail = backend
        .log_tail(id, crate::model::LOG_TAIL_LINES)
        .await
        .map_err(fail)?;
    Ok(RunPageData::new(detail, tail))
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

/// The run page's buttons, one server function for all of them (each function the page
/// calls adds its own client code to the WASM). Re-runs answer with the new run, and go to
/// its page.
#[server(prefix = "/_sfn", output = TextJson)]
pub async fn run_control(
    id: i64,
    act: RunAct,
    step: Option<String>,
) -> Result<Option<i64>, ServerFnError> {
    let backend = backend()?;
    let waiting_step = || {
        step.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ServerFnError::new("which step? `step` is missing"))
    };
    let new_run = match act {
        RunAct::Cancel => return backend.cancel_run(id).await.map(|()| None).map_err(fail),
        RunAct::Approve | RunAct::Refuse => {
            return backend
                .decide_step(id, &waiting_step()?, act == RunAct::Approve)
                .await
                .map(|()| None)
                .map_err(fail);
        }
        RunAct::Rerun => {
            let old = backend.get_run(id).await.map_err(fail)?;
            backend
                .start_run(
                    &old.run.pipeline,
                    &old.run.tag,
                    old.params,
                    crate::model::Trigger::Rerun,
                )
                .await
                .map_err(fail)?
        }
        RunAct::RetryFailed => backend.retry_failed(id).await.map_err(fail)?,
    };
    leptos_axum::redirect(&format!("/runs/{}", new_run.id));
    Ok(Some(new_run.id))
}

/// Two versions of a pipeline (by default the latest and the one before) and their diff.
#[server(prefix = "/_sfn", output = TextJson)]
pub async fn version_diff(
    name: String,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<VersionComparison, ServerFnError> {
    use crate::model::DiffLine;

    let mut versions = backend()?.versions(&name).await.map_err(fail)?;
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let latest = versions.first().map_or(1, |v| v.version);
    let to = to.unwrap_or(latest);
    let from = from.unwrap_or((to - 1).max(1));
    let source = |number: i64| {
        versions
            .iter()
            .find(|v| v.version == number)
            .map(|v| v.source.clone())
            .ok_or_else(|| {
                ServerFnError::new(format!("pipeline \"{name}\" has no version {number}"))
            })
    };
    let (old, new) = (source(from)?, source(to)?);
    let diff = similar::TextDiff::from_lines(&old, &new);
    let lines = diff
        .iter_all_changes()
        .map(|change| DiffLine {
            kind: match change.tag() {
                similar::ChangeTag::Equal => "same",
                similar::ChangeTag::Insert => "added",
                similar::ChangeTag::Delete => "removed",
            }
            .to_owned(),
            old: change.old_index().map(|i| i + 1),
            new: change.new_index().map(|i| i + 1),
            text: change.value().trim_end_matches('\n').to_owned(),
        })
        .collect();
    Ok(VersionComparison {
        versions: versions.iter().map(|v| (v.version, v.created_at)).collect(),
        from,
        to,
        lines,
    })
}

/// The editor's view of a document (its problems, each at its line and graph node, its
/// pipeline and its graph, by the server's own parser and validator), after `edit`, a change
/// made in the graph, when there is one: applied to the text without disturbing the rest of
/// it. Without an edit it is what the editor shows as the user types. One function serves
/// both, as each function the editor calls adds its own client code to the WASM.
#[server(prefix = "/_sfn", input = Json, output = TextJson)]
pub async fn edit_graph(
    source: String,
    edit: Option<GraphEdit>,
) -> Result<EditorState, ServerFnError> {
    match edit {
        Some(edit) => crate::editor::edit(&source, &edit).map_err(ServerFnError::new),
        // Oversized documents are one of the problems it reports.
        None => Ok(crate::editor::inspect(source, None)),
    }
}

/// A saved pipeline and its editor state (`None` for the name: a new pipeline's template).
#[server(prefix = "/_sfn", output = TextJson)]
pub async fn pipeline_editor(name: Option<String>) -> Result<EditorPage, ServerFnError> {
    let detail = match name {
        Some(name) => Some(backend()?.get_pipeline(&name).await.map_err(fail)?),
        None => None,
    };
    let source = detail.as_ref().map_or_else(
        || crate::editor::NEW_PIPELINE_TEMPLATE.to_owned(),
        |d| d.source.clone(),
    );
    Ok(EditorPage {
        head: detail.map(crate::editor::PipelineHead::of),
        state: crate::editor::inspect(source, None),
    })
}

/// A workflow's deployment-settings form (a blank one for no name) and its status.
#[server(prefix = "/_sfn", output = TextJson)]
pub async fn load_workflow_form(name: Option<String>) -> Result<WorkflowPage, ServerFnError> {
    match name {
        Some(name) => {
            let detail = backend()?.get_workflow(&name).await.map_err(fail)?;
            Ok(WorkflowPage {
                form: WorkflowForm::of(&detail.workflow),
                status: Some(crate::model::WorkflowStatus::of(detail)),
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
#[server(prefix = "/_sfn", output = TextJson)]
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
        .save_workflow(existing, &source)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&format!("/workflows/{}", detail.name));
    Ok(detail.name)
}

#[cfg(test)]
mod tests {
    use super::RunAct;

    /// The name a form posts is the one the server function reads back.
    #[test]
    fn run_acts_post_under_their_serde_names() {
        for act in [
            RunAct::Cancel,
            RunAct::Rerun,
            RunAct::RetryFailed,
            RunAct::Approve,
            RunAct::Refuse,
        ] {
            assert_eq!(
                serde_json::to_string(&act).unwrap(),
                format!("\"{}\"", act.as_str())
            );
            assert_eq!(
                serde_json::from_str::<RunAct>(&format!("\"{}\"", act.as_str())).unwrap(),
                act
            );
        }
    }
}
