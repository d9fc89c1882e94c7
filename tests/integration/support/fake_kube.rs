//! A Kubernetes API double for tests, on 127.0.0.1:0, speaking the real wire protocol to
//! kube-rs through a real kubeconfig:
//!
//! - JSON objects with `resourceVersion`, `uid` and `creationTimestamp`; create (409
//!   AlreadyExists), get (404 NotFound), JSON merge patch, delete, all as `Status` bodies;
//! - list with label selectors, and watch streams (`ADDED`/`MODIFIED`/`DELETED` lines) from
//!   a resourceVersion; a too-old one (after [`FakeCluster::expire_watches`]) gets the API
//!   server's in-stream `ERROR` event with a 410 `Status`;
//! - pod logs, with `follow=true`, and 400 while the container waits to start;
//! - a scripted Tekton controller: every PipelineRun created is first checked against the
//!   v1 CRD schemas (422 Invalid if it does not fit), then its tasks run in `runAfter`
//!   order as TaskRuns with pods whose one step runs the task's script (or command) as a
//!   real process on this host, with the params and workspace substituted the way Tekton
//!   does. `spec.status: Cancelled` kills them. Conditions, `childReferences` and
//!   `skippedTasks` follow Tekton's.
//! - a PVC is a directory that lives as long as the object: a PipelineRun whose workspace
//!   names a claim that does not exist fails at once (where a real cluster would leave its
//!   pods pending), so a test sees a lost workspace instead of waiting.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::crd::TektonSchemas;

const PIPELINE_RUNS: &str = "tekton.dev/v1/pipelineruns";
const TASK_RUNS: &str = "tekton.dev/v1/taskruns";
const PODS: &str = "v1/pods";
const CLAIMS: &str = "v1/persistentvolumeclaims";
const DEPLOYMENTS: &str = "apps/v1/deployments";

/// How the double's Deployment controller rolls out a Deployment's new generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rollouts {
    /// Every replica updated and available.
    #[default]
    Complete,
    /// Pods never become ready: `Progressing` turns false with `ProgressDeadlineExceeded`.
    DeadlineExceeded,
    /// The new generation is observed, but no replica is ever updated.
    Stuck,
}

type Key = (String, String, String); // resource, namespace, name

struct Change {
    rv: u64,
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct LogBuffer {
    bytes: Vec<u8>,
    done: bool,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
    /// Watches from a resourceVersion below this get 410 Gone.
    oldest: u64,
    /// Bumped to break every open watch with 410 Gone.
    generation: u64,
    logs: HashMap<(String, String), LogBuffer>,
    lists: HashMap<String, u64>,
    held: HashSet<String>,
    /// Scripts that tasks of these names run instead of their own step.
    stand_ins: HashMap<String, String>,
    /// Every (verb, API group, resource) a client used, as RBAC names them.
    used: HashSet<(String, String, String)>,
    rollouts: Rollouts,
}

struct Cluster {
    inner: Mutex<Inner>,
    /// Ticks on every change (objects, logs, holds); waiters re-check what they wait for.
    tick: watch::Sender<u64>,
    schemas: TektonSchemas,
    work: TempDir,
}

impl Cluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn touch(&self) {
        self.tick.send_modify(|t| *t += 1);
    }

    /// Stores an object version and records the change for watchers.
    fn put(&self, resource: &str, namespace: &str, object: Value, kind: &'static str) -> Value {
        let object = Self::put_locked(&mut self.lock(), resource, namespace, object, kind);
        self.touch();
        object
    }

    fn put_locked(
        inner: &mut Inner,
        resource: &str,
        namespace: &str,
        mut object: Value,
        kind: &'static str,
    ) -> Value {
        inner.rv += 1;
        let rv = inner.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = (resource.to_owned(), namespace.to_owned(), name);
        if kind == "DELETED" {
            inner.objects.remove(&key);
        } else {
            inner.objects.insert(key, object.clone());
        }
        inner.history.push(Change {
            rv,
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            kind,
            object: object.clone(),
        });
        object
    }

    fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(resource.to_owned(), namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Read-modify-write of an object, atomically (the controller's status updates and
    /// patches; the real API server would refuse a stale write with 409 instead).
    fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let updated = {
            let mut inner = self.lock();
            let mut object = inner
                .objects
                .get(&(resource.to_owned(), namespace.to_owned(), name.to_owned()))?
                .clone();
            change(&mut object);
            Self::put_locked(&mut inner, resource, namespace, object, "MODIFIED")
        };
        self.touch();
        Some(updated)
    }

    /// The directory standing for a PVC's volume.
    fn claim_dir(&self, claim: &str) -> PathBuf {
        self.work.path().join("claims").join(claim)
    }

    /// The full key of a plural resource name, as the routes build it.
    fn resource_path(&self, plural: &str) -> String {
        match plural {
            "pipelineruns" | "taskruns" => format!("tekton.dev/v1/{plural}"),
            "deployments" => format!("apps/v1/{plural}"),
            "rolebindings" => format!("rbac.authorization.k8s.io/v1/{plural}"),
            _ => format!("v1/{plural}"),
        }
    }

    fn record(&self, verb: &str, resource: &str) {
        let (group, plural) = match resource.split('/').collect::<Vec<_>>()[..] {
            [group, _, plural] => (group.to_owned(), plural.to_owned()),
            [_, plural] => (String::new(), plural.to_owned()),
            _ => (String::new(), resource.to_owned()),
        };
        self.lock().used.insert((verb.to_owned(), group, plural));
    }

    fn append_log(&self, pod: &str, container: &str, bytes: &[u8]) {
        self.lock()
            .logs
            .entry((pod.to_owned(), container.to_owned()))
            .or_default()
            .bytes
            .extend_from_slice(bytes);
        self.touch();
    }

    fn end_log(&self, pod: &str, container: &str) {
        self.lock()
            .logs
            .entry((pod.to_owned(), container.to_owned()))
            .or_default()
            .done = true;
        self.touch();
    }
}

/// The running double, with a kubeconfig that points at it.
pub struct FakeCluster {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    pub namespace: String,
    cluster: Arc<Cluster>,
    _dir: TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeCluster {
    pub async fn start() -> FakeCluster {
        let cluster = Arc::new(Cluster {
            inner: Mutex::new(Inner::default()),
            tick: watch::channel(0).0,
            schemas: TektonSchemas::load(),
            work: tempfile::tempdir().expect("temp dir"),
        });
        let app = Router::new()
            .route(
                "/apis/{group}/{version}/namespaces/{ns}/{resource}",
                get(list_or_watch).post(create),
            )
            .route(
                "/apis/{group}/{version}/namespaces/{ns}/{resource}/{name}",
                get(read).patch(patch).delete(delete),
            )
            .route(
                "/api/{version}/namespaces/{ns}/{resource}",
                get(core_list_or_watch).post(core_create),
            )
            .route(
                "/api/{version}/namespaces/{ns}/{resource}/{name}",
                get(core_read).patch(core_patch).delete(core_delete),
            )
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .fallback(|| async {
                status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            })
            .with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake cluster serves");
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let namespace = "ci".to_owned();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
                 users:\n- name: tester\n  user:\n    token: test-token\ncontexts:\n- name: fake\n  context:\n    \
                 cluster: fake\n    user: tester\n    namespace: {namespace}\ncurrent-context: fake\n"
            ),
        )
        .expect("write kubeconfig");
        FakeCluster {
            addr,
            kubeconfig,
            namespace,
            cluster,
            _dir: dir,
            server,
        }
    }

    /// How Deployments applied from now on roll out.
    pub fn rollouts(&self, how: Rollouts) {
        self.cluster.lock().rollouts = how;
    }

    /// Tasks with this name wait (not created) until released.
    pub fn hold(&self, task: &str) {
        self.cluster.lock().held.insert(task.to_owned());
        self.cluster.touch();
    }

    /// Tasks with this name run `script` instead of their own step (which needs an image
    /// this host cannot run: kaniko, kubectl).
    pub fn stand_in(&self, task: &str, script: &str) {
        self.cluster
            .lock()
            .stand_ins
            .insert(task.to_owned(), script.to_owned());
    }

    pub fn release(&self, task: &str) {
        self.cluster.lock().held.remove(task);
        self.cluster.touch();
    }

    /// Compacts history: every open watch ends with 410 Gone, and so does any watch from a
    /// resourceVersion before now.
    pub fn expire_watches(&self) {
        {
            let mut inner = self.cluster.lock();
            inner.oldest = inner.rv + 1;
            inner.generation += 1;
        }
        self.cluster.touch();
    }

    /// How many list calls a resource (e.g. "pipelineruns") has had.
    pub fn lists(&self, resource: &str) -> u64 {
        self.cluster
            .lock()
            .lists
            .iter()
            .filter(|(k, _)| k.ends_with(resource))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Every (verb, API group, resource) clients used, as RBAC rules name them.
    pub fn used(&self) -> Vec<(String, String, String)> {
        let mut used: Vec<_> = self.cluster.lock().used.iter().cloned().collect();
        used.sort();
        used
    }

    /// Puts an object there as if someone else had created it (test set-up).
    pub fn insert(&self, resource: &str, object: Value) {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace)
            .to_owned();
        let resource = self.cluster.resource_path(resource);
        self.cluster.put(&resource, &namespace, object, "ADDED");
    }

    /// Deletes an object as if someone else had (test set-up).
    pub fn remove(&self, resource: &str, namespace: &str, name: &str) {
        let resource = self.cluster.resource_path(resource);
        if let Some(object) = self.cluster.get(&resource, namespace, name) {
            self.cluster.put(&resource, namespace, object, "DELETED");
        }
    }

