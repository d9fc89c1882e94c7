//! The Kubernetes Secret a run's steps read their secrets from: made before the run's
//! first PipelineRun, deleted when the run ends.

use std::collections::BTreeMap;

use conveyor_core::run::LogStream;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, PostParams};
use kube::core::ObjectMeta;

use super::Driver;
use crate::engine::tekton::compile::{
    pull_secret_name, run_secret_name, LABEL_MANAGED_BY, LABEL_RUN, MANAGED_BY,
};
use crate::engine::EngineEvent;

impl Driver {
    /// Whether any step of the run gets a secret, or pulls with one.
    pub(super) fn uses_secrets(&self) -> bool {
        self.run
            .resolved
            .steps
            .iter()
            .any(|s| !s.secrets.is_empty() || s.pull_secret.is_some())
    }

    /// The pull secrets the run's steps name, each once.
    fn pull_secrets(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .run
            .resolved
            .steps
            .iter()
            .filter_map(|s| s.pull_secret.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Makes the run's copy of each pull secret, as Kubernetes pulls with them.
    async fn create_pull_secrets(&mut self) {
        for name in self.pull_secrets() {
            let Some(value) = self.run.secrets.value(&name) else {
                continue;
            };
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(pull_secret_name(self.run.run_id, &name)),
                    labels: Some(self.labels()),
                    ..Default::default()
                },
                type_: Some("kubernetes.io/dockerconfigjson".into()),
                data: Some(BTreeMap::from([(
                    ".dockerconfigjson".to_owned(),
                    ByteString(value.as_bytes().to_vec()),
                )])),
                ..Default::default()
            };
            if let Err(err) = self.secrets.create(&PostParams::default(), &secret).await {
                tracing::warn!(run = self.run.run_id, secret = name, error = %err, "could not create the run's pull secret");
            }
        }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
            (LABEL_RUN.to_owned(), self.run.run_id.to_string()),
        ])
    }

    /// Makes the run's Secret, holding the value of every secret a step gets (a failure is
    /// said in the log of the first step that needs one, which then cannot start).
    pub(crate) async fn create_run_secret(&mut self) {
        self.create_pull_secrets().await;
        let mut data = BTreeMap::new();
        for step in &self.run.resolved.steps {
            for use_ in &step.secrets {
                if let Some(value) = self.run.secrets.value(&use_.name) {
                    data.insert(use_.name.clone(), ByteString(value.as_bytes().to_vec()));
                }
            }
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(run_secret_name(self.run.run_id)),
                labels: Some(self.labels()),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Default::default()
        };
        if let Err(err) = self.secrets.create(&PostParams::default(), &secret).await {
            let first = self
                .run
                .resolved
                .steps
                .iter()
                .position(|s| !s.secrets.is_empty());
            tracing::warn!(run = self.run.run_id, error = %err, "could not create the run's secret");
            if let Some(step) = first {
                let text = format!(
                    "could not create the run's secret {}: {err}",
                    run_secret_name(self.run.run_id)
                );
                self.emit(EngineEvent::Log {
                    step,
                    stream: LogStream::System,
                    text,
                    partial: false,
                })
                .await;
            }
        }
    }

    pub(super) async fn delete_run_secret(&self) {
        for pull in self.pull_secrets() {
            let name = pull_secret_name(self.run.run_id, &pull);
            match self.secrets.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(err) => {
                    tracing::warn!(run = self.run.run_id, secret = name, error = %err, "could not delete the run's pull secret")
                }
            }
        }
        let name = run_secret_name(self.run.run_id);
        match self.secrets.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(err) => {
                tracing::warn!(run = self.run.run_id, secret = name, error = %err, "could not delete the run's secret")
            }
        }
    }
}
