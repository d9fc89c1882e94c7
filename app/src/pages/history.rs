//! Runs newest first, filtered and paged on the server, with their durations charted.

use conveyor_core::format::format_duration;
use conveyor_core::run::{RunStatus, Trigger};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::list_runs;
use crate::ui::charts::RunsChart;
use crate::ui::form::error_text;
use crate::ui::status::status_badge;
use crate::ui::time::Time;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let pipeline = move || params.read().get("name");
    let text = move |key: &'static str| move || query.read().get(key).filter(|s| !s.is_empty());
    let (status, tag, since, until, trigger, branch) = (
        text("status"),
        text("tag"),
        text("since"),
        text("until"),
        text("trigger"),
        text("branch"),
    );
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    };
    let page = Resource::new(
        move || {
            let filters: std::collections::BTreeMap<String, String> = [
                ("status", status()),
                ("tag", tag()),
                ("since", since()),
                ("until", until()),
                ("trigger", trigger()),
                ("branch", branch()),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
            (pipeline(), filters, before())
        },
        |(pipeline, filters, before)| list_runs(pipeline, filters, before),
    );
    // The filters as a query string, for the next page's link.
    let filters = move || {
        [
            ("status", status()),
            ("tag", tag()),
            ("since", since()),
            ("until", until()),
            ("trigger", trigger()),
            ("branch", branch()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("&{key}={}", encode(&v))))
        .collect::<String>()
    };
    let title = move || match pipeline() {
        Some(name) => format!("History of {name}"),
        None => "History".to_owned(),
    };
    view! {
        <Title text=move || format!("{} · Conveyor", title())/>
        <h1>{title}</h1>
        <form method="get" class="filters">
            <label for="status">"Status"</label>
            <select name="status" id="status">
                <option value="">"any"</option>
                {RunStatus::ALL
                    .iter()
                    .map(|s| {
                        let value = s.as_str();
                        view! {
                            <option value=value selected=move || status().as_deref() == Some(value)>
                                {value.replace('_', " ")}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="tag-filter">"Tag"</label>
            <input type="text" name="tag" id="tag-filter" data-filter value=tag placeholder="v1.2.3" size="10"/>
            <label for="branch-filter">"Branch"</label>
            <input type="text" name="branch" id="branch-filter" value=branch placeholder="main" size="10"/>
            <label for="since">"From"</label>
            <input type="date" name="since" id="since" value=since/>
            <label for="until">"to"</label>
            <input type="date" name="until" id="until" value=until/>
            <label for="trigger">"Started by"</label>
            <select name="trigger" id="trigger">
                <option value="">"anyone"</option>
                {Trigger::ALL
                    .iter()
                    .map(|t| {
                        let value = t.as_str();
                        let label = match t {
                            Trigger::Ui => "web UI",
                            Trigger::Api => "API",
                            Trigger::Rerun => "re-run",
                            Trigger::Push => "push",
                            Trigger::PullRequest => "pull request",
                            Trigger::Schedule => "schedule",
                            Trigger::Kubernetes => "Kubernetes change",
                        };
                        view! { <option value=value selected=move || trigger().as_deref() == Some(value)>{label}</option> }
                    })
                    .collect_view()}
            </select>
            <button type="submit">"Filter"</button>
            <a href="?" class="muted">"clear"</a>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) if page.runs.is_empty() => view! { <p class="empty">"No runs."</p> }.into_any(),
                    Ok(page) => {
                        let next = page.next_before.map(|b| format!("?before={b}{}", filters()));
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
                            {next.map(|href| view! { <a class="next" href=href>"Older runs →"</a> })}
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Percent-encodes a query value (dates and tags need little, but `+` and `&` must not leak).
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
