//! The dashboard's panel over a chosen window (7, 30 or 90 days, in the address): runs per
//! day, success rate, p50/p95 run duration, the slowest steps and the most often failing.

use conveyor_core::format::format_duration;
use conveyor_core::stats::{Stats, StepStats, WINDOWS};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::manage::load_stats;
use crate::ui::form::error_text;

#[component]
pub fn StatsPanel() -> impl IntoView {
    let query = use_query_map();
    let days = move || query.read().get("days");
    let stats = Resource::new(days, load_stats);
    view! {
        <section class="card panel" id="stats">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match stats.await {
                        Ok(stats) => view! { <Panel stats/> }.into_any(),
                        Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Panel(stats: Stats) -> impl IntoView {
    let duration = |ms: Option<i64>| ms.map(format_duration).unwrap_or_else(|| "—".into());
    view! {
        <div class="panel-head">
            <h2>{format!("Last {} days", stats.days)}</h2>
            <nav class="windows" aria-label="Window">
                {WINDOWS
                    .iter()
                    .map(|&days| {
                        let current = (days == stats.days).then_some("page");
                        view! { <a href=format!("?days={days}") aria-current=current data-days=days>{format!("{days} days")}</a> }
                    })
                    .collect_view()}
            </nav>
        </div>
        <dl class="figures">
            <div><dt>"Runs"</dt><dd id="stats-runs">{stats.runs}</dd></div>
            <div><dt>"Succeeded"</dt><dd id="stats-rate">{stats.success_rate.map(|r| format!("{r}%")).unwrap_or_else(|| "—".into())}</dd></div>
            <div><dt>"p50 duration"</dt><dd id="stats-p50">{duration(stats.p50_ms)}</dd></div>
            <div><dt>"p95 duration"</dt><dd id="stats-p95">{duration(stats.p95_ms)}</dd></div>
        </dl>
        <PerDay stats=stats.clone()/>
        <div class="split">
            <StepTable id="slowest-steps" title="Slowest steps (mean)" steps=stats.slowest_steps failures=false/>
            <StepTable id="failing-steps" title="Most often failing" steps=stats.failing_steps failures=true/>
        </div>
    }
}

/// A bar per day: its height the day's runs, green for those that succeeded, red for
/// those that failed, grey for the rest (cancelled, refused).
#[component]
fn PerDay(stats: Stats) -> impl IntoView {
    const WIDTH: i64 = 720;
    const HEIGHT: i64 = 70;
    let most = stats
        .per_day
        .iter()
        .map(|d| d.runs)
        .max()
        .unwrap_or(0)
        .max(1);
    let step = WIDTH / stats.per_day.len().max(1) as i64;
    let scale = |n: i64| n * HEIGHT / most;
    let bars = stats
        .per_day
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let x = (i as i64 * step).to_string();
            let width = (step - 2).max(1).to_string();
            let (ok, bad) = (scale(day.succeeded), scale(day.failed));
            let other = scale(day.runs) - ok - bad;
            let date = conveyor_core::format::format_day(day.day);
            let title = format!("{date}: {} runs, {} succeeded, {} failed", day.runs, day.succeeded, day.failed);
            view! {
                <g data-day=date.clone() data-runs=day.runs>
                    <title>{title}</title>
                    <rect class="succeeded" x=x.clone() y=(HEIGHT - ok).to_string() width=width.clone() height=ok.to_string()></rect>
                    <rect class="failed" x=x.clone() y=(HEIGHT - ok - bad).to_string() width=width.clone() height=bad.to_string()></rect>
                    <rect class="cancelled" x=x y=(HEIGHT - ok - bad - other).to_string() width=width height=other.to_string()></rect>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="per-day" viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img"
            aria-label=format!("runs per day over {} days; most in a day: {most}", stats.days)>
            {bars}
        </svg>
        <p class="muted">"runs per day, oldest on the left · most in a day: " {most}</p>
    }
}

#[component]
fn StepTable(
    id: &'static str,
    title: &'static str,
    steps: Vec<StepStats>,
    failures: bool,
) -> impl IntoView {
    let empty = steps.is_empty();
    view! {
        <div id=id>
            <h3>{title}</h3>
            {empty.then(|| view! { <p class="muted">"None in this window."</p> })}
            <table class="table compact">
                <tbody>
                    {steps
                        .into_iter()
                        .map(|s| {
                            let figure = if failures {
                                format!("{} of {} runs failed", s.failed, s.runs)
                            } else {
                                format!("{} (max {}) · {} runs", format_duration(s.mean_ms), format_duration(s.max_ms), s.runs)
                            };
                            view! {
                                <tr data-step=format!("{}/{}", s.pipeline, s.step)>
                                    <td><a href=format!("/pipelines/{}", s.pipeline)>{s.pipeline.clone()}</a> " / " <code>{s.step.clone()}</code></td>
                                    <td class="num">{figure}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
