//! The dashboard: every pipeline with its latest run and recent runs, live.

use conveyor_core::dto::{success_rate, PipelineSummary, RunSummary};
use conveyor_core::format::format_duration;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::list_pipelines;
use crate::live::follow_changes;
use crate::ui::charts::Sparkline;
use crate::ui::form::error_text;
use crate::ui::panel::StatsPanel;
use crate::ui::status::status_badge;
use crate::ui::time::Time;

#[component]
pub fn PipelinesPage() -> impl IntoView {
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    let filter = RwSignal::new(String::new());
    view! {
        <Title text="Pipelines · Conveyor"/>
        <div class="page-head">
            <h1>"Pipelines"</h1>
            <input
                type="search"
                id="filter"
                data-filter
                placeholder="Filter by name, description or tag ( / )"
                aria-label="Filter pipelines by name, description or latest tag"
                aria-keyshortcuts="/"
                on:input=move |ev| filter.set(event_target_value(&ev).to_lowercase())
            />
        </div>
        <StatsPanel/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match pipelines.await {
                    Ok(list) => {
                        // Live: runs created or changing status anywhere update their row.
                        let rows = RwSignal::new(list);
                        let live = RwSignal::new(false);
                        follow_changes(rows, live);
                        let table = move || {
                            let list = rows.get();
                            if list.is_empty() {
                                return view! { <p class="empty">"No pipelines yet: start with New pipeline or New workflow."</p> }.into_any();
                            }
                            view! {
                                <table class="table" id="pipelines" data-live=move || live.get().to_string()>
                                    <thead>
                                        <tr>
                                            <th>"Pipeline"</th>
                                            <th>"Latest run"</th>
                                            <th>"Tag"</th>
                                            <th>"When"</th>
                                            <th>"Duration"</th>
                                            <th>"Recent runs"</th>
                                            <th>"Success"</th>
                                        </tr>
                                    </thead>
                                    <tbody>{list.into_iter().map(|p| pipeline_row(p, filter)).collect_view()}</tbody>
                                </table>
                            }
                            .into_any()
                        };
                        table.into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
        <p class="new-pipeline">
            <a class="button primary" href="/new" id="new-pipeline">"New pipeline"</a>
            <span class="muted">" in the graph editor, or from YAML, JSON, a KubeCI Workflow or a taskflow Task. "</span>
            <a class="button" href="/new/workflow" id="new-workflow">"New workflow"</a>
            <span class="muted">" git repository → image → Kubernetes Deployment"</span>
        </p>
    }
}

fn pipeline_row(p: PipelineSummary, filter: RwSignal<String>) -> impl IntoView {
    let href = format!("/pipelines/{}", p.name);
    let haystack = format!(
        "{} {} {}",
        p.name,
        p.description.as_deref().unwrap_or_default(),
        p.latest_run
            .as_ref()
            .map(|r| r.tag.as_str())
            .unwrap_or_default(),
    )
    .to_lowercase();
    view! {
        <tr data-pipeline=p.name.clone() hidden=move || !haystack.contains(filter.read().as_str())>
            <td>
                <a href=href>{p.name.clone()}</a>
                <div class="muted">{p.description.clone().unwrap_or_default()}</div>
            </td>
            {latest_run_cells(p.latest_run)}
            <td><Sparkline recent=p.recent.clone()/></td>
            <td class="rate">{success_rate(&p.recent).map(|rate| format!("{rate}%"))}</td>
        </tr>
    }
}

fn latest_run_cells(run: Option<RunSummary>) -> impl IntoView {
    match run {
        None => view! { <td colspan="4" class="muted">"never run"</td> }.into_any(),
        Some(run) => view! {
            <td>
                <a href=format!("/runs/{}", run.id)>{format!("#{} ", run.number)}</a>
                {status_badge(run.status)}
            </td>
            <td><code>{run.tag.clone()}</code></td>
            <td><Time ms=run.created_at/></td>
            <td>{run.duration_ms().map(format_duration).unwrap_or_default()}</td>
        }
        .into_any(),
    }
}
