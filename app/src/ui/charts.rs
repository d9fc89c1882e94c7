//! Run durations as bars: a pipeline's sparkline and a history page's chart.

use conveyor_core::dto::{success_rate, RecentRun, RunSummary};
use conveyor_core::format::format_duration;
use leptos::prelude::*;

/// Bar heights for runs' durations, the longest `room` high (runs without a duration, and
/// very short ones, get 2); with the longest duration (at least 1 ms).
fn bar_heights(runs: &[RecentRun], room: i64) -> (i64, Vec<i64>) {
    let longest = runs
        .iter()
        .filter_map(|r| r.duration_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    (
        longest,
        runs.iter()
            .map(|r| r.duration_ms.map_or(2, |d| (d * room / longest).max(2)))
            .collect(),
    )
}

/// The durations of a pipeline's last runs as bars, coloured by outcome.
#[component]
pub fn Sparkline(recent: Vec<RecentRun>) -> impl IntoView {
    const WIDTH: usize = 120;
    const HEIGHT: i64 = 28;
    let (_, heights) = bar_heights(&recent, HEIGHT - 2);
    let step = if recent.is_empty() {
        0
    } else {
        WIDTH / recent.len().max(6)
    };
    let label = format!(
        "last {} runs: {}",
        recent.len(),
        recent
            .iter()
            .map(|r| format!(
                "{} {}",
                r.status,
                r.duration_ms.map(format_duration).unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bars = recent
        .iter()
        .zip(heights)
        .enumerate()
        .map(|(i, (run, height))| {
            let title = format!(
                "{} · {}",
                run.status,
                run.duration_ms.map(format_duration).unwrap_or_default()
            );
            view! {
                <rect
                    class=run.status.as_str()
                    x=(i * step).to_string()
                    y=(HEIGHT - height).to_string()
                    width=step.saturating_sub(2).max(1).to_string()
                    height=height.to_string()
                >
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <svg class="spark" width=WIDTH.to_string() height=HEIGHT.to_string() role="img" aria-label=label>
            {bars}
        </svg>
    }
}

/// The runs of a history page over time: a bar per run (height = duration, colour =
/// outcome), oldest on the left, with the page's success rate.
#[component]
pub fn RunsChart(runs: Vec<RunSummary>) -> impl IntoView {
    const WIDTH: i64 = 600;
    const HEIGHT: i64 = 80;
    let mut runs = runs;
    runs.reverse();
    let recent: Vec<RecentRun> = runs
        .iter()
        .map(|r| RecentRun {
            status: r.status,
            duration_ms: r.duration_ms(),
        })
        .collect();
    let (longest, heights) = bar_heights(&recent, HEIGHT - 14);
    let step = WIDTH / (runs.len() as i64).max(10);
    let bars = runs
        .iter()
        .zip(&recent)
        .zip(heights)
        .enumerate()
        .map(|(i, ((run, recent), height))| {
            let title = format!(
                "{} #{} · {} · {} · {}",
                run.pipeline,
                run.number,
                run.tag,
                run.status,
                recent.duration_ms.map(format_duration).unwrap_or_default()
            );
            view! {
                <a href=format!("/runs/{}", run.id)>
                    <rect
                        class=run.status.as_str()
                        x=(i as i64 * step).to_string()
                        y=(HEIGHT - height).to_string()
                        width=(step - 3).max(1).to_string()
                        height=height.to_string()
                    >
                        <title>{title}</title>
                    </rect>
                </a>
            }
        })
        .collect_view();
    let rate = success_rate(&recent);
    view! {
        <section class="card chart">
            <h2>
                "Duration per run "
                <span class="muted" id="success-rate">
                    {rate.map(|r| format!("· {r}% succeeded")).unwrap_or_default()}
                </span>
            </h2>
            <svg
                class="spark runs-chart"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label=format!("durations of {} runs, oldest first; longest {}", runs.len(), format_duration(longest))
            >
                {bars}
            </svg>
            <p class="muted">"longest " {format_duration(longest)} " · oldest on the left"</p>
        </section>
    }
}