    /// One object by resource (e.g. "secrets"), namespace and name.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.cluster
            .get(&self.cluster.resource_path(resource), namespace, name)
    }

    /// Checks every (verb, group, resource) clients used against the rules of Conveyor's
    /// ClusterRole in `deploy/rbac.yaml`; returns what was used.
    pub fn assert_granted_by_deployed_role(&self) -> Vec<(String, String, String)> {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml"))
                .expect("rbac.yaml");
        let role = serde_yaml::Deserializer::from_str(&text)
            .map(|document| {
                serde_yaml::from_value::<Value>(
                    serde::Deserialize::deserialize(document).expect("YAML"),
                )
                .expect("JSON")
            })
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "conveyor")
            .expect("the server's role");
        let rules = role["rules"].as_array().expect("rules").clone();
        let used = self.used();
        for (verb, group, resource) in &used {
            let granted = rules.iter().any(|rule| {
                let has = |key: &str, wanted: &str| {
                    rule[key]
                        .as_array()
                        .is_some_and(|v| v.iter().any(|x| x == wanted))
                };
                has("apiGroups", group)
                    && has("resources", resource)
                    && has("verbs", verb)
                    && rule.get("resourceNames").is_none()
            });
            assert!(
                granted,
                "deploy/rbac.yaml does not let Conveyor {verb} {resource} (group \"{group}\")"
            );
        }
        used
    }

    /// Waits until a resource has had more than `count` list calls.
    pub async fn until_listed(&self, resource: &str, count: u64) {
        let mut tick = self.cluster.tick.subscribe();
        while self.lists(resource) <= count {
            tick.changed().await.expect("cluster alive");
        }
    }

    pub fn objects(&self, resource: &str) -> Vec<Value> {
        self.cluster
            .lock()
            .objects
            .iter()
            .filter(|((r, _, _), _)| r.ends_with(resource))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Waits until `test` holds for the cluster's objects of a resource.
    pub async fn until(&self, resource: &str, test: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut tick = self.cluster.tick.subscribe();
        loop {
            let objects = self.objects(resource);
            if test(&objects) {
                return objects;
            }
            tick.changed().await.expect("cluster alive");
        }
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

fn resource_key(group: &str, version: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("{version}/{resource}")
    } else {
        format!("{group}/{version}/{resource}")
    }
}

fn now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    // RFC 3339 without a date library: days from the epoch by the civil-from-days rule.
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn matches_labels(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|term| match term.split_once('=') {
        Some((key, value)) => {
            object["metadata"]["labels"][key.trim()].as_str()
                == Some(value.trim_start_matches('=').trim())
        }
        None => false,
    })
}

// ---- handlers ----

async fn list_or_watch(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((group, version, ns, resource)): UrlPath<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve_collection(
        cluster,
        resource_key(&group, &version, &resource),
        ns,
        query,
    )
}

async fn core_list_or_watch(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((version, ns, resource)): UrlPath<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve_collection(cluster, resource_key("", &version, &resource), ns, query)
}

fn serve_collection(
    cluster: Arc<Cluster>,
    resource: String,
    ns: String,
    query: HashMap<String, String>,
) -> Response {
    let selector = query.get("labelSelector").cloned();
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    cluster.record(if watching { "watch" } else { "list" }, &resource);
    if watching {
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return watch_stream(cluster, resource, ns, selector, from);
    }
    cluster.touch();
    let mut inner = cluster.lock();
    *inner.lists.entry(resource.clone()).or_default() += 1;
    let items: Vec<Value> = inner
        .objects
        .iter()
        .filter(|((r, n, _), object)| {
            *r == resource && *n == ns && matches_labels(object, selector.as_deref())
        })
        .map(|(_, object)| object.clone())
        .collect();
    let (api_version, _) = resource.rsplit_once('/').unwrap_or(("v1", ""));
    Json(json!({
        "apiVersion": api_version,
        "kind": "List",
        "metadata": {"resourceVersion": inner.rv.to_string()},
        "items": items,
    }))
    .into_response()
}

