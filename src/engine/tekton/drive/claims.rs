//! A run's workspace on the cluster: a PVC of its own, or the one it takes over from the
//! run whose failed steps it re-runs; deleted when the run succeeds.

use conveyor_core::run::{LogStream, StepStatus};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::json;

use super::{run_selector, Driver};
use crate::engine::tekton::compile::{
    workspace_claim, LABEL_MANAGED_BY, LABEL_PIPELINE, LABEL_RUN, MANAGED_BY,
};
use crate::engine::EngineEvent;

impl Driver {
    /// Before a new run's first PipelineRun. A re-run of failed steps takes the earlier
    /// run's claim over (relabelled as its own); any other claim the pipeline's runs kept is
    /// deleted, as only the latest run that did not succeed keeps its workspace (a pipeline
    /// has one run at a time, so none is in use).
    pub(crate) async fn prepare(&mut self) {
        if self.uses_secrets() {
            self.create_run_secret().await;
        }
        if let Some(retry) = self.run.retry.clone() {
            let carried = match self.take_over_claim(retry.origin).await {
                Ok(carried) => carried,
                Err(err) => {
                    tracing::warn!(run = self.run.run_id, origin = retry.origin, error = %err, "could not take over a workspace claim");
                    false
                }
            };
            if let Some(first) = self
                .schedule
                .statuses()
                .iter()
                .position(|s| *s == StepStatus::Pending)
            {
                let text = if carried {
                    format!("{} (claim {})", retry.notice(true), self.claim)
                } else {
                    retry.notice(false)
                };
                self.emit(EngineEvent::Log {
                    step: first,
                    stream: LogStream::System,
                    text,
                    partial: false,
                })
                .await;
            }
        }
        let kept = ListParams::default().labels(&format!(
            "{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_PIPELINE}={}",
            self.run.pipeline()
        ));
        match self.claims.list(&kept).await {
            Ok(list) => {
                for name in list
                    .items
                    .into_iter()
                    .filter_map(|c| c.metadata.name)
                    .filter(|name| *name != self.claim)
                {
                    if let Err(err) = self.claims.delete(&name, &DeleteParams::default()).await {
                        tracing::warn!(run = self.run.run_id, claim = name, error = %err, "could not delete a kept workspace claim");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(run = self.run.run_id, error = %err, "could not list the pipeline's kept workspace claims")
            }
        }
    }

    /// The workspace claim labelled as run `run_id`'s.
    pub(super) async fn claim_of(&self, run_id: i64) -> Result<Option<String>, kube::Error> {
        Ok(self
            .claims
            .list(&run_selector(run_id))
            .await?
            .items
            .into_iter()
            .find_map(|c| c.metadata.name))
    }

    /// Makes the claim run `origin` kept this run's own; false if there is none.
    async fn take_over_claim(&mut self, origin: i64) -> Result<bool, kube::Error> {
        let Some(name) = self.claim_of(origin).await? else {
            return Ok(false);
        };
        let relabel =
            Patch::Merge(json!({"metadata": {"labels": {LABEL_RUN: self.run.run_id.to_string()}}}));
        self.claims
            .patch(&name, &PatchParams::default(), &relabel)
            .await?;
        self.claim = name;
        self.claim_created = true;
        Ok(true)
    }

    pub(super) async fn create_claim(&self) -> Result<(), String> {
        let name = &self.claim;
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [
                        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
                        (LABEL_RUN.to_owned(), self.run.run_id.to_string()),
                        (LABEL_PIPELINE.to_owned(), self.run.pipeline().to_owned()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(workspace_claim(&self.settings)),
            ..Default::default()
        };
        match self.claims.create(&PostParams::default(), &claim).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(err) => Err(format!(
                "could not create the run's workspace claim {name}: {err}"
            )),
        }
    }

    /// Deletes the run's claim, if it has one.
    pub(super) async fn delete_claim(&self) {
        if !self.claim_created {
            return;
        }
        if let Err(err) = self
            .claims
            .delete(&self.claim, &DeleteParams::default())
            .await
        {
            tracing::warn!(run = self.run.run_id, claim = self.claim, error = %err, "could not delete the run's workspace claim");
        }
    }
}
