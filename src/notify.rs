//! Webhook delivery. A step's `webhooks` name the events they want (`STARTED`, `SUCCEEDED`,
//! …); when the supervisor has recorded such a change it hands a [`Notice`] over here, and
//! it is POSTed as JSON off the run's path: a slow or dead receiver never holds up a run.
//! Failed calls (network errors, 5xx, 429) are retried; each call's outcome is recorded and
//! shown with the run. Only `scheme://host` of a URL is ever logged or stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use conveyor_core::dto::WebhookDelivery;
use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::task::{task_tracker::TaskTrackerToken, TaskTracker};

use crate::metrics::Metrics;
use crate::store::{now_ms, Store};

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Per attempt, connection to last byte.
    pub timeout: Duration,
    /// Waits before the 2nd, 3rd… attempt; its length + 1 is the number of attempts.
    pub retry_delays: Vec<Duration>,
    /// Calls in flight at once, across all runs.
    pub max_in_flight: usize,
    /// Notices waiting beyond this are dropped (and logged): delivery never blocks a run.
    pub queue: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(10),
            retry_delays: vec![Duration::from_secs(1), Duration::from_secs(10)],
            max_in_flight: 8,
            queue: 4096,
        }
    }
}

/// One call to make.
#[derive(Debug, Clone)]
pub struct Notice {
    pub run_id: i64,
    pub step: String,
    pub event: &'static str,
    pub url: String,
    pub payload: serde_json::Value,
    /// Signs the call when its webhook names a secret.
    pub signing_key: Option<SigningKey>,
    /// A header that authorizes the call (a forge's API token).
    pub authorization: Option<AuthHeader>,
    /// Calls queued with the same key are made one after another, in the order queued
    /// (a commit's statuses: a retried `pending` must never land after `success`).
    pub in_order: Option<String>,
}

/// A header carrying a credential. Its `Debug` shows its name only.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub name: &'static str,
    pub value: String,
}

impl std::fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthHeader({}: ..)", self.name)
    }
}

/// A webhook's signing secret. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(pub String);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// The headers a signed call carries: `X-Conveyor-Timestamp` (Unix seconds) and
/// `X-Conveyor-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed with the
/// hook's secret. A receiver recomputes it, compares in constant time, and refuses old
/// timestamps (replays).
pub fn signature(key: &SigningKey, timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.0.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone)]
pub struct Webhooks {
    /// Each queued call holds a token of the tracker until it is recorded, so waiting on
    /// the tracker also waits for calls still in the queue.
    queue: mpsc::Sender<(Notice, TaskTrackerToken)>,
    tracker: TaskTracker,
}

