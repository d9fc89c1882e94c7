//! Kubernetes changes (seed 003): one watcher per distinct kind and namespace that pipelines'
//! `on.kubernetes` name (not one per pipeline), on dynamic types made from apiVersion, kind
//! and plural resource. Only changes after a watcher has listed the objects count: what
//! existed before is not news.

use std::collections::BTreeMap;

use conveyor_core::triggers::KubernetesTrigger;
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;

/// What one watcher watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchTarget {
    pub api_version: String,
    pub kind: String,
    pub resource: String,
    pub namespace: String,
}

impl WatchTarget {
    pub fn of(trigger: &KubernetesTrigger) -> WatchTarget {
        WatchTarget {
            api_version: trigger.api_version.trim().to_owned(),
            kind: trigger.kind.trim().to_owned(),
            resource: trigger.resource.trim().to_owned(),
            namespace: trigger.namespace().to_owned(),
        }
    }
}

/// A change a watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeChange {
    pub target: WatchTarget,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub deleted: bool,
}

impl KubeChange {
    /// `add_or_update` or `delete`, as the run's `TRIGGER_EVENT` says it.
    pub fn event(&self) -> &'static str {
        if self.deleted {
            "delete"
        } else {
            "add_or_update"
        }
    }
}

/// Whether the trigger asks for this change.
pub fn wanted(trigger: &KubernetesTrigger, change: &KubeChange) -> bool {
    WatchTarget::of(trigger) == change.target
        && trigger
            .name
            .as_deref()
            .is_none_or(|name| name == change.name)
        && trigger
            .selector
            .iter()
            .all(|(key, value)| change.labels.get(key) == Some(value))
        && if change.deleted {
            trigger.on_delete
        } else {
            trigger.on_add_or_update
        }
}

/// Watches one kind in one namespace until the task is aborted, sending each change after
/// the first listing on `changes`. Errors are retried with backoff.
pub async fn watch(
    client: Client,
    target: WatchTarget,
    changes: mpsc::UnboundedSender<KubeChange>,
) {
    let (group, version) = match target.api_version.split_once('/') {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (String::new(), target.api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &target.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, &target.resource);
    let api: Api<DynamicObject> = Api::namespaced_with(client, &target.namespace, &resource);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        let (object, deleted) = match event {
            Ok(Event::Apply(object)) => (object, false),
            Ok(Event::Delete(object)) => (object, true),
            Ok(Event::Init | Event::InitApply(_) | Event::InitDone) => continue,
            Err(err) => {
                tracing::warn!(kind = %target.kind, namespace = %target.namespace, error = %err, "a trigger's watch failed; retrying");
                continue;
            }
        };
        let change = KubeChange {
            target: target.clone(),
            name: object.name_any(),
            uid: object.uid().unwrap_or_else(|| object.name_any()),
            labels: object.labels().clone(),
            deleted,
        };
        if changes.send(change).is_err() {
            break;
        }
    }
}