fn watch_stream(
    cluster: Arc<Cluster>,
    resource: String,
    ns: String,
    selector: Option<String>,
    from: u64,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<String, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut tick = cluster.tick.subscribe();
        let (generation, oldest) = {
            let inner = cluster.lock();
            (inner.generation, inner.oldest)
        };
        let gone = |message: String| {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": "Expired", "code": 410});
            format!("{}\n", json!({"type": "ERROR", "object": status}))
        };
        if from < oldest.saturating_sub(1) {
            let _ = tx
                .send(Ok(gone(format!(
                    "too old resource version: {from} ({oldest})"
                ))))
                .await;
            return;
        }
        let mut cursor = from;
        loop {
            let (lines, expired, scanned_to) = {
                let inner = cluster.lock();
                let lines: Vec<(u64, String)> = inner
                    .history
                    .iter()
                    .filter(|c| c.rv > cursor && c.resource == resource && c.namespace == ns)
                    .filter(|c| matches_labels(&c.object, selector.as_deref()))
                    .map(|c| {
                        (
                            c.rv,
                            format!("{}\n", json!({"type": c.kind, "object": c.object})),
                        )
                    })
                    .collect();
                (lines, inner.generation != generation, inner.rv)
            };
            if expired {
                let _ = tx
                    .send(Ok(gone(format!("too old resource version: {cursor}"))))
                    .await;
                return;
            }
            for (_, line) in lines {
                if tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
            // Everything up to what was scanned has been sent or did not match.
            cursor = cursor.max(scanned_to);
            if tick.changed().await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .expect("response")
}

async fn create(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((group, version, ns, resource)): UrlPath<(String, String, String, String)>,
    Json(object): Json<Value>,
) -> Response {
    create_object(
        cluster,
        resource_key(&group, &version, &resource),
        ns,
        object,
    )
}

async fn core_create(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((version, ns, resource)): UrlPath<(String, String, String)>,
    Json(object): Json<Value>,
) -> Response {
    create_object(cluster, resource_key("", &version, &resource), ns, object)
}

fn create_object(
    cluster: Arc<Cluster>,
    resource: String,
    ns: String,
    mut object: Value,
) -> Response {
    cluster.record("create", &resource);
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name: Required value",
        );
    };
    if resource == PIPELINE_RUNS {
        let mut problems = cluster.schemas.pipeline_run_problems(&object);
        // Tekton's admission webhook: pipeline task (and so pod container) names are DNS
        // labels, which the CRD schema does not say.
        for task in object["spec"]["pipelineSpec"]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let task_name = task["name"].as_str().unwrap_or_default();
            if !conveyor_core::check::is_dns_label(task_name) {
                problems.push(format!("invalid value: {task_name}: spec.pipelineSpec.tasks[].name must be a DNS label"));
            }
        }
        if !problems.is_empty() {
            return status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                &format!("PipelineRun \"{name}\" is invalid: {problems:?}"),
            );
        }
    }
    if cluster.get(&resource, &ns, &name).is_some() {
        let plural = resource.rsplit('/').next().unwrap_or_default();
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{plural} \"{name}\" already exists"),
        );
    }
    object["metadata"]["namespace"] = json!(ns);
    object["metadata"]["uid"] = json!(format!("uid-{name}-{}", cluster.lock().rv));
    object["metadata"]["creationTimestamp"] = json!(now());
    object["metadata"]["generation"] = json!(1);
    let created = cluster.put(&resource, &ns, object, "ADDED");
    if resource == PIPELINE_RUNS {
        tokio::spawn(reconcile(cluster.clone(), ns, name));
    } else if resource == DEPLOYMENTS {
        tokio::spawn(roll_out(cluster.clone(), ns, name));
    }
    (StatusCode::CREATED, Json(created)).into_response()
}

async fn read(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((group, version, ns, resource, name)): UrlPath<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> Response {
    read_object(
        &cluster,
        &resource_key(&group, &version, &resource),
        &ns,
        &name,
    )
}

async fn core_read(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((version, ns, resource, name)): UrlPath<(String, String, String, String)>,
) -> Response {
    read_object(&cluster, &resource_key("", &version, &resource), &ns, &name)
}

fn read_object(cluster: &Cluster, resource: &str, ns: &str, name: &str) -> Response {
    cluster.record("get", resource);
    match cluster.get(resource, ns, name) {
        Some(object) => Json(object).into_response(),
        None => not_found(resource, name),
    }
}

fn not_found(resource: &str, name: &str) -> Response {
    let plural = resource.rsplit('/').next().unwrap_or_default();
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{plural} \"{name}\" not found"),
    )
}

async fn patch(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((group, version, ns, resource, name)): UrlPath<(
        String,
        String,
        String,
        String,
        String,
    )>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    patch_object(
        cluster,
        resource_key(&group, &version, &resource),
        ns,
        name,
        &headers,
        &body,
    )
}

async fn core_patch(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((version, ns, resource, name)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    patch_object(
        cluster,
        resource_key("", &version, &resource),
        ns,
        name,
        &headers,
        &body,
    )
}

/// JSON merge patches, and server-side apply (which creates the object when missing and
/// otherwise replaces what the applier owns: here, the whole object but its identity).
fn patch_object(
    cluster: Arc<Cluster>,
    resource: String,
    ns: String,
    name: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    cluster.record("patch", &resource);
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the patch is not JSON",
        );
    };
    match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        Some("application/merge-patch+json") => {
            match cluster.update(&resource, &ns, &name, |object| merge(object, &patch)) {
                Some(object) => Json(object).into_response(),
                None => not_found(&resource, &name),
            }
        }
        Some("application/apply-patch+yaml") => {
            if patch["metadata"]["name"].as_str() != Some(name.as_str()) {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "metadata.name must match the URL",
                );
            }
            let replaced = cluster.update(&resource, &ns, &name, |object| {
                let identity = object["metadata"].clone();
                // Status is a subresource: applying the object leaves it; a changed spec
                // is a new generation.
                let status = object["status"].take();
                let generation = identity["generation"].as_i64().unwrap_or(1)
                    + i64::from(object["spec"] != patch["spec"]);
                *object = patch.clone();
                for key in ["uid", "creationTimestamp", "namespace"] {
                    object["metadata"][key] = identity[key].clone();
                }
                object["metadata"]["generation"] = json!(generation);
                if !status.is_null() {
                    object["status"] = status;
                }
            });
            match replaced {
                Some(object) => {
                    if resource == DEPLOYMENTS {
                        tokio::spawn(roll_out(cluster.clone(), ns, name));
                    }
                    Json(object).into_response()
                }
                None => create_object(cluster, resource, ns, patch),
            }
        }
        _ => status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "merge patches and server-side apply only",
        ),
    }
}