impl Webhooks {
    /// Starts the delivery worker; each call, from the moment it is queued until it is
    /// recorded, is tracked by `tracker` so shutdown can wait for it.
    pub fn start(
        store: Store,
        config: WebhookConfig,
        tracker: TaskTracker,
        metrics: Arc<Metrics>,
    ) -> Webhooks {
        let (queue, mut notices) = mpsc::channel::<(Notice, TaskTrackerToken)>(config.queue.max(1));
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("conveyor/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let slots = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        let config = Arc::new(config);
        tokio::spawn(async move {
            // By ordering key: the end of the last call queued with it.
            let mut chains: HashMap<String, oneshot::Receiver<()>> = HashMap::new();
            while let Some((notice, token)) = notices.recv().await {
                // Chains whose last call has ended are done with.
                chains.retain(|_, ended| matches!(ended.try_recv(), Err(TryRecvError::Empty)));
                let (done, ended) = oneshot::channel();
                let earlier = notice
                    .in_order
                    .clone()
                    .and_then(|key| chains.insert(key, ended));
                // A call takes its slot here (all taken: the queue waits), unless it waits for
                // an earlier one: then once that has ended, so that waiting holds no slot.
                let slot = match earlier {
                    Some(_) => None,
                    None => match slots.clone().acquire_owned().await {
                        Ok(slot) => Some(slot),
                        Err(_) => break,
                    },
                };
                let (client, config, store) = (client.clone(), config.clone(), store.clone());
                let (metrics, slots) = (metrics.clone(), slots.clone());
                tokio::spawn(async move {
                    if let Some(earlier) = earlier {
                        // Ended or dropped: either way it is out of the way.
                        let _ = earlier.await;
                    }
                    let slot = match slot {
                        Some(slot) => slot,
                        None => match slots.acquire_owned().await {
                            Ok(slot) => slot,
                            Err(_) => return,
                        },
                    };
                    let delivery = deliver(&client, &config, &notice).await;
                    let _ = done.send(());
                    drop(slot);
                    metrics.webhook_call(match (delivery.ok, delivery.status_code) {
                        (true, _) => "delivered",
                        (false, Some(_)) => "failed",
                        (false, None) => "error",
                    });
                    if !delivery.ok {
                        tracing::warn!(run = notice.run_id, step = %notice.step, event = notice.event,
                            target = %delivery.target, attempts = delivery.attempts,
                            error = delivery.error.as_deref().unwrap_or(""), "webhook delivery failed");
                    }
                    if let Err(err) = store.record_delivery(notice.run_id, &delivery).await {
                        tracing::warn!(run = notice.run_id, error = %err, "could not record a webhook delivery");
                    }
                    drop(token);
                });
            }
        });
        Webhooks { queue, tracker }
    }

    /// Queues a call; never waits.
    pub fn notify(&self, notice: Notice) {
        if let Err(err) = self.queue.try_send((notice, self.tracker.token())) {
            let (notice, _) = err.into_inner();
            tracing::warn!(run = notice.run_id, step = %notice.step, target = %target_of(&notice.url),
                "webhook queue full or closed; call dropped");
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    config: &WebhookConfig,
    notice: &Notice,
) -> WebhookDelivery {
    let mut delivery = WebhookDelivery {
        step: notice.step.clone(),
        event: notice.event.to_owned(),
        target: target_of(&notice.url),
        attempts: 0,
        status_code: None,
        error: None,
        ok: false,
        at: 0,
    };
    let body = serde_json::to_vec(&notice.payload).unwrap_or_default();
    let mut delays = config.retry_delays.iter();
    loop {
        delivery.attempts += 1;
        let mut request = client
            .post(&notice.url)
            .header("X-Conveyor-Event", notice.event)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(auth) = &notice.authorization {
            request = request.header(auth.name, &auth.value);
        }
        if let Some(key) = &notice.signing_key {
            // Signed afresh on each attempt: a retry carries its own time.
            let timestamp = now_ms() / 1000;
            request = request
                .header("X-Conveyor-Timestamp", timestamp.to_string())
                .header("X-Conveyor-Signature", signature(key, timestamp, &body));
        }
        let sent = request.body(body.clone()).send().await;
        let retry = match sent {
            Ok(response) => {
                let status = response.status();
                delivery.status_code = Some(status.as_u16());
                delivery.ok = status.is_success();
                delivery.error = (!delivery.ok).then(|| format!("answered {status}"));
                status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Err(err) => {
                delivery.status_code = None;
                // The error must not carry the URL: its path may hold a token.
                delivery.error = Some(error_text(&err.without_url()));
                true
            }
        };
        match delays.next() {
            Some(delay) if retry => tokio::time::sleep(*delay).await,
            _ => break,
        }
    }
    delivery.at = now_ms();
    delivery
}

/// The error and its causes, one sentence.
pub(crate) fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `scheme://host[:port]` of a URL: what may be shown and logged.
pub fn target_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("");
            match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        Err(_) => "(invalid URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::target_of;

    #[test]
    fn targets_keep_no_path_query_or_credentials() {
        assert_eq!(
            target_of("https://open.feishu.cn/open-apis/bot/v2/hook/83bde95c?x=1"),
            "https://open.feishu.cn"
        );
        assert_eq!(
            target_of("http://user:secret@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(target_of("not a url"), "(invalid URL)");
    }
}
