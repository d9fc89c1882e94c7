//! Runs newest first, filtered and paged on the server, with their durations charted.

use conveyor_core::format::format_duration;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::list_runs;
use crate::ui::charts::RunsChart;
use crate::ui::filters::{filters_query, run_filters, RunFilterFields};
use crate::ui::form::error_text;
use crate::ui::status::status_badge;
use crate::ui::time::Time;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let pipeline = move || params.read().get("name");
    let cursor = move |name: &str| query.read().get(name).and_then(|b| b.parse::<i64>().ok());
    let page = Resource::new(
        move || {
            (
                pipeline(),
                run_filters(&query.read()),
                cursor("before"),
                cursor("after"),
            )
        },
        |(pipeline, filters, before, after)| list_runs(pipeline, filters, before, after),
    );
    // The filters as a query string, for the next page's link.
    let filters = move || filters_query(&run_filters(&query.read()));
    let title = move || match pipeline() {
        Some(name) => format!("History of {name}"),
        None => "History".to_owned(),
    };
    view! {
        <Title text=move || format!("{} · Conveyor", title())/>
        <h1>{title}</h1>
        <form method="get" class="filters">
            <RunFilterFields/>
            <button type="submit">"Filter"</button>
            <a href="?" class="muted">"clear"</a>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) if page.runs.is_empty() => view! { <p class="empty">"No runs."</p> }.into_any(),
                    Ok(page) => {
                        let next = page.next_before.map(|b| format!("?before={b}{}", filters()));
                        let newer = page.next_after.map(|a| format!("?after={a}{}", filters()));
                        view! {
                            <RunsChart runs=page.runs.clone()/>
                            <table class="table" id="history">
                                <thead>
                                    <tr>
                                        <th>"Run"</th>
                                        <th>"Status"</th>
                                        <th>"Tag"</th>
                                        <th>"Started"</th>
                                        <th>"Duration"</th>
                                        <th>"By"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {page
                                        .runs
                                        .into_iter()
                                        .map(|run| {
                                            view! {
                                                <tr>
                                                    <td>
                                                        <a href=format!("/runs/{}", run.id)>
                                                            {format!("{} #{}", run.pipeline, run.number)}
                                                        </a>
                                                    </td>
                                                    <td>{status_badge(run.status)}</td>
                                                    <td>
                                                        <code>{run.tag.clone()}</code>
                                                        {run.commit.clone().map(|c| view! {
                                                            <small class="muted commit">
                                                                {c.pull_request.map(|n| format!(" PR #{n}")).or(c.branch.map(|b| format!(" {b}"))).unwrap_or_default()}
                                                                {format!(" @{}", c.sha.chars().take(8).collect::<String>())}
                                                            </small>
                                                        })}
                                                    </td>
                                                    <td>{run.started_at.map(|ms| view! { <Time ms/> })}</td>
                                                    <td>{run.duration_ms().map(format_duration).unwrap_or_default()}</td>
                                                    <td class="muted" data-trigger=run.trigger.as_str()>
                                                        {run.started_by.clone().map(|by| format!("{by} · ")).unwrap_or_default()}
                                                        {run.trigger.as_str()}
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                            <nav class="pages">
                                {newer.map(|href| view! { <a class="newer" href=href>"← Newer runs"</a> })}
                                {next.map(|href| view! { <a class="next" href=href>"Older runs →"</a> })}
                            </nav>
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
