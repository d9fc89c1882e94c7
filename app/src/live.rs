//! Live run updates in the browser: an EventSource on the run's SSE stream feeds the run,
//! step and log signals. It is closed when the run ends or the view is cleaned up. The
//! browser resumes with `Last-Event-ID` by itself after a dropped connection.

use leptos::prelude::*;

use conveyor_core::dto::{LogLine, PipelineSummary, RunSummary};
use conveyor_core::run::{EventBody, LogBatch, RunEvent, RunStatus, StepState, StepStatus};

/// What one SSE message of a run's stream carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Event(RunEvent),
    Lines(LogBatch),
}

impl Incoming {
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn last_seq(&self) -> i64 {
        match self {
            Incoming::Event(event) => event.seq,
            Incoming::Lines(batch) => batch.last_seq(),
        }
    }
}

/// Folds what arrived into the page state: all log lines in one update (a replay of a long
/// log arrives in large bursts), step and run changes one by one. Lines carry their numbers.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn apply(
    incoming: Vec<Incoming>,
    run: RwSignal<RunSummary>,
    steps: RwSignal<Vec<StepState>>,
    lines: RwSignal<Vec<LogLine>>,
) {
    let mut new_lines = Vec::new();
    for item in incoming {
        let event =
            match item {
                Incoming::Lines(batch) => {
                    let (seq, line, step, stream) =
                        (batch.seq, batch.line, batch.step, batch.stream);
                    new_lines.extend(batch.lines.into_iter().enumerate().map(|(i, text)| {
                        LogLine {
                            seq: seq + i as i64,
                            step: step.clone(),
                            number: (line + i as u64) as usize,
                            stream,
                            text,
                        }
                    }));
                    continue;
                }
                Incoming::Event(event) => event,
            };
        match event.body {
            // Lines come in batches; a single line event is not sent any more.
            EventBody::Log { .. } => {}
            // `try_`: a flush may come after the page has gone (nothing to update then).
            EventBody::Step {
                step,
                status,
                exit_code,
                message,
            } => {
                _ = steps.try_update(|steps| {
                    if let Some(state) = steps.iter_mut().find(|s| s.name == step) {
                        state.apply(status, exit_code, message.as_deref(), event.ts);
                    }
                })
            }
            EventBody::Run { status, message } => {
                _ = run.try_update(|run| run.apply(status, message.as_deref(), event.ts))
            }
        }
    }
    if !new_lines.is_empty() {
        lines.try_update(|lines| lines.extend(new_lines));
    }
}

/// Reads one SSE message of a run's stream (`logs`, `step`, `run`, `end`). The event name says which kind it is, so each
/// kind is read as a plain struct: `RunEvent` itself is a flattened, tagged enum, and serde
/// buffers those through machinery that costs WASM.
pub fn decode_event(name: &str, data: &str) -> Option<Incoming> {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct StepData {
        seq: i64,
        ts: i64,
        step: String,
        status: StepStatus,
        exit_code: Option<i32>,
        message: Option<String>,
    }
    #[derive(Deserialize)]
    struct RunData {
        seq: i64,
        ts: i64,
        status: RunStatus,
        message: Option<String>,
    }

    let (seq, ts, body) = match name {
        "logs" => return serde_json::from_str(data).ok().map(Incoming::Lines),
        "step" => {
            let d: StepData = serde_json::from_str(data).ok()?;
            (
                d.seq,
                d.ts,
                EventBody::Step {
                    step: d.step,
                    status: d.status,
                    exit_code: d.exit_code,
                    message: d.message,
                },
            )
        }
        "run" | "end" => {
            let d: RunData = serde_json::from_str(data).ok()?;
            (
                d.seq,
                d.ts,
                EventBody::Run {
                    status: d.status,
                    message: d.message,
                },
            )
        }
        _ => return None,
    };
    Some(Incoming::Event(RunEvent { seq, ts, body }))
}

