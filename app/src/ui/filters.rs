//! The run filters listings share (history, search): the form's fields, filled from the
//! page's query, and the filters read back from it.

use std::collections::BTreeMap;

use conveyor_core::run::{RunStatus, Trigger};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

/// The query's names that are run filters.
const FILTERS: &[&str] = &["status", "tag", "since", "until", "trigger", "branch"];

/// The run filters in a page's query (empty ones left out).
pub fn run_filters(query: &ParamsMap) -> BTreeMap<String, String> {
    FILTERS
        .iter()
        .filter_map(|&name| {
            let value = query.get(name).filter(|v| !v.is_empty())?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Filters as `&name=value` pairs of a link's query string.
pub fn filters_query(filters: &BTreeMap<String, String>) -> String {
    filters
        .iter()
        .map(|(key, value)| format!("&{key}={}", encode(value)))
        .collect()
}

/// The fields of a run-filter form (status, tag, branch, dates, trigger).
#[component]
pub fn RunFilterFields() -> impl IntoView {
    let query = use_query_map();
    let text = move |key: &'static str| move || query.read().get(key).filter(|s| !s.is_empty());
    let (status, tag, since, until, trigger, branch) = (
        text("status"),
        text("tag"),
        text("since"),
        text("until"),
        text("trigger"),
        text("branch"),
    );
    view! {
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
                        Trigger::Rollback => "rollback",
                    };
                    view! { <option value=value selected=move || trigger().as_deref() == Some(value)>{label}</option> }
                })
                .collect_view()}
        </select>
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
