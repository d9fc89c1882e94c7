//! Any two saved versions of a pipeline, side by side as a line diff.

use conveyor_core::format::format_time;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::version_diff;
use crate::ui::form::error_text;

/// Any two saved versions of a pipeline, side by side as a line diff (a GET form: works
/// without WASM too).
#[component]
pub fn VersionsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let number = move |key: &str| query.read().get(key).and_then(|v| v.parse::<i64>().ok());
    let diff = Resource::new(
        move || (name(), number("from"), number("to")),
        |(n, f, t)| version_diff(n, f, t),
    );
    view! {
        <Title text=move || format!("Versions of {} · Conveyor", name())/>
        <div class="page-head">
            <h1>
                <a href=move || format!("/pipelines/{}", name())>{name}</a>
                " · versions"
            </h1>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match diff.await {
                    Ok(diff) => {
                        let options = move |selected: i64| {
                            diff.versions
                                .iter()
                                .map(|(version, at)| {
                                    let label = format!("version {version} · {}", format_time(*at));
                                    view! { <option value=version.to_string() selected=*version == selected>{label}</option> }
                                })
                                .collect_view()
                        };
                        let changed = diff.lines.iter().filter(|l| l.kind != "same").count();
                        view! {
                            <form method="get" class="filters" id="compare">
                                <label for="from">"From"</label>
                                <select name="from" id="from">{options(diff.from)}</select>
                                <label for="to">"to"</label>
                                <select name="to" id="to">{options(diff.to)}</select>
                                <button type="submit">"Compare"</button>
                                <span class="muted" id="diff-summary">
                                    {if changed == 0 { "no changes".to_owned() } else { format!("{changed} lines changed") }}
                                </span>
                            </form>
                            <section class="card">
                                <table class="diff" id="diff">
                                    <tbody>
                                        {diff.lines
                                            .into_iter()
                                            .map(|line| {
                                                let sign = match line.kind.as_str() {
                                                    "added" => "+",
                                                    "removed" => "-",
                                                    _ => " ",
                                                };
                                                view! {
                                                    <tr class=line.kind.clone()>
                                                        <td class="ln">{line.old.map(|n| n.to_string())}</td>
                                                        <td class="ln">{line.new.map(|n| n.to_string())}</td>
                                                        <td class="sign">{sign}</td>
                                                        <td class="text">{line.text}</td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
