//! The Kubernetes objects each workflow needs (seed 000), built from its credentials:
//! a `kubernetes.io/dockerconfigjson` secret for the registry, a `kubernetes.io/basic-auth`
//! secret for git when credentials were given, a ServiceAccount carrying both, and a
//! RoleBinding of that account to the deployer role in the target namespace. Names are
//! fixed per workflow so that creating them again replaces them (update rotates secrets),
//! and every object carries the workflow's label so delete finds them all.

use std::collections::BTreeMap;

use app::workflow::{Credentials, Workflow};
use base64::Engine as _;
use k8s_openapi::api::core::v1::{LocalObjectReference, ObjectReference, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use crate::engine::tekton::compile::{LABEL_MANAGED_BY, MANAGED_BY};

pub const LABEL_WORKFLOW: &str = "conveyor.dev/workflow";
/// The ClusterRole in `deploy/rbac.yaml` that workflows' accounts are bound to.
pub const DEPLOYER_ROLE: &str = "conveyor-deployer";

#[derive(Clone, PartialEq)]
pub struct WorkflowObjects {
    pub registry_secret: Secret,
    pub git_secret: Option<Secret>,
    pub service_account: ServiceAccount,
    pub role_binding: RoleBinding,
}

// Secrets must never reach a log line, not even through `{:?}`.
impl std::fmt::Debug for WorkflowObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowObjects")
            .field("registry_secret", &self.registry_secret.metadata.name)
            .field("git_secret", &self.git_secret.as_ref().map(|s| &s.metadata.name))
            .field("service_account", &self.service_account.metadata.name)
            .field("role_binding", &self.role_binding.metadata.name)
            .finish()
    }
}

fn metadata(workflow: &Workflow, name: String, namespace: &str, annotations: Option<BTreeMap<String, String>>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([
            (LABEL_WORKFLOW.to_owned(), workflow.name.clone()),
            (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        ])),
        annotations,
        ..Default::default()
    }
}

/// The registry host of an image repository, as docker config keys it.
pub fn registry_host(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first.to_owned(),
        _ => "https://index.docker.io/v1/".to_owned(),
    }
}

/// `scheme://host` of an http(s) git URL, for Tekton's `tekton.dev/git-0` annotation.
fn git_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok().filter(|u| u.scheme() == "https" || u.scheme() == "http")?;
    Some(format!("{}://{}", parsed.scheme(), parsed.host_str()?))
}

/// Builds the objects; `build_namespace` is where runs (and so the secrets and account)
/// live, `deploy_namespace` where the Deployment goes.
pub fn workflow_objects(workflow: &Workflow, credentials: &Credentials, build_namespace: &str, deploy_namespace: &str) -> WorkflowObjects {
    let base64 = base64::engine::general_purpose::STANDARD;
    let host = registry_host(&workflow.image.name);
    let auth = base64.encode(format!("{}:{}", credentials.registry_username, credentials.registry_password));
    let docker_config = serde_json::json!({
        "auths": {host.clone(): {"username": credentials.registry_username, "password": credentials.registry_password, "auth": auth}}
    });
    let docker_annotation = if host.starts_with("https://") { host.clone() } else { format!("https://{host}") };
    let registry_secret = Secret {
        metadata: metadata(
            workflow,
            format!("{}-registry", workflow.name),
            build_namespace,
            Some(BTreeMap::from([("tekton.dev/docker-0".to_owned(), docker_annotation)])),
        ),
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(BTreeMap::from([(".dockerconfigjson".to_owned(), ByteString(docker_config.to_string().into_bytes()))])),
        ..Default::default()
    };
    let git_secret = match (&credentials.git_username, &credentials.git_password) {
        (Some(username), Some(password)) => Some(Secret {
            metadata: metadata(
                workflow,
                format!("{}-git", workflow.name),
                build_namespace,
                git_host(&workflow.git.url).map(|host| BTreeMap::from([("tekton.dev/git-0".to_owned(), host)])),
            ),
            type_: Some("kubernetes.io/basic-auth".into()),
            data: Some(BTreeMap::from([
                ("username".to_owned(), ByteString(username.clone().into_bytes())),
                ("password".to_owned(), ByteString(password.clone().into_bytes())),
            ])),
            ..Default::default()
        }),
        _ => None,
    };
    let secret_names: Vec<String> =
        std::iter::once(&registry_secret).chain(git_secret.as_ref()).filter_map(|s| s.metadata.name.clone()).collect();
    let service_account = ServiceAccount {
        metadata: metadata(workflow, workflow.name.clone(), build_namespace, None),
        secrets: Some(secret_names.iter().map(|name| ObjectReference { name: Some(name.clone()), ..Default::default() }).collect()),
        image_pull_secrets: Some(vec![LocalObjectReference { name: format!("{}-registry", workflow.name) }]),
        ..Default::default()
    };
    let role_binding = RoleBinding {
        metadata: metadata(workflow, format!("{}-deployer", workflow.name), deploy_namespace, None),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "ClusterRole".into(), name: DEPLOYER_ROLE.into() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: workflow.name.clone(),
            namespace: Some(build_namespace.to_owned()),
            ..Default::default()
        }]),
    };
    WorkflowObjects { registry_secret, git_secret, service_account, role_binding }
}