/// Starts following a run (in the browser only; on the server this does nothing).
pub fn follow_run(
    run_id: i64,
    run: RwSignal<RunSummary>,
    steps: RwSignal<Vec<StepState>>,
    lines: RwSignal<Vec<LogLine>>,
) {
    #[cfg(feature = "hydrate")]
    {
        use std::cell::RefCell;
        use std::rc::Rc;

        use futures::StreamExt;
        use gloo_net::eventsource::futures::EventSource;
        use send_wrapper::SendWrapper;

        Effect::new(move |started: Option<()>| {
            if started.is_some() {
                return;
            }
            let Ok(mut source) = EventSource::new(&format!("/api/v1/runs/{run_id}/events")) else {
                return;
            };
            let subscriptions: Vec<_> = ["logs", "step", "run", "end"]
                .into_iter()
                .filter_map(|name| source.subscribe(name).ok())
                .collect();
            let holder = Rc::new(RefCell::new(Some(source)));
            let cleanup_holder = SendWrapper::new(holder.clone());
            on_cleanup(move || {
                if let Some(source) = cleanup_holder.borrow_mut().take() {
                    source.close();
                }
            });
            leptos::task::spawn_local(async move {
                use std::time::Duration;

                // The browser hands over one SSE message per task, so a replay of a long
                // log would redraw the page once per line. Events are gathered instead and
                // shown at most every 50 ms (and at once when the run ends).
                struct Pending {
                    events: Vec<Incoming>,
                    scheduled: bool,
                }
                let pending = Rc::new(RefCell::new(Pending {
                    events: Vec::new(),
                    scheduled: false,
                }));
                let flush = move |pending: &Rc<RefCell<Pending>>| {
                    let mut state = pending.borrow_mut();
                    state.scheduled = false;
                    let batch = std::mem::take(&mut state.events);
                    apply(batch, run, steps, lines);
                };
                let mut events = futures::stream::select_all(subscriptions);
                let mut last_seq = 0;
                while let Some(item) = events.next().await {
                    let Ok((name, message)) = item else { continue };
                    let Some(data) = message.data().as_string() else {
                        continue;
                    };
                    let Some(event) = decode_event(&name, &data) else {
                        continue;
                    };
                    // A resumed stream starts after the last id the browser saw: nothing
                    // arrives twice, but a duplicate would be skipped here.
                    if event.last_seq() <= last_seq {
                        continue;
                    }
                    last_seq = event.last_seq();
                    pending.borrow_mut().events.push(event);
                    if name == "end" {
                        flush(&pending);
                        if let Some(source) = holder.borrow_mut().take() {
                            source.close();
                        }
                        break;
                    }
                    if !pending.borrow().scheduled {
                        pending.borrow_mut().scheduled = true;
                        let later = pending.clone();
                        set_timeout(move || flush(&later), Duration::from_millis(50));
                    }
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (run_id, run, steps, lines);
}

/// Keeps the dashboard's rows live from the server's run-change feed (in the browser only).
/// A run of a pipeline not on the page, or a feed that fell behind, reloads the rows.
pub fn follow_changes(rows: RwSignal<Vec<PipelineSummary>>, live: RwSignal<bool>) {
    #[cfg(feature = "hydrate")]
    {
        use futures::StreamExt;
        use gloo_net::eventsource::futures::EventSource;
        use send_wrapper::SendWrapper;

        Effect::new(move |started: Option<()>| {
            if started.is_some() {
                return;
            }
            let Ok(mut source) = EventSource::new("/api/v1/changes") else {
                return;
            };
            let subscriptions: Vec<_> = ["ready", "run", "resync"]
                .into_iter()
                .filter_map(|name| source.subscribe(name).ok())
                .collect();
            let source = SendWrapper::new(source);
            on_cleanup(move || source.take().close());
            leptos::task::spawn_local(async move {
                let reload = || async move {
                    if let Ok(list) = crate::api::list_pipelines().await {
                        rows.try_set(list);
                    }
                };
                let mut events = futures::stream::select_all(subscriptions);
                let mut connected_before = false;
                while let Some(item) = events.next().await {
                    let Ok((name, message)) = item else {
                        live.try_set(false);
                        continue;
                    };
                    if name == "ready" {
                        // Reconnected: whatever happened while away is read again.
                        if std::mem::replace(&mut connected_before, true) {
                            reload().await;
                        }
                        live.try_set(true);
                        continue;
                    }
                    let applied = name == "run"
                        && message
                            .data()
                            .as_string()
                            .and_then(|data| serde_json::from_str::<RunSummary>(&data).ok())
                            .is_some_and(|run| {
                                rows.try_update(|rows| {
                                    conveyor_core::dto::apply_run_change(rows, run)
                                })
                                .unwrap_or(true)
                            });
                    if !applied {
                        reload().await;
                    }
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (rows, live);
}