/// The Deployment controller, as far as a rollout's status goes: after the apply has
/// answered, the new generation is observed and rolled out as [`Rollouts`] says.
async fn roll_out(cluster: Arc<Cluster>, ns: String, name: String) {
    tokio::task::yield_now().await;
    let how = cluster.lock().rollouts;
    cluster.update(DEPLOYMENTS, &ns, &name, |deployment| {
        let generation = deployment["metadata"]["generation"].clone();
        let wanted = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        deployment["status"] = match how {
            Rollouts::Complete => json!({
                "observedGeneration": generation, "replicas": wanted, "updatedReplicas": wanted,
                "readyReplicas": wanted, "availableReplicas": wanted,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": format!("ReplicaSet \"{name}-1\" has successfully progressed.")},
                ],
            }),
            Rollouts::DeadlineExceeded => json!({
                "observedGeneration": generation, "replicas": wanted, "updatedReplicas": 1,
                "unavailableReplicas": wanted,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                     "message": format!("ReplicaSet \"{name}-2\" has timed out progressing.")},
                ],
            }),
            Rollouts::Stuck => json!({
                "observedGeneration": generation, "replicas": wanted, "updatedReplicas": 0,
                "availableReplicas": wanted,
            }),
        };
    });
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().expect("an object");
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

async fn delete(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((group, version, ns, resource, name)): UrlPath<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> Response {
    delete_object(
        &cluster,
        &resource_key(&group, &version, &resource),
        &ns,
        &name,
    )
}

async fn core_delete(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((version, ns, resource, name)): UrlPath<(String, String, String, String)>,
) -> Response {
    delete_object(&cluster, &resource_key("", &version, &resource), &ns, &name)
}

fn delete_object(cluster: &Cluster, resource: &str, ns: &str, name: &str) -> Response {
    cluster.record("delete", resource);
    match cluster.get(resource, ns, name) {
        Some(object) => {
            let uid = object["metadata"]["uid"].clone();
            cluster.put(resource, ns, object, "DELETED");
            // Kubernetes' garbage collector: what the object owned goes with it.
            let owned: Vec<(String, String)> = cluster
                .lock()
                .objects
                .iter()
                .filter(|((_, n, _), o)| {
                    n == ns
                        && !uid.is_null()
                        && o["metadata"]["ownerReferences"]
                            .as_array()
                            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
                })
                .map(|((r, _, name), _)| (r.clone(), name.clone()))
                .collect();
            for (kind, name) in owned {
                delete_object(cluster, &kind, ns, &name);
            }
            if resource == CLAIMS {
                // The volume goes with its claim.
                let _ = std::fs::remove_dir_all(cluster.claim_dir(name));
            }
            Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}))
                .into_response()
        }
        None => not_found(resource, name),
    }
}

async fn pod_log(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((ns, pod)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    cluster
        .lock()
        .used
        .insert(("get".into(), String::new(), "pods/log".into()));
    if cluster.get(PODS, &ns, &pod).is_none() {
        return not_found(PODS, &pod);
    }
    let Some(container) = query.get("container").cloned() else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "a container name must be specified",
        );
    };
    if !cluster
        .lock()
        .logs
        .contains_key(&(pod.clone(), container.clone()))
    {
        let message = format!(
            "container \"{container}\" in pod \"{pod}\" is waiting to start: PodInitializing"
        );
        return status(StatusCode::BAD_REQUEST, "BadRequest", &message);
    }
    let follow = matches!(query.get("follow").map(String::as_str), Some("true" | "1"));
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut tick = cluster.tick.subscribe();
        let mut sent = 0;
        loop {
            let (chunk, done) = {
                let inner = cluster.lock();
                let log = &inner.logs[&(pod.clone(), container.clone())];
                (log.bytes[sent..].to_vec(), log.done)
            };
            sent += chunk.len();
            if !chunk.is_empty() && tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            if done || !follow {
                return;
            }
            if tick.changed().await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "text/plain")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .expect("response")
}

// ---- the scripted Tekton controller ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum TaskEnd {
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    Skipped,
}

