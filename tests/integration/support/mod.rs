//! Helpers for integration tests: a real server on 127.0.0.1:0 with a fresh SQLite file,
//! and a small server-sent-events reader.

pub mod crd;
pub mod fake_kube;
pub mod git_http;
pub mod images;
pub mod oidc_provider;
pub mod process;
pub mod receiver;
pub mod registry;
pub mod seeds;

use std::net::SocketAddr;
use std::sync::Arc;

use conveyor::config::ServeConfig;
use conveyor::service::Service;
use conveyor::service::FIRST_ADMIN;
use conveyor::Server;
use conveyor_core::access::{Principal, Role, Scope};
use conveyor_core::run::{EventBody, RunEvent, RunStatus, StepStatus};
use futures::StreamExt;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A port on 127.0.0.1 that refuses connections while this lives: bound, never listening,
/// and without `SO_REUSEADDR`, so no other test's listener can be given it meanwhile (a port
/// bound and released at once could be).
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(false).expect("no SO_REUSEADDR");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        ClosedPort {
            _socket: socket,
            addr,
        }
    }
}

/// A client; with a token, every request carries it. Bodies are YAML unless a request says
/// otherwise (`.json()` does), as the API wants definitions to be labelled.
pub fn client_with(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        "application/yaml".parse().expect("a header value"),
    );
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        TestApp::spawn_in(tempfile::tempdir().expect("temp dir"), adjust).await
    }

    /// A server on an existing data directory (what a restart finds).
    pub async fn spawn_in(data_dir: TempDir, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let mut config = ServeConfig::for_data_dir(data_dir.path().to_path_buf());
        // A loaded test machine can spend the default 300 ms on a page that reads little;
        // pages cut short by time have their own test.
        config.search_page_time = std::time::Duration::from_secs(120);
        adjust(&mut config);
        let server = Server::bind(&config).await.expect("server starts");
        let addr = server.local_addr();
        let service = server.service();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        let token = TestApp::token_for(&service, FIRST_ADMIN, Scope::Admin).await;
        TestApp {
            addr,
            service,
            client: client_with(Some(&token)),
            data_dir,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// A new API token of an account.
    pub async fn token_for(service: &Service, name: &str, scope: Scope) -> String {
        let user = service
            .store()
            .user(name)
            .await
            .expect("store")
            .expect("the account");
        let owner = Principal {
            user_id: user.id,
            name: user.name,
            role: user.role,
            scope: None,
        };
        service
            .accounts()
            .create_token(&owner, None, "tests", scope, None)
            .await
            .expect("a token")
            .token
    }

    /// A client acting for a new account of this role, with a token of this scope.
    pub async fn client_as(&self, name: &str, role: Role, scope: Scope) -> reqwest::Client {
        self.service
            .accounts()
            .add_user(None, name, role, "a long enough password")
            .await
            .expect("account");
        client_with(Some(&TestApp::token_for(&self.service, name, scope).await))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET a path; the status and the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// POST to a path with no body; the status.
    pub async fn post(&self, path: &str) -> u16 {
        self.client
            .post(self.url(path))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    /// Re-runs the failed steps of `run`, which must be accepted; the new run's summary.
    pub async fn retry(&self, run: i64) -> serde_json::Value {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/runs/{run}/retry")))
            .send()
            .await
            .expect("retry");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn create_pipeline(&self, source: &str) -> serde_json::Value {
        let response = self
            .client
            .post(self.url("/api/v1/pipelines"))
            .body(source.to_owned())
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(status, 201, "create failed: {body}");
        body
    }

    pub async fn start_run(&self, pipeline: &str, tag: &str) -> i64 {
        self.start_run_with(pipeline, tag, serde_json::json!({}))
            .await
    }

    /// Starts a run of `pipeline` with run-time `params` (a JSON object); its id.
    pub async fn start_run_with(
        &self,
        pipeline: &str,
        tag: &str,
        params: serde_json::Value,
    ) -> i64 {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/pipelines/{pipeline}/runs")))
            .json(&serde_json::json!({ "tag": tag, "params": params }))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(status, 201, "run failed to start: {body}");
        body["id"].as_i64().expect("run id")
    }

    /// Opens the run's event stream (optionally resuming after an id).
    pub async fn events(&self, run: i64, last_event_id: Option<i64>) -> SseReader {
        let mut request = self
            .client
            .get(self.url(&format!("/api/v1/runs/{run}/events")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("events request");
        assert_eq!(response.status(), 200);
        SseReader::new(response)
    }

    /// Every event of a run from the start to its end.
    pub async fn all_events(&self, run: i64) -> Vec<SseEvent> {
        self.events(run, None).await.until_end().await
    }

    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the server as a signal would, and hands back its data directory.
    pub async fn stop_keeping_data(mut self) -> TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
        self.data_dir
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: i64,
    pub name: String,
    pub event: RunEvent,
}

pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    /// Lines of a `logs` batch not handed out yet, one event each.
    lines: std::collections::VecDeque<SseEvent>,
    /// Each step's next line number: batches must number lines without a gap.
    numbers: std::collections::HashMap<String, u64>,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            lines: Default::default(),
            numbers: Default::default(),
        }
    }

    /// The next event, a `logs` batch handed out line by line as `log` events (comments
    /// such as keep-alives are skipped); None when the stream ends.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Some(line);
            }
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, String::from("message"), String::new());
                for line in frame.lines() {
                    if let Some(value) = line
                        .strip_prefix("id: ")
                        .or_else(|| line.strip_prefix("id:"))
                    {
                        id = value.trim().parse::<i64>().ok();
                    } else if let Some(value) = line
                        .strip_prefix("event: ")
                        .or_else(|| line.strip_prefix("event:"))
                    {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line
                        .strip_prefix("data: ")
                        .or_else(|| line.strip_prefix("data:"))
                    {
                        data.push_str(value);
                    }
                }
                if data.is_empty() {
                    continue;
                }
                if name == "logs" {
                    let batch: conveyor_core::run::LogBatch =
                        serde_json::from_str(&data).expect("logs data is a LogBatch");
                    assert!(!batch.lines.is_empty(), "an empty batch: {data}");
                    assert_eq!(
                        id,
                        Some(batch.last_seq()),
                        "the SSE id is the batch's last seq"
                    );
                    if let Some(next) = self.numbers.get(&batch.step) {
                        assert_eq!(batch.line, *next, "line numbers go on without a gap");
                    }
                    self.numbers
                        .insert(batch.step.clone(), batch.line + batch.lines.len() as u64);
                    self.lines.extend(batch.into_events().map(|event| SseEvent {
                        id: event.seq,
                        name: "log".into(),
                        event,
                    }));
                    continue;
                }
                let event: RunEvent =
                    serde_json::from_str(&data).expect("event data is a RunEvent");
                let id = id.expect("every event has an id");
                assert_eq!(id, event.seq, "the SSE id is the event's seq");
                return Some(SseEvent { id, name, event });
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(err)) => panic!("event stream broke: {err}"),
                None => return None,
            }
        }
    }

    /// Reads until the final `end` event (inclusive) and checks that the stream then closes.
    pub async fn until_end(mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let end = event.name == "end";
            events.push(event);
            if end {
                assert!(self.next().await.is_none(), "nothing follows the end event");
                return events;
            }
        }
        panic!(
            "stream closed before the end event; got {} events",
            events.len()
        );
    }

    /// Reads until an event matches, returning everything read so far.
    pub async fn until(&mut self, mut wanted: impl FnMut(&SseEvent) -> bool) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let found = wanted(&event);
            events.push(event);
            if found {
                return events;
            }
        }
        panic!("stream ended before the awaited event; got {events:?}");
    }
}

