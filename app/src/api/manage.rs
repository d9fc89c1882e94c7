//! Server functions of the management pages: the workflows list, a workflow's releases and
//! rolling back to one, deleting a pipeline (or workflow) and emptying its runs. Deleting
//! asks for the name typed out, and checks it here too.

use conveyor_core::dto::WorkflowSummary;
use conveyor_core::workflow::ReleasePage;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::codec::TextJson;
#[cfg(feature = "ssr")]
use super::{backend, caller, fail};

/// The dashboard's panel over `days` (7, 30 or 90; 7 when absent), of every pipeline.
#[server(prefix = "/_sfn", endpoint = "load_stats", output = TextJson)]
pub async fn load_stats(
    days: Option<String>,
) -> Result<conveyor_core::stats::Stats, ServerFnError> {
    let days = conveyor_core::stats::parse_window(days.as_deref()).map_err(ServerFnError::new)?;
    backend()?.stats(days).await.map_err(fail)
}

#[server(prefix = "/_sfn", endpoint = "list_workflows", output = TextJson)]
pub async fn list_workflows() -> Result<Vec<WorkflowSummary>, ServerFnError> {
    backend()?.list_workflows().await.map_err(fail)
}

#[server(prefix = "/_sfn", endpoint = "list_releases", output = TextJson)]
pub async fn list_releases(
    name: String,
    before: Option<i64>,
) -> Result<ReleasePage, ServerFnError> {
    backend()?.releases(&name, before).await.map_err(fail)
}

/// "Roll back to this": a run deploying the release's image by digest; goes to its page.
#[server(prefix = "/_sfn", endpoint = "roll_back", output = TextJson)]
pub async fn roll_back(name: String, release: i64) -> Result<i64, ServerFnError> {
    let run = backend()?
        .roll_back(&name, release, &caller()?)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&format!("/runs/{}", run.id));
    Ok(run.id)
}

/// What the danger zone of a pipeline's page does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// The pipeline (or workflow) with its runs.
    Pipeline,
    /// Its runs only.
    Runs,
}

/// Deletes the pipeline or empties its runs, once `confirm` is its name typed out. Deleting
/// goes to the pipelines list; emptying stays on the pipeline's page.
#[server(prefix = "/_sfn", endpoint = "remove", output = TextJson)]
pub async fn remove(name: String, what: Removal, confirm: String) -> Result<String, ServerFnError> {
    if confirm.trim() != name {
        return Err(ServerFnError::new(format!(
            "type the name \"{name}\" to confirm (nothing was deleted)"
        )));
    }
    let backend = backend()?;
    let who = caller()?;
    match what {
        Removal::Pipeline => {
            backend.delete_pipeline(&name, &who).await.map_err(fail)?;
            leptos_axum::redirect("/");
            Ok(format!("deleted {name}"))
        }
        Removal::Runs => {
            let deleted = backend.delete_runs(&name, &who).await.map_err(fail)?;
            leptos_axum::redirect(&format!("/pipelines/{name}"));
            Ok(format!("deleted {deleted} runs of {name}"))
        }
    }
}