fn is_cancelled(run: &Value) -> bool {
    matches!(
        run["spec"]["status"].as_str(),
        Some("Cancelled" | "CancelledRunFinally" | "StoppedRunFinally")
    )
}

fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (key, value) in values {
        out = out.replace(&format!("$({key})"), value);
    }
    out
}

/// Runs a PipelineRun's tasks to the end, like Tekton's controller would.
async fn reconcile(cluster: Arc<Cluster>, ns: String, name: String) {
    let Some(run) = cluster.get(PIPELINE_RUNS, &ns, &name) else {
        return;
    };
    let tasks: Vec<Value> = run["spec"]["pipelineSpec"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for param in run["spec"]["params"].as_array().into_iter().flatten() {
        values.insert(
            format!("params.{}", param["name"].as_str().unwrap_or_default()),
            param["value"].as_str().unwrap_or_default().to_owned(),
        );
    }
    let binding = &run["spec"]["workspaces"][0];
    let started = now();
    let workspace = match binding["persistentVolumeClaim"]["claimName"].as_str() {
        Some(claim) if cluster.get(CLAIMS, &ns, claim).is_none() => {
            let message = format!("persistentvolumeclaim \"{claim}\" not found");
            cluster.update(PIPELINE_RUNS, &ns, &name, |run| {
                run["status"] = json!({
                    "startTime": started,
                    "completionTime": started,
                    "conditions": [{"type": "Succeeded", "status": "False", "reason": "ClaimNotFound", "message": message}],
                });
            });
            return;
        }
        Some(claim) => cluster.claim_dir(claim),
        None => cluster.work.path().join("runs").join(&name),
    };
    std::fs::create_dir_all(&workspace).expect("workspace dir");
    cluster.update(PIPELINE_RUNS, &ns, &name, |run| {
        run["status"] = json!({
            "startTime": started,
            "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running", "message": "Tasks Completed: 0"}],
            "childReferences": [],
        });
    });

    let mut ends: HashMap<String, TaskEnd> = HashMap::new();
    let mut running: HashMap<String, tokio_util::sync::CancellationToken> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, TaskEnd)>();
    let mut tick = cluster.tick.subscribe();
    let mut skipped: Vec<Value> = Vec::new();
    loop {
        let cancelled = cluster
            .get(PIPELINE_RUNS, &ns, &name)
            .is_none_or(|r| is_cancelled(&r));
        if cancelled {
            for token in running.values() {
                token.cancel();
            }
        }
        let held = cluster.lock().held.clone();
        for task in &tasks {
            let task_name = task["name"].as_str().unwrap_or_default().to_owned();
            if ends.contains_key(&task_name) || running.contains_key(&task_name) {
                continue;
            }
            let after: Vec<&str> = task["runAfter"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let failed_parent = after.iter().any(|p| {
                matches!(
                    ends.get(*p),
                    Some(TaskEnd::Failed | TaskEnd::TimedOut | TaskEnd::Cancelled)
                )
            });
            let skipped_parent = after
                .iter()
                .any(|p| ends.get(*p) == Some(&TaskEnd::Skipped));
            let any_failed = ends
                .values()
                .any(|e| matches!(e, TaskEnd::Failed | TaskEnd::TimedOut));
            if cancelled || failed_parent || skipped_parent || any_failed {
                let reason = if cancelled {
                    "PipelineRun was cancelled"
                } else if skipped_parent {
                    "Parent Tasks were skipped"
                } else {
                    "PipelineRun was stopping"
                };
                if !cancelled {
                    skipped
                        .push(json!({"name": task_name, "reason": reason, "whenExpressions": []}));
                }
                ends.insert(task_name, TaskEnd::Skipped);
                continue;
            }
            if after
                .iter()
                .all(|p| ends.get(*p) == Some(&TaskEnd::Succeeded))
                && !held.contains(&task_name)
            {
                let token = tokio_util::sync::CancellationToken::new();
                running.insert(task_name.clone(), token.clone());
                let (cluster, ns, run, task, values, workspace, done) = (
                    cluster.clone(),
                    ns.clone(),
                    run.clone(),
                    task.clone(),
                    values.clone(),
                    workspace.clone(),
                    done_tx.clone(),
                );
                tokio::spawn(async move {
                    let end = run_task(cluster, &ns, &run, &task, values, &workspace, token).await;
                    let _ = done.send((task["name"].as_str().unwrap_or_default().to_owned(), end));
                });
            }
        }
        if running.is_empty() && ends.len() == tasks.len() {
            break;
        }
        tokio::select! {
            Some((task, end)) = done_rx.recv() => {
                running.remove(&task);
                ends.insert(task, end);
            }
            changed = tick.changed() => if changed.is_err() { return },
        }
    }

    let cancelled = cluster
        .get(PIPELINE_RUNS, &ns, &name)
        .is_none_or(|r| is_cancelled(&r));
    let count = |wanted: &[TaskEnd]| ends.values().filter(|e| wanted.contains(e)).count();
    let failed = count(&[TaskEnd::Failed, TaskEnd::TimedOut]);
    let summary = format!(
        "Tasks Completed: {} (Failed: {failed}, Cancelled {}), Skipped: {}",
        count(&[
            TaskEnd::Succeeded,
            TaskEnd::Failed,
            TaskEnd::TimedOut,
            TaskEnd::Cancelled
        ]),
        count(&[TaskEnd::Cancelled]),
        count(&[TaskEnd::Skipped]),
    );
    let condition = if cancelled {
        json!({"type": "Succeeded", "status": "False", "reason": "Cancelled", "message": format!("PipelineRun \"{name}\" was cancelled")})
    } else if failed > 0 {
        json!({"type": "Succeeded", "status": "False", "reason": "Failed", "message": summary})
    } else {
        json!({"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": summary})
    };
    let finished = now();
    cluster.update(PIPELINE_RUNS, &ns, &name, |run| {
        run["status"]["conditions"] = json!([condition]);
        run["status"]["completionTime"] = json!(finished);
        if !skipped.is_empty() {
            run["status"]["skippedTasks"] = json!(skipped);
        }
    });
}

