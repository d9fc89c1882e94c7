//! A run: its status and controls, steps, stage graph, live log and webhook calls.

use conveyor_core::dto::{GateDecision, LogLine, WebhookDelivery};
use conveyor_core::format::{format_duration, format_time};
use conveyor_core::graph::{GraphInput, Pick};
use conveyor_core::run::{RunStatus, StepStatus};
use conveyor_core::search::{Needle, SearchPage, MIN_QUERY};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::dto::{RunAct, RunPageData};
use crate::api::{get_run, search_logs, RunControl};
use crate::live::follow_run;
use crate::ui::form::{action_error, error_text, post_form, Fields};
use crate::ui::graph::StageGraph;
use crate::ui::hits::marked;
use crate::ui::log_viewer::LogViewer;
use crate::ui::status::status_badge;

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(
        move || {
            params
                .read()
                .get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        },
        get_run,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <RunView detail/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunView(detail: RunPageData) -> impl IntoView {
    let run_id = detail.run.id;
    let run = RwSignal::new(detail.run.clone());
    let steps = RwSignal::new(detail.steps.clone());
    let lines: RwSignal<Vec<LogLine>> = RwSignal::new(Vec::new());
    let tail = detail.log_tail;
    let tail_len = tail.len();
    follow_run(run_id, run, steps, lines);
    let selected: RwSignal<Option<String>> = RwSignal::new(None);
    let search = RwSignal::new(String::new());
    // The lines a step pick or a search leaves, as indices (`None`: all of them, without
    // building a million-entry list).
    let shown: Memo<Option<Vec<usize>>> = Memo::new(move |_| {
        let filter = selected.get();
        let needle = Needle::new(&search.get());
        if filter.is_none() && needle.is_empty() {
            return None;
        }
        Some(lines.with(|lines| {
            lines
                .iter()
                .enumerate()
                .filter(|(_, line)| filter.as_ref().is_none_or(|s| *s == line.step))
                .filter(|(_, line)| needle.is_empty() || needle.is_in(&line.text))
                .map(|(i, _)| i)
                .collect()
        }))
    });
    let viewer = LogViewer::new(lines, shown);
    // The same search over the whole stored log (not only the lines loaded so far).
    let whole = Resource::new(
        move || search.get(),
        move |needle| async move {
            if needle.len() < MIN_QUERY {
                return Ok(None);
            }
            let params = [
                ("q", needle),
                ("run", run_id.to_string()),
                ("limit", WHOLE_LOG_HITS.to_string()),
            ];
            search_logs(params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                .await
                .map(Some)
        },
    );
    let control = ServerAction::<RunControl>::new();
    let pipeline = detail.run.pipeline.clone();
    let gates = detail.gates.clone();
    let me = crate::viewer::viewer().principal();
    let started_by = detail.run.started_by.clone();
    let graph = move || GraphInput::from_steps(&steps.read());
    view! {
        <Title text=format!("{} #{} · Conveyor", pipeline, detail.run.number)/>
        <div class="page-head">
            <h1>
                <a href=format!("/pipelines/{pipeline}")>{pipeline.clone()}</a>
                {format!(" #{}", detail.run.number)}
            </h1>
            <span id="run-status">{move || status_badge(run.read().status)}</span>
            {move || run.read().queue_place.map(|place| {
                let ahead = match place {
                    1 => "next to start, when the run in flight ends".to_owned(),
                    n => format!("{} queued runs of this pipeline start before it", n - 1),
                };
                view! { <span class="muted" id="run-queue-place" title="runs of a pipeline start one at a time, in order">{ahead}</span> }
            })}
            <span class="muted">"tag " <code>{detail.run.tag.clone()}</code></span>
            <span class="muted">{format!("version {}", detail.run.version)}</span>
            {detail.run.started_by.clone().map(|by| view! {
                <span class="muted" id="run-started-by">"started by " <strong>{by}</strong></span>
            })}
            {detail.run.commit.clone().map(|c| {
                let short: String = c.sha.chars().take(8).collect();
                let place = match (c.pull_request, &c.branch) {
                    (Some(n), _) => format!("PR #{n}"),
                    (None, Some(branch)) => branch.clone(),
                    (None, None) => c.git_ref.clone(),
                };
                let title = c.message.as_deref().and_then(|m| m.lines().next()).unwrap_or_default().to_owned();
                let by = c.author.clone().map(|a| format!(" by {a}")).unwrap_or_default();
                let sha = match c.url.clone() {
                    Some(url) => view! { <a href=url rel="external noopener" target="_blank"><code>{short}</code></a> }.into_any(),
                    None => view! { <code>{short}</code> }.into_any(),
                };
                view! {
                    <span class="muted" id="run-commit" title=c.sha.clone()>
                        {place} " @ " {sha} {by} {(!title.is_empty()).then(|| format!(": {title}"))}
                    </span>
                }
            })}
            {detail.image.clone().map(|image| {
                let short = conveyor_core::format::short_image(&image);
                view! {
                    <span class="muted" id="run-image" title=image>"pushed " <code>{short}</code></span>
                }
            })}
            <span class="muted" id="run-engine" title="where this run's steps ran">
                "engine " <code>{detail.run.engine.clone()}</code>
            </span>
            <span class="muted">
                {move || {
                    let r = run.read();
                    r.duration_ms().map(|d| format!("took {}", format_duration(d))).unwrap_or_default()
                }}
            </span>
            <Show
                when=move || !run.read().status.is_terminal()
                fallback=move || {
                    let failed = run.read().status != RunStatus::Succeeded;
                    view! {
                        {control_form(control, run_id, RunAct::Rerun, None, view! {
                            <button type="submit" id="rerun" title="Run the same tag and params again">"Re-run"</button>
                        })}
                        {failed.then(|| view! {
                            {control_form(control, run_id, RunAct::RetryFailed, None, view! {
                                <button
                                    type="submit"
                                    id="retry-failed"
                                    title="Run again only the steps that did not succeed, in this run's workspace"
                                >
                                    "Re-run failed steps"
                                </button>
                            })}
                        })}
                    }
                }
            >
                {control_form(control, run_id, RunAct::Cancel, None, view! {
                    <button type="submit" class="danger">"Cancel"</button>
                })}
            </Show>
            <a href=format!("/api/v1/runs/{run_id}/log") download>"Raw log"</a>
        </div>
        {move || run.read().message.clone().map(|m| view! { <p class="muted">{m}</p> })}
        {action_error(control)}
        <div class="split">
            <section class="card">
                <h2>"Steps"</h2>
                <table class="table steps" id="steps">
                    <tbody>
                        {move || {
                            steps
                                .get()
                                .into_iter()
                                .map(|step| {
                                    let name = step.name.clone();
                                    let pick = name.clone();
                                    let (approve_step, refuse_step) = (name.clone(), name.clone());
                                    let waiting = step.status == StepStatus::WaitingApproval;
                                    let gate = gates.get(&name).cloned().unwrap_or_default();
                                    view! {
                                        <tr data-step=name.clone() data-status=step.status.as_str()>
                                            <td class="muted">{step.stage.clone()}</td>
                                            <td>
                                                <button class="link" on:click=move |_| selected.set(Some(pick.clone()))>
                                                    {name.clone()}
                                                </button>
                                            </td>
                                            <td>{status_badge(step.status)}</td>
                                            <td class="muted">
                                                {match (step.started_at, step.finished_at) {
                                                    (Some(s), Some(f)) => format_duration(f - s),
                                                    _ => String::new(),
                                                }}
                                            </td>
                                            <td class="muted">{step.message.clone().unwrap_or_default()}</td>
                                            <td>
                                                {waiting
                                                    .then(|| {
                                                        let may = |approve| match &me {
                                                            Some(me) => gate.may_decide(me, started_by.as_deref(), approve).err(),
                                                            None => Some("sign in to decide".to_owned()),
                                                        };
                                                        let (no_approve, no_refuse) = (may(true), may(false));
                                                        let who = (!gate.approvers.is_empty()).then(|| {
                                                            let eyes = if gate.four_eyes { " · not the one who started it" } else { "" };
                                                            view! { <small class="muted gate-who">{format!("approvers: {}{eyes}", gate.describe())}</small> }
                                                        });
                                                        view! {
                                                            {control_form(control, run_id, RunAct::Approve, Some(approve_step), view! {
                                                                <button type="submit" class="primary" disabled=no_approve.is_some() title=no_approve.clone()>"Approve"</button>
                                                            })}
                                                            {control_form(control, run_id, RunAct::Refuse, Some(refuse_step), view! {
                                                                <button type="submit" class="danger" disabled=no_refuse.is_some() title=no_refuse.clone()>"Refuse"</button>
                                                            })}
                                                            {who}
                                                            {no_approve.map(|why| view! { <small class="hint gate-why">{why}</small> })}
                                                        }
                                                    })}
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
                <Decisions decisions=detail.decisions.clone()/>
            </section>
            <section class="card">
                <h2>"Graph"</h2>
                {move || {
                    // Clicking a step shows its log alone.
                    let input = graph();
                    let names: Vec<String> = input.steps.iter().map(|s| s.name.clone()).collect();
                    let picked = selected.get().and_then(|name| names.iter().position(|n| *n == name)).map(Pick::Step);
                    let on_pick = Callback::new(move |(pick, _): (Pick, bool)| {
                        if let Pick::Step(index) = pick {
                            selected.set(names.get(index).cloned());
                        }
                    });
                    view! { <StageGraph input on_pick picked/> }
                }}
            </section>
        </div>
        <section class="card">
            <div class="log-head">
                <h2>"Log"</h2>
                {move || {
                    selected
                        .get()
                        .map(|step| {
                            view! {
                                <span class="muted">"step " <code>{step}</code></span>
                                <button class="link" on:click=move |_| selected.set(None)>"show all"</button>
                            }
                        })
                }}
            </div>
            <div class="log-tools">
                <input
                    type="search"
                    id="log-search"
                    data-filter
                    placeholder="Search the log ( / )"
                    aria-label="Search the log"
                    on:input=move |ev| search.set(event_target_value(&ev))
                />
                <span class="muted" id="log-count" aria-live="polite">
                    {move || {
                        let total = lines.with(Vec::len);
                        let shown = viewer.count();
                        match (total, tail_len) {
                            // Before the live log: the server's tail is what is shown.
                            (0, 1..) => format!("last {tail_len} lines"),
                            _ if shown == total => format!("{total} lines"),
                            _ => format!("{shown} of {total} lines"),
                        }
                    }}
                </span>
                <label class="muted">
                    <input
                        type="checkbox"
                        id="log-follow"
                        prop:checked=move || viewer.follow.get()
                        on:change=move |ev| {
                            viewer.follow.set(event_target_checked(&ev));
                            viewer.to_end();
                        }
                    />
                    " follow"
                </label>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match whole.await {
                        Ok(Some(found)) => whole_log_hits(found).into_any(),
                        Ok(None) => ().into_any(),
                        Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                    }
                })}
            </Transition>
            {viewer.view(tail)}
        </section>
        {(!detail.webhooks.is_empty()).then(|| view! { <WebhookTable deliveries=detail.webhooks.clone()/> })}
    }
}

/// One of the run page's buttons: a form of its own that posts `act` on run `id` (and, for
/// an approval or refusal, its step) to `run_control`.
fn control_form(
    action: ServerAction<RunControl>,
    id: i64,
    act: RunAct,
    step: Option<String>,
    button: impl IntoView,
) -> impl IntoView {
    let input = {
        let step = step.clone();
        move |_: &Fields| RunControl {
            id,
            act,
            step: step.clone(),
        }
    };
    post_form(
        action,
        None,
        input,
        view! {
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="act" value=act.as_str()/>
            {step.map(|step| view! { <input type="hidden" name="step" value=step/> })}
            {button}
        },
    )
}

/// Who decided the run's gates, and when (as recorded when the page was loaded; a decision
/// made since shows in its step's message).
#[component]
fn Decisions(decisions: Vec<GateDecision>) -> impl IntoView {
    (!decisions.is_empty()).then(|| {
        view! {
            <ul class="decisions" id="decisions">
                {decisions
                    .into_iter()
                    .map(|d| {
                        let what = if d.approved { "approved" } else { "refused" };
                        let step = d.step.clone();
                        view! {
                            <li data-step=step>
                                <code>{d.step}</code> {format!(" {what} by ")} <strong>{d.by}</strong>
                                <span class="muted">{format!(" · {}", format_time(d.at))}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
    })
}

/// The webhook calls a run made, as recorded when the page was loaded.
#[component]
fn WebhookTable(deliveries: Vec<WebhookDelivery>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Webhooks"</h2>
            <table class="table" id="webhooks">
                <thead>
                    <tr><th>"Step"</th><th>"Event"</th><th>"Target"</th><th>"Result"</th><th>"Attempts"</th><th>"At"</th></tr>
                </thead>
                <tbody>
                    {deliveries
                        .into_iter()
                        .map(|d| {
                            let result = match (d.ok, d.status_code, d.error) {
                                (true, Some(code), _) => format!("delivered ({code})"),
                                (_, _, Some(error)) => error,
                                _ => "failed".to_owned(),
                            };
                            view! {
                                <tr class=if d.ok { "ok" } else { "failed" }>
                                    <td><code>{d.step}</code></td>
                                    <td>{d.event}</td>
                                    <td><code>{d.target}</code></td>
                                    <td>{result}</td>
                                    <td>{d.attempts}</td>
                                    <td>{format_time(d.at)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Matches of the log search listed from the whole stored log, at most this many.
const WHOLE_LOG_HITS: u32 = 100;

/// The log search's matches in the whole stored log, each linked to its line.
fn whole_log_hits(found: SearchPage) -> impl IntoView {
    let count = found.hits.len();
    let summary = match (count, found.next.is_some(), found.partial) {
        (0, false, _) => "no match in the whole log".to_owned(),
        (1, false, _) => "1 match in the whole log".to_owned(),
        (n, false, _) => format!("{n} matches in the whole log"),
        (n, true, false) => {
            format!("the first {n} matches in the whole log (refine the search for the rest)")
        }
        (n, true, true) => {
            format!("{n} matches in the part of the log searched in time (refine the search)")
        }
    };
    let open = count > 0;
    view! {
        <details class="whole-log" id="log-search-whole" open=open>
            <summary class="muted">{summary}</summary>
            <ol class="search-hits compact">
                {found
                    .hits
                    .into_iter()
                    .map(|hit| {
                        let anchor = format!("#step-{}-L{}", hit.step, hit.line);
                        view! {
                            <li>
                                <a href=anchor>{format!("{} {}", hit.step, hit.line)}</a>
                                " "
                                <code>{marked(&hit.text, &hit.matches)}</code>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </details>
    }
}
