//! Search across every log: a text and the run filters in the address (a plain GET form),
//! matching lines newest run first, each linked to its line on the run page.

use conveyor_core::search::{SearchPage, MIN_QUERY};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::search_logs;
use crate::ui::filters::{encode, filters_query, run_filters, RunFilterFields};
use crate::ui::form::error_text;
use crate::ui::hits::marked;
use crate::ui::status::status_badge;
use crate::ui::time::Time;

#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let value = move |key: &'static str| query.read().get(key).unwrap_or_default();
    // The search as the address gives it; the cursor apart (links to further pages add it).
    let params = move || {
        let mut params = run_filters(&query.read());
        for key in ["q", "pipeline"] {
            let given = value(key);
            if !given.is_empty() {
                params.insert(key.to_owned(), given);
            }
        }
        params
    };
    let page = Resource::new(
        move || (params(), value("cursor")),
        |(mut params, cursor)| async move {
            if !params.contains_key("q") {
                return Ok(None);
            }
            if !cursor.is_empty() {
                params.insert("cursor".into(), cursor);
            }
            search_logs(params).await.map(Some)
        },
    );
    // The search as a query string, for the next page's link.
    let again = move || {
        let params = params();
        let mut link = format!("?q={}", encode(params.get("q").map_or("", String::as_str)));
        if let Some(pipeline) = params.get("pipeline") {
            link.push_str(&format!("&pipeline={}", encode(pipeline)));
        }
        link + &filters_query(&run_filters(&query.read()))
    };
    view! {
        <Title text="Search · Conveyor"/>
        <h1>"Search logs"</h1>
        <form method="get" class="filters" role="search" id="search-form">
            <label for="search-q">"Text"</label>
            <input type="search" name="q" id="search-q" data-filter value=move || value("q")
                placeholder="connection refused" minlength=MIN_QUERY maxlength="1024" size="28" required/>
            <label for="pipeline-filter">"Pipeline"</label>
            <input type="text" name="pipeline" id="pipeline-filter" value=move || value("pipeline") size="10"/>
            <RunFilterFields/>
            <button type="submit">"Search"</button>
        </form>
        <Transition fallback=|| view! { <p>"Searching…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(None) => view! {
                        <p class="muted">
                            "Finds a text in the log of every run: at least three characters; letters match in either case. Newest runs first."
                        </p>
                    }.into_any(),
                    Ok(Some(found)) => results(found, again()).into_any(),
                    Err(err) => view! { <p class="error" id="search-error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn results(found: SearchPage, again: String) -> impl IntoView {
    let next = found
        .next
        .clone()
        .map(|cursor| format!("{again}&cursor={}", encode(&cursor)));
    let note = match (found.hits.is_empty(), found.partial) {
        (true, false) => Some("No line of any log matches."),
        (true, true) => Some("Nothing yet: this page searched as long as a page may."),
        (false, true) => Some("This page searched as long as a page may; there may be more."),
        (false, false) => None,
    };
    view! {
        {note.map(|note| view! { <p class="muted" id="search-note">{note}</p> })}
        <ol class="search-hits" id="search-hits">
            {found
                .hits
                .into_iter()
                .map(|hit| {
                    view! {
                        <li class="hit">
                            <div class="hit-head">
                                <a href=format!("/runs/{}", hit.run)>{format!("{} #{}", hit.pipeline, hit.number)}</a>
                                {status_badge(hit.status)}
                                <code>{hit.tag.clone()}</code>
                                <Time ms=hit.created_at/>
                                <span class="muted">"step " <code>{hit.step.clone()}</code></span>
                                <a class="hit-line-number" href=hit.link.clone()>{format!("line {}", hit.line)}</a>
                            </div>
                            <a class="hit-text" href=hit.link.clone()><code>{marked(&hit.text, &hit.matches)}</code></a>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
        {next.map(|href| view! { <a class="next" id="search-next" href=href>"Search further →"</a> })}
    }
}
