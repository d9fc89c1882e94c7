//! A step's output, read as it comes: cut into lines (secrets masked) and sent to the
//! supervisor one read at a time, as far as the step's log budget goes.

use std::sync::atomic::{AtomicU64, Ordering};

use conveyor_core::run::LogStream;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RunContext;
use crate::engine::lines::LineSplitter;
use crate::engine::EngineEvent;

/// Reads one output of a step to its end; true when it was still open `drain_grace` after
/// the step's processes ended (and was given up on).
pub(super) async fn pump(
    context: &RunContext,
    step: usize,
    stream: LogStream,
    output: Option<impl AsyncRead + Unpin>,
    budget: &AtomicU64,
    dropped: &AtomicU64,
    exited: &CancellationToken,
) -> bool {
    let Some(output) = output else { return false };
    let events = &context.events;
    let mut reader = BufReader::with_capacity(64 * 1024, output);
    let mut pieces = LineSplitter::masking(
        context.config.max_line_bytes.max(16),
        context.run.secrets.masker(),
    );
    let give_up = async {
        exited.cancelled().await;
        tokio::time::sleep(context.config.drain_grace).await;
    };
    tokio::pin!(give_up);
    let mut still_open = false;
    loop {
        let chunk = tokio::select! {
            biased;
            read = reader.fill_buf() => match read {
                Ok([]) | Err(_) => break,
                Ok(chunk) => chunk,
            },
            () = &mut give_up => {
                still_open = true;
                break;
            }
        };
        let consumed = chunk.len();
        let lines = pieces.push(chunk);
        reader.consume(consumed);
        if !send_lines(events, step, stream, lines, budget, dropped).await {
            return false;
        }
    }
    if let Some(last) = pieces.finish() {
        send_lines(events, step, stream, vec![last], budget, dropped).await;
    }
    still_open
}

/// Sends the lines one read gave, as far as the step's log budget goes; false when nobody
/// listens any more.
async fn send_lines(
    events: &mpsc::Sender<EngineEvent>,
    step: usize,
    stream: LogStream,
    mut lines: Vec<(String, bool)>,
    budget: &AtomicU64,
    dropped: &AtomicU64,
) -> bool {
    let size: u64 = lines.iter().map(|(text, _)| text.len() as u64 + 1).sum();
    if budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(size)
        })
        .is_err()
    {
        // Over the budget: line by line, as far as it goes.
        let mut kept = 0;
        for (text, _) in &lines {
            let size = text.len() as u64 + 1;
            let fits = budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(size)
                })
                .is_ok();
            if !fits {
                break;
            }
            kept += 1;
        }
        let over: u64 = lines[kept..]
            .iter()
            .map(|(text, _)| text.len() as u64 + 1)
            .sum();
        dropped.fetch_add(over, Ordering::Relaxed);
        lines.truncate(kept);
    }
    if lines.is_empty() {
        return true;
    }
    events
        .send(EngineEvent::Lines {
            step,
            stream,
            lines,
        })
        .await
        .is_ok()
}