/// Sends a request; its status and JSON body (`null` when the body is not JSON).
pub async fn send_json(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// The run ids of a page of runs, in its order.
pub fn run_ids(page: &serde_json::Value) -> Vec<i64> {
    page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}

impl TestApp {
    /// A server whose workflows run on the local engine: built by this host's podman,
    /// deployed by this build's `conveyor deploy-manifest` to the API double.
    pub async fn local_deploying_to(cluster: &fake_kube::FakeCluster) -> TestApp {
        TestApp::spawn_with(|config| {
            config.engine = conveyor_core::definition::EngineKind::Local;
            config.kubeconfig = Some(cluster.kubeconfig.clone());
            config.tekton_namespace = cluster.namespace.clone();
            config.self_exe = Some(env!("CARGO_BIN_EXE_conveyor").into());
        })
        .await
    }
}

/// The log lines of a step, in order.
pub fn logs(events: &[SseEvent], step: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Log { step: s, text, .. } if s == step => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The statuses a step went through, in order.
pub fn step_statuses(events: &[SseEvent], step: &str) -> Vec<StepStatus> {
    events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Step {
                step: s, status, ..
            } if s == step => Some(*status),
            _ => None,
        })
        .collect()
}

/// The run's final status and message (the last event).
pub fn outcome(events: &[SseEvent]) -> (RunStatus, Option<String>) {
    match &events.last().expect("events").event.body {
        EventBody::Run { status, message } => (*status, message.clone()),
        other => panic!("last event is not the run's end: {other:?}"),
    }
}

/// Seq of the event where a step reached a status.
pub fn seq_of(events: &[SseEvent], step: &str, wanted: StepStatus) -> i64 {
    events
        .iter()
        .find(|e| matches!(&e.event.body, EventBody::Step { step: s, status, .. } if s == step && *status == wanted))
        .unwrap_or_else(|| panic!("{step} never became {wanted}"))
        .id
}

/// A pipeline whose `ship` fails on its first attempt and succeeds on any later one in the
/// same workspace: a re-run of the failed steps passes only if it ran in the earlier run's
/// files (where `compile` left its artifact, once).
pub fn fails_once_per_workspace(name: &str) -> String {
    format!(
        "
name: {name}
stages:
  - name: build
    steps:
      - {{name: compile, script: 'echo built >> \"$CONVEYOR_WORKSPACE/artifact\"; echo compiled'}}
  - name: deploy
    steps:
      - {{name: ship, script: 'if [ -f \"$CONVEYOR_WORKSPACE/tried\" ]; then echo \"shipping $(cat \"$CONVEYOR_WORKSPACE/artifact\")\"; else touch \"$CONVEYOR_WORKSPACE/tried\"; echo not yet; exit 1; fi'}}
      - {{name: notify, script: 'echo notified'}}
"
    )
}
