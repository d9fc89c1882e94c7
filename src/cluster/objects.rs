//! The Kubernetes objects each workflow needs (seed 000), built from its credentials:
//! a `kubernetes.io/dockerconfigjson` secret for the registry, a `kubernetes.io/basic-auth`
//! secret for git when credentials were given, a ServiceAccount carrying both, and a
//! RoleBinding of that account to the deployer role in the target namespace. Names are
//! fixed per workflow so that creating them again replaces them (update rotates secrets),
//! and every object carries the workflow's label so delete finds them all.

use std::collections::BTreeMap;

use base64::Engine as _;
use conveyor_core::workflow::{takes_new_image, Credentials, Workflow};
use k8s_openapi::api::core::v1::{LocalObjectReference, ObjectReference, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use crate::engine::tekton::compile::{LABEL_MANAGED_BY, MANAGED_BY};

pub const LABEL_WORKFLOW: &str = "conveyor.dev/workflow";
/// On a deployed pod template: when that deploy was made (Unix ms), so each deploy rolls.
pub const DEPLOYED_AT: &str = "conveyor.dev/deployed-at";
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
            .field(
                "git_secret",
                &self.git_secret.as_ref().map(|s| &s.metadata.name),
            )
            .field("service_account", &self.service_account.metadata.name)
            .field("role_binding", &self.role_binding.metadata.name)
            .finish()
    }
}

fn metadata(
    workflow: &Workflow,
    name: String,
    namespace: &str,
    annotations: Option<BTreeMap<String, String>>,
) -> ObjectMeta {
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
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => "https://index.docker.io/v1/".to_owned(),
    }
}

/// The name of a workflow's registry secret.
pub fn registry_secret_name(workflow: &Workflow) -> String {
    format!("{}-registry", workflow.name)
}

/// A docker `config.json` with the workflow's registry credentials (what podman, buildah,
/// docker and kaniko read).
pub fn docker_config_json(workflow: &Workflow, credentials: &Credentials) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        credentials.registry_username, credentials.registry_password
    ));
    serde_json::json!({
        "auths": {registry_host(&workflow.image.name): {
            "username": credentials.registry_username, "password": credentials.registry_password, "auth": auth,
        }}
    })
    .to_string()
}

/// `scheme://host` of an http(s) git URL, for Tekton's `tekton.dev/git-0` annotation.
fn git_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "https" || u.scheme() == "http")?;
    Some(format!("{}://{}", parsed.scheme(), parsed.host_str()?))
}

/// Builds the objects; `build_namespace` is where runs (and so the secrets and account)
/// live, `deploy_namespace` where the Deployment goes.
pub fn workflow_objects(
    workflow: &Workflow,
    credentials: &Credentials,
    build_namespace: &str,
    deploy_namespace: &str,
) -> WorkflowObjects {
    let host = registry_host(&workflow.image.name);
    let docker_config = docker_config_json(workflow, credentials);
    let docker_annotation = if host.starts_with("https://") {
        host.clone()
    } else {
        format!("https://{host}")
    };
    let registry_secret = Secret {
        metadata: metadata(
            workflow,
            registry_secret_name(workflow),
            build_namespace,
            Some(BTreeMap::from([(
                "tekton.dev/docker-0".to_owned(),
                docker_annotation,
            )])),
        ),
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            ByteString(docker_config.into_bytes()),
        )])),
        ..Default::default()
    };
    let git_secret = match (&credentials.git_username, &credentials.git_password) {
        (Some(username), Some(password)) => Some(Secret {
            metadata: metadata(
                workflow,
                format!("{}-git", workflow.name),
                build_namespace,
                git_host(&workflow.git.url)
                    .map(|host| BTreeMap::from([("tekton.dev/git-0".to_owned(), host)])),
            ),
            type_: Some("kubernetes.io/basic-auth".into()),
            data: Some(BTreeMap::from([
                (
                    "username".to_owned(),
                    ByteString(username.clone().into_bytes()),
                ),
                (
                    "password".to_owned(),
                    ByteString(password.clone().into_bytes()),
                ),
            ])),
            ..Default::default()
        }),
        _ => None,
    };
    let secret_names: Vec<String> = std::iter::once(&registry_secret)
        .chain(git_secret.as_ref())
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    let service_account = ServiceAccount {
        metadata: metadata(workflow, workflow.name.clone(), build_namespace, None),
        secrets: Some(
            secret_names
                .iter()
                .map(|name| ObjectReference {
                    name: Some(name.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        image_pull_secrets: Some(vec![LocalObjectReference {
            name: registry_secret_name(workflow),
        }]),
        ..Default::default()
    };
    let role_binding = RoleBinding {
        metadata: metadata(
            workflow,
            format!("{}-deployer", workflow.name),
            deploy_namespace,
            None,
        ),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: DEPLOYER_ROLE.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: workflow.name.clone(),
            namespace: Some(build_namespace.to_owned()),
            ..Default::default()
        }]),
    };
    WorkflowObjects {
        registry_secret,
        git_secret,
        service_account,
        role_binding,
    }
}

