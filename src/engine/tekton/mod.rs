//! The Tekton engine: runs on a Kubernetes cluster as `tekton.dev/v1` PipelineRuns.
//!
//! - [`compile`] turns a planned run, or the part of it between approval gates (a
//!   *segment*), into one PipelineRun.
//! - Two watchers per namespace (PipelineRuns and TaskRuns, selected by the managed-by
//!   label), not one per run, feed every run's driver ([`drive`]); kube-runtime's watcher
//!   re-lists when the API answers 410 Gone, and backs off on errors.
//! - A run's driver maps conditions to step statuses, streams each step's container log
//!   into the store (so logs outlive pods), starts the next segment when a gate is
//!   approved, and cancels with `spec.status: Cancelled`.
//! - Runs live on in the cluster when the server stops; a new server process resumes them
//!   from what is on record (statuses, and how many log lines each step already has).

pub mod compile;
mod drive;
mod forget;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use conveyor_core::definition::EngineKind;
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::compile::{TektonSettings, LABEL_MANAGED_BY, LABEL_RUN, MANAGED_BY};
use super::{Control, Engine, EngineError, EngineEvent, Progress, RunRequest};

/// The two Tekton kinds the engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    PipelineRun,
    TaskRun,
}

impl Kind {
    pub(crate) fn resource(self) -> ApiResource {
        let (kind, plural) = match self {
            Kind::PipelineRun => ("PipelineRun", "pipelineruns"),
            Kind::TaskRun => ("TaskRun", "taskruns"),
        };
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("tekton.dev", "v1", kind), plural)
    }
}

/// What a watcher tells a run's driver.
#[derive(Debug)]
pub(crate) enum Signal {
    Seen(Kind, DynamicObject),
    Deleted(Kind, DynamicObject),
}

type Routes = Arc<Mutex<HashMap<i64, mpsc::UnboundedSender<Signal>>>>;

fn routes(
    routes: &Routes,
) -> std::sync::MutexGuard<'_, HashMap<i64, mpsc::UnboundedSender<Signal>>> {
    routes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where the engine finds its cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    /// A kubeconfig file; absent = the usual places (`KUBECONFIG`, `~/.kube/config`, or the
    /// pod's own service account when running in a cluster).
    pub kubeconfig: Option<PathBuf>,
}

pub struct TektonEngine {
    client: Client,
    settings: Arc<TektonSettings>,
    routes: Routes,
    watching: std::sync::Once,
    stop: CancellationToken,
}

impl ClusterConfig {
    /// A client for the cluster. Nothing is sent to the cluster yet.
    pub async fn client(&self) -> Result<Client, EngineError> {
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|err| EngineError::Cluster(format!("cannot read the kubeconfig {}: {err}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|err| EngineError::Cluster(format!("the kubeconfig {} is not usable: {err}", path.display())))?
            }
            None => kube::Config::infer().await.map_err(|err| {
                EngineError::Cluster(format!(
                    "no cluster configured (set --kubeconfig or KUBECONFIG, or run inside a cluster): {err}"
                ))
            })?,
        };
        Client::try_from(config)
            .map_err(|err| EngineError::Cluster(format!("cannot build a client: {err}")))
    }
}

