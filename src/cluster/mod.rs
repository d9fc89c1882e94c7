//! What Conveyor does on a Kubernetes cluster besides running PipelineRuns: a workflow's
//! secrets, service account and role binding (applied server-side, so creating them again
//! replaces them and an update rotates the secrets; removed by label on delete), and the
//! check that a new workflow would not take over an existing Deployment. `objects` builds
//! those objects and a run's deploy manifest.

pub mod objects;
pub mod rollout;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use objects::{WorkflowObjects, LABEL_WORKFLOW};

/// The field manager of everything Conveyor applies.
const MANAGER: &str = "conveyor";

#[derive(Debug, thiserror::Error)]
#[error("the Kubernetes API refused to {action}: {source}")]
pub struct ClusterError {
    action: String,
    #[source]
    source: kube::Error,
}

fn failed(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let action = action.into();
    move |source| ClusterError { action, source }
}

#[derive(Clone)]
pub struct Cluster {
    client: Client,
    /// Where runs and workflow credentials live (the Tekton namespace).
    namespace: String,
}

impl Cluster {
    pub fn new(client: Client, namespace: &str) -> Cluster {
        Cluster {
            client,
            namespace: namespace.to_owned(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The client, for watching the objects pipelines' triggers name.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    pub async fn deployment_exists(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<bool, ClusterError> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name)
            .await
            .map(|found| found.is_some())
            .map_err(failed(format!("read Deployment {namespace}/{name}")))
    }

    /// Applies a workflow's objects; the same names again replace them.
    pub async fn apply(&self, objects: &WorkflowObjects) -> Result<(), ClusterError> {
        apply(&self.client, &objects.registry_secret).await?;
        if let Some(git) = &objects.git_secret {
            apply(&self.client, git).await?;
        }
        apply(&self.client, &objects.service_account).await?;
        apply(&self.client, &objects.role_binding).await
    }

    /// Removes a workflow's secrets (every one with its label, so none is left behind by a
    /// rename or an older version), its service account and its role bindings.
    pub async fn remove_workflow(
        &self,
        workflow: &str,
        deploy_namespace: &str,
    ) -> Result<(), ClusterError> {
        let selector = ListParams::default().labels(&format!("{LABEL_WORKFLOW}={workflow}"));
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        delete_all(&secrets, &selector, "Secret").await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        delete_all(&accounts, &selector, "ServiceAccount").await?;
        let bindings: Api<RoleBinding> = Api::namespaced(self.client.clone(), deploy_namespace);
        delete_all(&bindings, &selector, "RoleBinding").await
    }
}

async fn apply<K>(client: &Client, object: &K) -> Result<(), ClusterError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map(|_| ())
    .map_err(failed(format!("apply {} {namespace}/{name}", K::kind(&()))))
}

async fn delete_all<K>(api: &Api<K>, selector: &ListParams, kind: &str) -> Result<(), ClusterError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let found = api
        .list(selector)
        .await
        .map_err(failed(format!("list {kind}s")))?;
    for object in found.items {
        let name = object.meta().name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(err) => return Err(failed(format!("delete {kind} {name}"))(err)),
        }
    }
    Ok(())
}

/// The Deployments of a `v1` List: `(namespace, name)` of each.
pub fn deployments_of(manifest: &serde_json::Value) -> Vec<(String, String)> {
    manifest["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["kind"] == "Deployment")
        .filter_map(|item| {
            let meta = &item["metadata"];
            Some((
                meta["namespace"].as_str()?.to_owned(),
                meta["name"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Applies every object of a `v1` List server-side (the workflow deploy step on the local
/// engine, through `conveyor deploy-manifest`); returns a line per object applied.
pub async fn apply_manifest(
    client: Client,
    manifest: &serde_json::Value,
) -> Result<Vec<String>, String> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

    let items = manifest["items"]
        .as_array()
        .ok_or("the manifest is not a List with `items`")?;
    let mut applied = Vec::new();
    for item in items {
        let kind = item["kind"].as_str().unwrap_or_default();
        let (group, version, plural) = match kind {
            "Deployment" => ("apps", "v1", "deployments"),
            "Service" => ("", "v1", "services"),
            "PersistentVolumeClaim" => ("", "v1", "persistentvolumeclaims"),
            other => return Err(format!("cannot apply a {other:?}: a workflow deploys Deployments, Services and PersistentVolumeClaims")),
        };
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let object: DynamicObject = serde_json::from_value(item.clone())
            .map_err(|err| format!("a malformed {kind}: {err}"))?;
        let name = object
            .metadata
            .name
            .clone()
            .ok_or_else(|| format!("a {kind} without a name"))?;
        let namespace = object
            .metadata
            .namespace
            .clone()
            .ok_or_else(|| format!("{kind} {name} has no namespace"))?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|err| format!("could not apply {kind} {namespace}/{name}: {err}"))?;
        applied.push(format!("applied {kind} {namespace}/{name}"));
    }
    Ok(applied)
}
