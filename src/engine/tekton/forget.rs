//! What is left on the cluster of runs that were pruned or emptied: their PipelineRuns
//! (their TaskRuns and pods go with them, by owner) and the workspace claims they kept.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::Client;

use super::compile::LABEL_RUN;
use super::Kind;

/// Deletes every PipelineRun and workspace claim labelled as one of `runs`.
pub(super) async fn forget_runs(client: &Client, namespace: &str, runs: &[i64]) {
    let pipeline_runs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &Kind::PipelineRun.resource());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    for run in runs {
        let selector = ListParams::default().labels(&format!("{LABEL_RUN}={run}"));
        match pipeline_runs.list(&selector).await {
            Ok(list) => {
                for name in list.items.into_iter().filter_map(|o| o.metadata.name) {
                    if let Err(err) = pipeline_runs
                        .delete(&name, &DeleteParams::background())
                        .await
                    {
                        tracing::warn!(run, pipeline_run = name, error = %err, "could not delete a pruned run's PipelineRun");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(run, error = %err, "could not list a pruned run's PipelineRuns")
            }
        }
        match claims.list(&selector).await {
            Ok(list) => {
                for name in list.items.into_iter().filter_map(|c| c.metadata.name) {
                    if let Err(err) = claims.delete(&name, &DeleteParams::default()).await {
                        tracing::warn!(run, claim = name, error = %err, "could not delete a pruned run's workspace claim");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(run, error = %err, "could not list a pruned run's workspace claims")
            }
        }
    }
}
