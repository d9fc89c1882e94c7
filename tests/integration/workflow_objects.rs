//! The per-workflow Kubernetes objects: secrets of the right types carrying the credentials,
//! an account carrying the secrets, a binding to the deployer role, all labelled.

use base64::Engine as _;
use conveyor::cluster::objects::{registry_host, workflow_objects, LABEL_WORKFLOW};
use conveyor_core::workflow::parse_workflow;

const WORKFLOW: &str = r#"
name: shop
git: {url: "https://git.example.com/team/shop.git", username: git-bot, password: git-pass}
image: {name: registry.example.com:5000/team/shop, username: reg-bot, password: reg-pass}
"#;

#[test]
fn credentials_become_typed_labelled_secrets_on_an_account() {
    let workflow = parse_workflow(WORKFLOW).expect("valid");
    let (_, credentials) = workflow.split_credentials();
    let objects = workflow_objects(&workflow, &credentials, "ci", "apps");

    let registry = serde_json::to_value(&objects.registry_secret).expect("json");
    assert_eq!(registry["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(registry["metadata"]["name"], "shop-registry");
    assert_eq!(registry["metadata"]["namespace"], "ci");
    assert_eq!(registry["metadata"]["labels"][LABEL_WORKFLOW], "shop");
    assert_eq!(
        registry["metadata"]["annotations"]["tekton.dev/docker-0"],
        "https://registry.example.com:5000"
    );
    let encoded = registry["data"][".dockerconfigjson"]
        .as_str()
        .expect("base64 data");
    let config: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("docker config");
    let entry = &config["auths"]["registry.example.com:5000"];
    assert_eq!(entry["username"], "reg-bot");
    assert_eq!(entry["password"], "reg-pass");
    assert_eq!(
        entry["auth"],
        base64::engine::general_purpose::STANDARD.encode("reg-bot:reg-pass")
    );

    let git = serde_json::to_value(objects.git_secret.as_ref().expect("git secret")).expect("json");
    assert_eq!(git["type"], "kubernetes.io/basic-auth");
    assert_eq!(
        git["metadata"]["annotations"]["tekton.dev/git-0"],
        "https://git.example.com"
    );
    assert_eq!(
        git["data"]["password"],
        base64::engine::general_purpose::STANDARD.encode("git-pass")
    );

    let account = serde_json::to_value(&objects.service_account).expect("json");
    assert_eq!(account["metadata"]["name"], "shop");
    assert_eq!(
        account["secrets"],
        serde_json::json!([{"name": "shop-registry"}, {"name": "shop-git"}])
    );
    assert_eq!(
        account["imagePullSecrets"],
        serde_json::json!([{"name": "shop-registry"}])
    );

    let binding = serde_json::to_value(&objects.role_binding).expect("json");
    assert_eq!(binding["metadata"]["namespace"], "apps");
    assert_eq!(
        binding["roleRef"],
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "conveyor-deployer"})
    );
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "shop", "namespace": "ci"}])
    );

    let debug = format!("{objects:?}");
    assert!(
        !debug.contains("reg-pass") && !debug.contains("git-pass") && !debug.contains(encoded),
        "{debug}"
    );
}

#[test]
fn without_git_credentials_there_is_no_git_secret() {
    let source = WORKFLOW.replace(", username: git-bot, password: git-pass", "");
    let workflow = parse_workflow(&source).expect("valid");
    let (_, credentials) = workflow.split_credentials();
    let objects = workflow_objects(&workflow, &credentials, "ci", "ci");
    assert!(objects.git_secret.is_none());
    assert_eq!(
        serde_json::to_value(&objects.service_account).expect("json")["secrets"],
        serde_json::json!([{"name": "shop-registry"}])
    );
}

#[test]
fn docker_hub_images_use_docker_hubs_key() {
    assert_eq!(registry_host("team/shop"), "https://index.docker.io/v1/");
    assert_eq!(registry_host("shop"), "https://index.docker.io/v1/");
    assert_eq!(registry_host("localhost/shop"), "localhost");
    assert_eq!(registry_host("ghcr.io/team/shop"), "ghcr.io");
}