/// The step `host` would run, in a container of the step's image instead, with the
/// workspace at each of `mounts` (as a kubelet mounts a task's workspaces).
fn in_container(
    step: &Value,
    host: &tokio::process::Command,
    workspace: &Path,
    mounts: &[String],
    env: &[(String, String)],
) -> tokio::process::Command {
    let host = host.as_std();
    let mut command = tokio::process::Command::new("podman");
    command.args(["run", "--rm", "--network", "host", "--log-driver", "none"]);
    command.args(["--workdir", "/workspace"]);
    for mount in mounts {
        command
            .arg("--volume")
            .arg(format!("{}:{mount}", workspace.display()));
    }
    for (name, value) in env {
        command.arg("--env").arg(format!("{name}={value}"));
    }
    let program = host.get_program().to_string_lossy().into_owned();
    let mut args: Vec<String> = host
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if program == "/bin/sh" {
        // The script file: mounted where the step reads it.
        let script = args.remove(0);
        command
            .arg("--volume")
            .arg(format!("{script}:/tekton/script:ro"));
        args.insert(0, "/tekton/script".into());
    }
    command
        .arg("--entrypoint")
        .arg(serde_json::json!([program]).to_string());
    command
        .arg(step["image"].as_str().unwrap_or_default())
        .args(args);
    command
}