impl TektonEngine {
    pub fn new(client: Client, settings: TektonSettings) -> TektonEngine {
        TektonEngine {
            client,
            settings: Arc::new(settings),
            routes: Arc::default(),
            watching: std::sync::Once::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Starts the namespace's two watchers, once.
    fn watch(&self) {
        self.watching.call_once(|| {
            for kind in [Kind::PipelineRun, Kind::TaskRun] {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    self.client.clone(),
                    &self.settings.namespace,
                    &kind.resource(),
                );
                tokio::spawn(follow(api, kind, self.routes.clone(), self.stop.clone()));
            }
        });
    }

    /// Registers a run's driver with the watchers and returns its inbox.
    fn route(&self, run_id: i64) -> mpsc::UnboundedReceiver<Signal> {
        let (tx, rx) = mpsc::unbounded_channel();
        routes(&self.routes).insert(run_id, tx);
        rx
    }

    fn driver(
        &self,
        run: RunRequest,
        progress: Progress,
        events: mpsc::Sender<EngineEvent>,
    ) -> drive::Driver {
        drive::Driver::new(
            self.client.clone(),
            self.settings.clone(),
            run,
            progress,
            events,
        )
    }

    /// Drives the run in a task of its own; a new run (`fresh`) prepares its workspace first.
    fn spawn(
        &self,
        mut driver: drive::Driver,
        inbox: mpsc::UnboundedReceiver<Signal>,
        fresh: bool,
    ) -> mpsc::Sender<Control> {
        let (control_tx, control_rx) = mpsc::channel(16);
        let routes = self.routes.clone();
        let run_id = driver.run_id();
        tokio::spawn(async move {
            if fresh {
                driver.prepare().await;
            }
            driver.run(inbox, control_rx).await;
            routes_remove(&routes, run_id);
        });
        control_tx
    }
}

fn routes_remove(all: &Routes, run_id: i64) {
    routes(all).remove(&run_id);
}

#[async_trait::async_trait]
impl Engine for TektonEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Tekton
    }

    /// The cluster answers a list of this namespace's PipelineRuns (the API is reachable,
    /// Tekton's resources are installed and this server may read them).
    async fn ready(&self) -> Result<(), String> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.settings.namespace,
            &Kind::PipelineRun.resource(),
        );
        api.list(&kube::api::ListParams::default().limit(1))
            .await
            .map(|_| ())
            .map_err(|err| {
                format!(
                    "cannot list PipelineRuns in {}: {err}",
                    self.settings.namespace
                )
            })
    }

    async fn forget(&self, _pipeline: &str, runs: &[i64]) {
        forget::forget_runs(&self.client, &self.settings.namespace, runs).await;
    }

    async fn start(
        &self,
        run: RunRequest,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<mpsc::Sender<Control>, EngineError> {
        self.watch();
        let inbox = self.route(run.run_id);
        let progress = run.fresh_progress();
        let driver = self.driver(run, progress, events);
        Ok(self.spawn(driver, inbox, true))
    }

    async fn resume(
        &self,
        run: RunRequest,
        progress: Progress,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<Option<mpsc::Sender<Control>>, EngineError> {
        self.watch();
        // Route first, then read what is there: a change between the two arrives twice,
        // which the driver takes in its stride; none is missed.
        let inbox = self.route(run.run_id);
        let mut driver = self.driver(run, progress, events);
        if let Err(err) = driver.recover().await {
            routes_remove(&self.routes, driver.run_id());
            return Err(err);
        }
        Ok(Some(self.spawn(driver, inbox, false)))
    }

    async fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// One watcher: every object of a kind with Conveyor's label in the namespace, handed to
/// the driver of the run it belongs to.
async fn follow(api: Api<DynamicObject>, kind: Kind, all: Routes, stop: CancellationToken) {
    let config = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"));
    let mut stream = watcher(api, config).default_backoff().boxed();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = stop.cancelled() => return,
        };
        let (object, deleted) = match item {
            None => return,
            Some(Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object))) => {
                (object, false)
            }
            Some(Ok(watcher::Event::Delete(object))) => (object, true),
            Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => continue,
            Some(Err(err)) => {
                // The watcher starts over by itself (re-listing after 410 Gone), with backoff.
                tracing::warn!(?kind, error = %err, "Tekton watch interrupted; resuming");
                continue;
            }
        };
        let Some(run_id) = object
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_RUN))
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        let inbox = routes(&all).get(&run_id).cloned();
        if let Some(inbox) = inbox {
            let _ = inbox.send(if deleted {
                Signal::Deleted(kind, object)
            } else {
                Signal::Seen(kind, object)
            });
        }
    }
}