/// What the deploy step applies to deploy `image` (`name:tag`, or a release's
/// `name@sha256:…`): the Deployment (every container whose image contains the workflow's
/// image name runs `image`), its volumes' claims, and its Service, as one `v1` List. `None`
/// without a `deploy` section.
pub fn deploy_manifest(
    workflow: &Workflow,
    image: &str,
    namespace: &str,
) -> Option<serde_json::Value> {
    use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, EnvVar, PersistentVolumeClaim, PersistentVolumeClaimSpec,
        PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements, Service,
        ServicePort, ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    let (spec, _) = workflow.deploy_for_image(image)?;
    let selector = BTreeMap::from([("app.kubernetes.io/name".to_owned(), workflow.name.clone())]);
    let mut labels = selector.clone();
    labels.insert(LABEL_WORKFLOW.to_owned(), workflow.name.clone());
    let meta = |name: String| ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    let claim_name = |volume: &str| format!("{}-{volume}", workflow.name);
    let quantities = |pairs: [(&str, &Option<String>); 2]| {
        let map: BTreeMap<String, Quantity> = pairs
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_owned(), Quantity(value.clone()?))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let containers = spec
        .containers
        .iter()
        .map(|c| Container {
            name: c.name.clone(),
            image: Some(c.image.clone()),
            // A tag the workflow may push again is pulled again: a node's cached image
            // of that tag may be an older build.
            image_pull_policy: (workflow.image.overwrite_tags
                && takes_new_image(&c.image, &workflow.image.name))
            .then(|| "Always".to_owned()),
            command: (!c.command.is_empty()).then(|| c.command.clone()),
            args: (!c.args.is_empty()).then(|| c.args.clone()),
            ports: (!c.ports.is_empty()).then(|| {
                c.ports
                    .iter()
                    .map(|p| ContainerPort {
                        container_port: p.port as i32,
                        name: p.name.clone(),
                        protocol: p.protocol.clone(),
                        ..Default::default()
                    })
                    .collect()
            }),
            env: (!c.env.is_empty()).then(|| {
                c.env
                    .iter()
                    .map(|(name, value)| EnvVar {
                        name: name.clone(),
                        value: Some(value.clone()),
                        ..Default::default()
                    })
                    .collect()
            }),
            resources: (!c.resources.is_empty()).then(|| ResourceRequirements {
                requests: quantities([
                    ("cpu", &c.resources.cpu_request),
                    ("memory", &c.resources.memory_request),
                ]),
                limits: quantities([
                    ("cpu", &c.resources.cpu_limit),
                    ("memory", &c.resources.memory_limit),
                ]),
                ..Default::default()
            }),
            volume_mounts: (!c.mounts.is_empty()).then(|| {
                c.mounts
                    .iter()
                    .map(|(volume, path)| VolumeMount {
                        name: volume.clone(),
                        mount_path: path.clone(),
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        })
        .collect();
    let volumes: Vec<Volume> = spec
        .volumes
        .iter()
        .map(|v| Volume {
            name: v.name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&v.name),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    let deployment = Deployment {
        metadata: meta(workflow.name.clone()),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    // Every deploy is a new rollout, even of the image that runs now (a
                    // rebuilt tag, a rollback to the live digest).
                    annotations: Some(BTreeMap::from([(
                        DEPLOYED_AT.to_owned(),
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis())
                            .to_string(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers,
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut items = vec![serde_json::to_value(&deployment).ok()?];
    for volume in &spec.volumes {
        let claim = PersistentVolumeClaim {
            metadata: meta(claim_name(&volume.name)),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: volume.storage_class.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_owned(),
                        Quantity(volume.size.clone()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        items.push(serde_json::to_value(&claim).ok()?);
    }
    if let Some(exposure) = &spec.service {
        let service = Service {
            metadata: meta(workflow.name.clone()),
            spec: Some(ServiceSpec {
                type_: exposure.kind.clone(),
                selector: Some(selector.clone()),
                ports: Some(
                    exposure
                        .ports
                        .iter()
                        .map(|p| ServicePort {
                            name: Some(format!("port-{}", p.port)),
                            port: p.port as i32,
                            target_port: Some(IntOrString::Int(
                                p.target_port.unwrap_or(p.port) as i32
                            )),
                            node_port: p.node_port.map(|n| n as i32),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        items.push(serde_json::to_value(&service).ok()?);
    }
    Some(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
}
