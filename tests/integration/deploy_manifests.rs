//! The manifests in `deploy/` are real Kubernetes objects: each one survives a round trip
//! through its k8s-openapi type unchanged (a misspelt or misplaced field would be dropped),
//! and the server's role grants exactly the verbs the engine and workflows use.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use serde::Deserialize;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("manifest");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("YAML"))
        .collect()
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(document: &Value) -> Value {
    let typed: T = serde_json::from_value(document.clone())
        .unwrap_or_else(|err| panic!("{err}: {document:#}"));
    serde_json::to_value(typed).expect("serialize")
}

#[test]
fn every_manifest_is_a_well_formed_object() {
    let mut kinds = Vec::new();
    for file in ["conveyor.yaml", "rbac.yaml"] {
        for document in documents(file) {
            let kind = document["kind"].as_str().expect("kind").to_owned();
            let back = match kind.as_str() {
                "Namespace" => round_trip::<Namespace>(&document),
                "ServiceAccount" => round_trip::<ServiceAccount>(&document),
                "PersistentVolumeClaim" => round_trip::<PersistentVolumeClaim>(&document),
                "Deployment" => round_trip::<Deployment>(&document),
                "Service" => round_trip::<Service>(&document),
                "ClusterRole" => round_trip::<ClusterRole>(&document),
                "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(&document),
                other => panic!("{file}: no check for kind {other}"),
            };
            assert_eq!(
                back, document,
                "{file}: {kind} changed in a round trip (unknown or misplaced field?)"
            );
            kinds.push(kind);
        }
    }
    for wanted in [
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.iter().any(|k| k == wanted), "deploy/ has no {wanted}");
    }
}

#[test]
fn the_deployment_keeps_one_writer_on_its_volume() {
    let deployment: Deployment = serde_json::from_value(
        documents("conveyor.yaml")
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("Deployment"),
    )
    .expect("typed");
    let spec = deployment.spec.expect("spec");
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("Recreate")
    );
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(pod.service_account_name.as_deref(), Some("conveyor"));
    let env = pod.containers[0].env.clone().unwrap_or_default();
    assert!(env
        .iter()
        .any(|e| e.name == "CONVEYOR_DATA_DIR" && e.value.as_deref() == Some("/data")));
    assert!(pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path == "/data"));
}

#[test]
fn the_server_role_grants_exactly_what_conveyor_uses() {
    let role: ClusterRole = serde_json::from_value(
        documents("rbac.yaml")
            .into_iter()
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "conveyor")
            .expect("role"),
    )
    .expect("typed");
    let rules: Vec<PolicyRule> = role.rules.unwrap_or_default();
    let grants = |group: &str, resource: &str| -> Vec<String> {
        rules
            .iter()
            .filter(|r| {
                r.api_groups.iter().flatten().any(|g| g == group)
                    && r.resources.iter().flatten().any(|x| x == resource)
            })
            .flat_map(|r| r.verbs.clone())
            .collect()
    };
    for rule in &rules {
        assert!(
            !rule.verbs.iter().any(|v| v == "*"),
            "no wildcard verbs: {rule:?}"
        );
        assert!(
            !rule.resources.iter().flatten().any(|r| r == "*"),
            "no wildcard resources: {rule:?}"
        );
    }
    let mut pipeline_runs = grants("tekton.dev", "pipelineruns");
    pipeline_runs.sort();
    assert_eq!(
        pipeline_runs,
        ["create", "delete", "get", "list", "patch", "watch"]
    );
    assert_eq!(grants("tekton.dev", "taskruns"), ["get", "list", "watch"]);
    assert_eq!(grants("", "pods/log"), ["get", "list", "watch"]);
    assert!(grants("", "secrets").contains(&"create".to_owned()));
    // ConfigMaps are only read, for the `on.kubernetes` triggers of seed 003's example.
    assert_eq!(grants("", "configmaps"), ["list", "watch"]);
    let bind = rules
        .iter()
        .find(|r| r.verbs == ["bind"])
        .expect("a bind rule");
    assert_eq!(
        bind.resource_names.as_deref(),
        Some(&["conveyor-deployer".to_owned()][..]),
        "bind only the deployer role"
    );
}

#[test]
fn the_deployment_probes_health_and_readiness() {
    let deployment = documents("conveyor.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "http");
}
