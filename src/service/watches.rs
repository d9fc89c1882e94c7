//! Kubernetes changes start runs (seed 003): one watcher per kind and namespace that any
//! pipeline's `on.kubernetes` names, made again whenever pipelines change. A burst of
//! changes to one object starts one run, once the object has been quiet for a moment; the
//! object's kind, namespace, name and the event reach the run as params.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use conveyor_core::definition::{Params, Pipeline, Problem};
use conveyor_core::run::{Start, Trigger};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{stored, Service, ServiceError, ServiceResult};
use crate::triggers::changes::{wanted, watch, KubeChange, WatchTarget};

/// The watchers running, by what they watch.
pub struct Watchers {
    changes: mpsc::UnboundedSender<KubeChange>,
    tasks: HashMap<WatchTarget, JoinHandle<()>>,
}

impl Service {
    /// Whether the pipeline watches Kubernetes objects; refused when this server has no
    /// cluster to watch (never silently ignored).
    pub(super) fn check_watches(&self, pipeline: &Pipeline) -> ServiceResult<bool> {
        let watching = pipeline
            .on
            .as_ref()
            .is_some_and(|on| !on.kubernetes.is_empty());
        if watching && self.workflows.cluster.is_none() {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "on.kubernetes",
                "this server has no cluster to watch: start it with --kubeconfig (or in a cluster)",
            )]));
        }
        Ok(watching)
    }

    /// Starts watching for the pipelines' Kubernetes triggers, when the server has a cluster;
    /// an object's changes start a run once it has stayed unchanged for `quiet`.
    pub async fn keep_watches(self: &Arc<Self>, quiet: Duration) -> ServiceResult<()> {
        if self.workflows.cluster.is_none() {
            return Ok(());
        }
        let (changes, mut incoming) = mpsc::unbounded_channel::<KubeChange>();
        *self.watchers.lock().unwrap_or_else(|p| p.into_inner()) = Some(Watchers {
            changes,
            tasks: HashMap::new(),
        });
        let service: Weak<Service> = Arc::downgrade(self);
        tokio::spawn(async move {
            // (pipeline, object uid) → when it has been quiet long enough, and its latest change.
            let mut waiting: HashMap<(String, String), (Instant, KubeChange)> = HashMap::new();
            loop {
                let next = waiting.values().map(|(at, _)| *at).min();
                let change = match next {
                    // Changes already received come before any deadline: a burst that
                    // arrived while this task waited is still one burst.
                    Some(at) => tokio::select! {
                        biased;
                        change = incoming.recv() => change.map(Some),
                        _ = tokio::time::sleep_until(at) => Some(None),
                    },
                    None => incoming.recv().await.map(Some),
                };
                let Some(change) = change else { break };
                let Some(service) = service.upgrade() else {
                    break;
                };
                if let Some(change) = change {
                    for pipeline in service.pipelines_wanting(&change).await {
                        let key = (pipeline, change.uid.clone());
                        waiting.insert(key, (Instant::now() + quiet, change.clone()));
                    }
                }
                // What is due starts, also while changes to other objects keep coming.
                let now = Instant::now();
                let due: Vec<(String, String)> = waiting
                    .iter()
                    .filter(|(_, (at, _))| *at <= now)
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in due {
                    if let Some((_, change)) = waiting.remove(&key) {
                        service.start_for_change(&key.0, &change).await;
                    }
                }
            }
        });
        self.refresh_watches().await
    }

    /// Makes the watchers match what the pipelines' triggers name now (one refresh at a
    /// time, so an older reading never undoes a newer one).
    pub(super) async fn refresh_watches(&self) -> ServiceResult<()> {
        let Some(cluster) = &self.workflows.cluster else {
            return Ok(());
        };
        let _one_at_a_time = self.refreshing.lock().await;
        let mut wanted_targets = BTreeSet::new();
        for name in self.store.watching_pipelines().await? {
            let (_, version) = self.pipeline_row(&name).await?;
            let (pipeline, _) = stored(&version)?;
            for trigger in pipeline.on.map(|on| on.kubernetes).unwrap_or_default() {
                wanted_targets.insert(WatchTarget::of(&trigger));
            }
        }
        let mut guard = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(watchers) = guard.as_mut() else {
            return Ok(());
        };
        watchers.tasks.retain(|target, task| {
            let keep = wanted_targets.contains(target);
            if !keep {
                task.abort();
            }
            keep
        });
        for target in wanted_targets {
            if !watchers.tasks.contains_key(&target) {
                let task = tokio::spawn(watch(
                    cluster.client(),
                    target.clone(),
                    watchers.changes.clone(),
                ));
                watchers.tasks.insert(target, task);
            }
        }
        Ok(())
    }

    /// The pipelines whose triggers ask for the change.
    async fn pipelines_wanting(&self, change: &KubeChange) -> Vec<String> {
        let mut names = Vec::new();
        let Ok(watching) = self.store.watching_pipelines().await else {
            return names;
        };
        for name in watching {
            let Ok((_, version)) = self.pipeline_row(&name).await else {
                continue;
            };
            let Ok((pipeline, _)) = stored(&version) else {
                continue;
            };
            let triggers = pipeline.on.map(|on| on.kubernetes).unwrap_or_default();
            if triggers.iter().any(|trigger| wanted(trigger, change)) {
                names.push(name);
            }
        }
        names
    }

    async fn start_for_change(self: &Arc<Self>, pipeline: &str, change: &KubeChange) {
        let params: Params = [
            ("TRIGGER_KIND", change.target.kind.clone()),
            ("TRIGGER_NAMESPACE", change.target.namespace.clone()),
            ("TRIGGER_NAME", change.name.clone()),
            ("TRIGGER_EVENT", change.event().to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let tag = format!("change-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
        let start = Start {
            trigger: Trigger::Kubernetes,
            by: None,
            commit: None,
        };
        if let Err(err) = self.start_run(pipeline, &tag, params, start).await {
            tracing::warn!(pipeline = %pipeline, object = %change.name, error = %err, "a Kubernetes change could not start a run");
        }
    }
}
