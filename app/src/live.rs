//! Live run updates in the browser: an EventSource on the run's SSE stream feeds the run,
//! step and log signals. It is closed when the run ends or the view is cleaned up. The
//! browser resumes with `Last-Event-ID` by itself after a dropped connection.

use leptos::prelude::*;

use crate::model::{EventBody, LogStream, RunEvent, RunSummary, StepState, StepStatus};

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub seq: i64,
    pub step: String,
    /// 1-based, within its step: what `#step-<name>-L<n>` links point at.
    pub number: usize,
    pub stream: LogStream,
    pub text: String,
}

/// Folds one event into the page state; `counts` numbers each step's lines.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn apply(
    event: RunEvent,
    run: RwSignal<RunSummary>,
    steps: RwSignal<Vec<StepState>>,
    lines: RwSignal<Vec<LogLine>>,
    counts: &mut std::collections::HashMap<String, usize>,
) {
    match event.body {
        EventBody::Log { step, stream, text, .. } => {
            let number = counts.entry(step.clone()).or_insert(0);
            *number += 1;
            let number = *number;
            lines.update(|lines| lines.push(LogLine { seq: event.seq, step, number, stream, text }));
        }
        EventBody::Step { step, status, exit_code, message } => steps.update(|steps| {
            if let Some(state) = steps.iter_mut().find(|s| s.name == step) {
                state.status = status;
                state.exit_code = exit_code.or(state.exit_code);
                state.message = message.or(state.message.take());
                if status == StepStatus::Running {
                    state.started_at = Some(event.ts);
                }
                if status.is_terminal() {
                    state.finished_at = Some(event.ts);
                    state.started_at.get_or_insert(event.ts);
                }
            }
        }),
        EventBody::Run { status, message } => run.update(|run| {
            run.status = status;
            if message.is_some() {
                run.message = message;
            }
            run.started_at.get_or_insert(event.ts);
            if status.is_terminal() {
                run.finished_at = Some(event.ts);
            }
        }),
    }
}

/// Starts following a run (in the browser only; on the server this does nothing).
pub fn follow_run(run_id: i64, run: RwSignal<RunSummary>, steps: RwSignal<Vec<StepState>>, lines: RwSignal<Vec<LogLine>>) {
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
            let subscriptions: Vec<_> = ["log", "step", "run", "end"]
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
                let mut events = futures::stream::select_all(subscriptions);
                let mut last_seq = 0;
                let mut counts = std::collections::HashMap::new();
                while let Some(item) = events.next().await {
                    let Ok((name, message)) = item else { continue };
                    let Some(data) = message.data().as_string() else { continue };
                    let Ok(event) = serde_json::from_str::<RunEvent>(&data) else { continue };
                    if event.seq <= last_seq {
                        continue;
                    }
                    last_seq = event.seq;
                    apply(event, run, steps, lines, &mut counts);
                    if name == "end" {
                        if let Some(source) = holder.borrow_mut().take() {
                            source.close();
                        }
                        break;
                    }
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (run_id, run, steps, lines);
}
