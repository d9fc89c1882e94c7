//! Kubernetes changes start runs (seed 003's ConfigMap trigger), on the Kubernetes API
//! double: one watcher per kind and namespace, only changes after it listed, a burst on one
//! object one run, the object and event as params; the role in `deploy/` allows it all.

use futures::StreamExt;
use serde_json::{json, Value};

use crate::support::fake_kube::FakeCluster;
use crate::support::{logs, TestApp};

const PIPELINE: &str = r#"
name: on-config
on:
  kubernetes:
    - apiVersion: v1
      kind: ConfigMap
      name: my-config
      namespace: default
      onAddOrUpdate: true
      onDelete: true
      resource: configmaps
      selector: {}
stages:
  - name: s
    steps:
      - {name: t, script: 'echo "$TRIGGER_EVENT $TRIGGER_KIND $TRIGGER_NAMESPACE/$TRIGGER_NAME"'}
"#;

fn config_map(name: &str, data: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
           "data": {"value": data}})
}

/// The live feed of run changes, read on across calls.
struct Feed<S> {
    stream: S,
    buffer: String,
    /// Runs of the pipeline seen ended, in the order they ended.
    ended: Vec<i64>,
}

impl<S: futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> Feed<S> {
    /// Reads on until one more run of the pipeline has ended; its id. A run's summary may
    /// come again after it ended (the feed sends every change): it counts once.
    async fn next_ended(&mut self) -> i64 {
        let wanted = self.ended.len() + 1;
        while self.ended.len() < wanted {
            let chunk = self.stream.next().await.expect("feed open").expect("chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let Ok(run) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                let done = ["succeeded", "failed", "cancelled"]
                    .contains(&run["status"].as_str().unwrap_or(""));
                let id = run["id"].as_i64().unwrap_or_default();
                if run["pipeline"] == "on-config" && done && !self.ended.contains(&id) {
                    self.ended.push(id);
                }
            }
        }
        self.ended[wanted - 1]
    }
}

#[tokio::test]
async fn a_config_map_change_starts_one_run_with_the_object_as_params() {
    let cluster = FakeCluster::start().await;
    // There before anyone watched: not news.
    cluster.insert("configmaps", config_map("my-config", "0"));
    let kubeconfig = cluster.kubeconfig.clone();
    let app = TestApp::spawn_with(move |config| {
        config.kubeconfig = Some(kubeconfig);
        // A loaded test machine can stall the server longer than the default quiet window
        // between two lines of one watch; the burst must still count as one.
        config.change_quiet = std::time::Duration::from_secs(3);
    })
    .await;
    let feed = app
        .client
        .get(app.url("/api/v1/changes"))
        .send()
        .await
        .expect("feed");
    let mut feed = Feed {
        stream: feed.bytes_stream(),
        buffer: String::new(),
        ended: Vec::new(),
    };
    app.create_pipeline(PIPELINE).await;
    cluster.until_listed("v1/configmaps", 0).await;

    // A burst of changes to one object, and a change to another that no trigger names.
    for value in 1..=5 {
        cluster.insert("configmaps", config_map("my-config", &value.to_string()));
    }
    cluster.insert("configmaps", config_map("someone-elses", "1"));
    let first = feed.next_ended().await;
    let events = app.all_events(first).await;
    assert_eq!(
        logs(&events, "t"),
        ["add_or_update ConfigMap default/my-config"]
    );
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(detail["trigger"], "kubernetes");
    assert_eq!(detail["params"]["TRIGGER_NAME"], "my-config");

    cluster.remove("configmaps", "default", "my-config");
    let deleted = feed.next_ended().await;
    let events = app.all_events(deleted).await;
    assert_eq!(logs(&events, "t"), ["delete ConfigMap default/my-config"]);
    let (_, runs) = app.get_json("/api/v1/pipelines/on-config/runs").await;
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(2),
        "one run per burst: {runs}"
    );

    // Another pipeline on the same kind and namespace shares the watcher.
    app.create_pipeline(&PIPELINE.replace("on-config", "also-on-config"))
        .await;
    let used = cluster.assert_granted_by_deployed_role();
    assert!(
        used.contains(&("watch".into(), String::new(), "configmaps".into())),
        "{used:?}"
    );
    assert_eq!(
        cluster.lists("v1/configmaps"),
        1,
        "one watcher for both pipelines"
    );
    app.stop().await;
}

#[tokio::test]
async fn kubernetes_triggers_need_a_cluster() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .body(PIPELINE)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["path"], "on.kubernetes", "{body}");
    app.stop().await;
}