/// One task: its TaskRun, its pod, and its one step as a real process.
async fn run_task(
    cluster: Arc<Cluster>,
    ns: &str,
    run: &Value,
    task: &Value,
    mut values: BTreeMap<String, String>,
    workspace: &Path,
    cancel: tokio_util::sync::CancellationToken,
) -> TaskEnd {
    let run_name = run["metadata"]["name"].as_str().unwrap_or_default();
    let task_name = task["name"].as_str().unwrap_or_default();
    let task_run = format!("{run_name}-{task_name}");
    let pod = format!("{task_run}-pod");
    let mut step = task["taskSpec"]["steps"][0].clone();
    if let Some(script) = cluster.lock().stand_ins.get(task_name).cloned() {
        step["script"] = json!(script);
        if let Some(fields) = step.as_object_mut() {
            fields.remove("command");
            fields.remove("args");
        }
    }
    let step = &step;
    let step_name = step["name"].as_str().unwrap_or_default().to_owned();
    let container = format!("step-{step_name}");

    let mut labels = run["metadata"]["labels"].clone();
    labels["tekton.dev/pipelineRun"] = json!(run_name);
    labels["tekton.dev/pipelineTask"] = json!(task_name);
    let owner = json!([{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": run_name,
        "uid": run["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    let created = now();
    let object = json!({
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": {"name": task_run, "namespace": ns, "labels": labels, "ownerReferences": owner,
            "uid": format!("uid-{task_run}"), "creationTimestamp": created},
        "spec": {"taskSpec": task["taskSpec"], "params": task["params"]},
        "status": {"podName": pod, "startTime": created,
            "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Pending", "message": "Pending"}],
            "steps": [{"name": step_name, "container": container, "waiting": {"reason": "PodInitializing"}}]},
    });
    cluster.put(TASK_RUNS, ns, object, "ADDED");
    cluster.put(
        PODS,
        ns,
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod, "namespace": ns, "labels": labels, "uid": format!("uid-{pod}")}}),
        "ADDED",
    );
    cluster.update(PIPELINE_RUNS, ns, run_name, |run| {
        let children = run["status"]["childReferences"].as_array_mut().expect("childReferences");
        children.push(json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": task_run, "pipelineTaskName": task_name}));
    });

    // Params as Tekton resolves them: the task's from the run's, then the step's env.
    let mut task_values = BTreeMap::new();
    for param in task["params"].as_array().into_iter().flatten() {
        let value = substitute(param["value"].as_str().unwrap_or_default(), &values);
        task_values.insert(
            format!("params.{}", param["name"].as_str().unwrap_or_default()),
            value,
        );
    }
    // A task that mounts the workspace at a path of its own (a KubeCI /kubeci) needs what
    // a kubelet gives it: a container with those mounts (podman, on this host's images).
    let mounts: Vec<String> = task["taskSpec"]["workspaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["mountPath"].as_str())
        .map(str::to_owned)
        .collect();
    let contained = mounts.iter().any(|m| m != "/workspace");
    let workspace_path = if contained {
        "/workspace".to_owned()
    } else {
        workspace.display().to_string()
    };
    task_values.insert("workspaces.workspace.path".into(), workspace_path);
    values.extend(task_values.clone());
    let env: Vec<(String, String)> = step["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let name = e["name"].as_str().unwrap_or_default().to_owned();
            // `valueFrom.secretKeyRef`: the key of a Secret in the run's namespace, as the
            // kubelet gives it (a missing Secret or key leaves the variable empty here).
            if let Some(reference) = e["valueFrom"]["secretKeyRef"].as_object() {
                let secret = cluster.get(
                    &cluster.resource_path("secrets"),
                    ns,
                    reference["name"].as_str().unwrap_or_default(),
                );
                let key = reference["key"].as_str().unwrap_or_default();
                let value = secret
                    .and_then(|s| s["data"][key].as_str().map(str::to_owned))
                    .and_then(|b64| {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD.decode(b64).ok()
                    })
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_default();
                return (name, value);
            }
            (
                name,
                substitute(e["value"].as_str().unwrap_or_default(), &task_values),
            )
        })
        .collect();

    let mut command = if let Some(script) = step["script"].as_str() {
        let path = cluster.work.path().join(format!("{task_run}.sh"));
        std::fs::write(&path, substitute(script, &task_values)).expect("write script");
        let mut command = tokio::process::Command::new("/bin/sh");
        command.arg(path);
        command
    } else {
        let words: Vec<String> = step["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let mut command =
            tokio::process::Command::new(words.first().cloned().unwrap_or_else(|| "true".into()));
        command.args(&words[1.min(words.len())..]);
        command.args(
            step["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        command
    };
    if contained {
        command = in_container(step, &command, workspace, &mounts, &env);
    }
    command
        .current_dir(workspace)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);

    let started = now();
    cluster
        .lock()
        .logs
        .insert((pod.clone(), container.clone()), LogBuffer::default());
    let mut child = command.spawn().expect("step process starts");
    cluster.update(TASK_RUNS, ns, &task_run, |tr| {
        tr["status"]["conditions"] = json!([{"type": "Succeeded", "status": "Unknown", "reason": "Running", "message": "Not all Steps in the Task have finished executing"}]);
        tr["status"]["steps"] = json!([{"name": step_name, "container": container, "running": {"startedAt": started}}]);
    });
    let mut readers = Vec::new();
    for mut output in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let (pod, container, cluster) = (pod.clone(), container.clone(), cluster.clone());
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 8192];
            while let Ok(n) = output.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                cluster.append_log(&pod, &container, &buffer[..n]);
            }
        }));
    }
    let timeout = task["timeout"]
        .as_str()
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|s| s.parse::<u64>().ok());
    let (code, end) = tokio::select! {
        status = child.wait() => {
            let code = status.ok().and_then(|s| s.code()).unwrap_or(1);
            (code, if code == 0 { TaskEnd::Succeeded } else { TaskEnd::Failed })
        }
        () = cancel.cancelled() => (137, TaskEnd::Cancelled),
        () = async { match timeout { Some(s) => tokio::time::sleep(Duration::from_secs(s)).await, None => std::future::pending().await } } => (137, TaskEnd::TimedOut),
    };
    if let Some(id) = child.id() {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(id as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.wait().await;
    for reader in readers {
        let _ = reader.await;
    }
    cluster.end_log(&pod, &container);
    let finished = now();
    let (status, reason, message) = match end {
        TaskEnd::Succeeded => (
            "True",
            "Succeeded",
            "All Steps have completed executing".to_owned(),
        ),
        TaskEnd::Cancelled => (
            "False",
            "TaskRunCancelled",
            format!("TaskRun \"{task_run}\" was cancelled"),
        ),
        TaskEnd::TimedOut => (
            "False",
            "TaskRunTimeout",
            format!("TaskRun \"{task_run}\" failed to finish within its timeout"),
        ),
        _ => (
            "False",
            "Failed",
            format!("\"{container}\" exited with code {code}"),
        ),
    };
    cluster.update(TASK_RUNS, ns, &task_run, |tr| {
        tr["status"]["conditions"] = json!([{"type": "Succeeded", "status": status, "reason": reason, "message": message}]);
        tr["status"]["completionTime"] = json!(finished);
        tr["status"]["steps"] = json!([{"name": step_name, "container": container,
            "terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
                "startedAt": started, "finishedAt": finished}}]);
    });
    end
}
