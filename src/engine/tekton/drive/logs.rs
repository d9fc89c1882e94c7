//! Each step's container log, read with `follow` from where the record ends and recorded
//! line by line (so logs outlive pods); a final status waits until its log is read.

use std::time::Duration;

use conveyor_core::run::LogStream;
use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::Api;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Driver;
use crate::engine::lines::{LineSplitter, MAX_LINE_BYTES};
use crate::engine::EngineEvent;

/// Before reopening a step's log whose stream ended while its container still ran.
const LOG_REOPEN_DELAY: Duration = Duration::from_millis(500);
/// Reopens of one step's log before giving up on the rest of it (its status still comes).
const LOG_REOPEN_MAX: u32 = 10;

#[derive(Debug, Default)]
pub(super) enum LogState {
    #[default]
    NotStarted,
    Streaming(JoinHandle<()>),
    /// The stream ended (the count is in the step's `lines`).
    Ended,
}

/// A log stream's report to the driver.
pub(super) struct LogEnd {
    step: usize,
    lines: u64,
}

impl Driver {
    /// Follows a step's container log from where the record ends.
    pub(super) fn stream_log(&mut self, step: usize, delay: Duration) {
        let Some(pod) = self.tracks[step].pod.clone() else {
            return;
        };
        let container = format!(
            "step-{}",
            conveyor_core::definition::kubernetes_name(self.run.step_name(step))
        );
        let (pods, events, done, skip) = (
            self.pods.clone(),
            self.events.clone(),
            self.logs_tx.clone(),
            self.tracks[step].lines,
        );
        let masker = self.run.secrets.masker();
        let task = tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let splitter = LineSplitter::masking(MAX_LINE_BYTES, masker);
            let lines = read_log(&pods, &pod, &container, step, skip, &events, splitter).await;
            let _ = done.send(LogEnd { step, lines });
        });
        self.tracks[step].log = LogState::Streaming(task);
    }

    pub(super) async fn log_ended(&mut self, end: LogEnd) {
        let step = end.step;
        self.tracks[step].lines = end.lines;
        self.tracks[step].log = LogState::Ended;
        if let Some((status, exit_code, message)) = self.tracks[step].held.take() {
            self.set(step, status, exit_code, message).await;
        } else if !self.tracks[step].container_ended
            && !self.schedule.status(step).is_terminal()
            && self.tracks[step].reopened < LOG_REOPEN_MAX
        {
            // The stream broke while the container still runs: pick up where it stopped.
            self.tracks[step].reopened += 1;
            self.stream_log(step, LOG_REOPEN_DELAY);
        }
    }
}

/// Reads one container's log to its end (follow), skipping the first `skip` pieces that are
/// already on record; returns how many pieces the log has in all.
async fn read_log(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    step: usize,
    skip: u64,
    events: &mpsc::Sender<EngineEvent>,
    mut splitter: LineSplitter,
) -> u64 {
    let params = LogParams {
        container: Some(container.to_owned()),
        follow: true,
        ..Default::default()
    };
    let mut count = 0u64;
    let mut attempt = 0u32;
    let mut reader = loop {
        match pods.log_stream(pod, &params).await {
            Ok(reader) => break Box::pin(reader),
            // 400: the container is still waiting to start.
            Err(kube::Error::Api(status)) if status.code == 400 && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
            }
            Err(err) => {
                let text = format!("could not read the log of {container} in pod {pod}: {err}");
                let _ = events
                    .send(EngineEvent::Log {
                        step,
                        stream: LogStream::System,
                        text,
                        partial: false,
                    })
                    .await;
                return skip;
            }
        }
    };
    // A read's lines go to the supervisor at once, past those already on record.
    let mut emit = |pieces: Vec<(String, bool)>| {
        let fresh: Vec<(String, bool)> = pieces
            .into_iter()
            .filter(|_| {
                count += 1;
                count > skip
            })
            .collect();
        (!fresh.is_empty()).then_some(EngineEvent::Lines {
            step,
            stream: LogStream::Stdout,
            lines: fresh,
        })
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let length = chunk.len();
        let pieces = splitter.push(chunk);
        reader.consume_unpin(length);
        if let Some(event) = emit(pieces) {
            if events.send(event).await.is_err() {
                return count;
            }
        }
    }
    if let Some(event) = emit(splitter.finish().into_iter().collect()) {
        let _ = events.send(event).await;
    }
    count.max(skip)
}
