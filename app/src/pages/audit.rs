//! The audit log (admins): who did what, newest first, filtered by account, action and
//! target, paged on the server.

use conveyor_core::audit::AuditAction;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::account::audit_log;
use crate::ui::filters::encode;
use crate::ui::form::error_text;
use crate::ui::time::Time;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let text = move |key: &'static str| move || query.read().get(key).filter(|s| !s.is_empty());
    let (actor, action, target) = (text("actor"), text("action"), text("target"));
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    };
    let page = Resource::new(
        move || (actor(), action(), target(), before()),
        |(actor, action, target, before)| audit_log(actor, action, target, before),
    );
    let filters = move || {
        [
            ("actor", actor()),
            ("action", action()),
            ("target", target()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("&{key}={}", encode(&v))))
        .collect::<String>()
    };
    view! {
        <Title text="Audit log · Conveyor"/>
        <h1>"Audit log"</h1>
        <form method="get" class="filters">
            <label for="actor">"Account"</label>
            <input type="text" name="actor" id="actor" value=actor size="12" data-filter/>
            <label for="action">"Action"</label>
            <select name="action" id="action">
                <option value="">"any"</option>
                {AuditAction::ALL
                    .iter()
                    .map(|a| {
                        let value = a.as_str();
                        view! {
                            <option value=value selected=move || action().as_deref() == Some(value)>
                                {value.replace('_', " ")}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="target">"Target"</label>
            <input type="text" name="target" id="target" value=target size="14" placeholder="run 42, web, ada"/>
            <button type="submit">"Filter"</button>
            <a href="?" class="muted">"clear"</a>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) if page.entries.is_empty() => view! { <p class="empty">"Nothing recorded."</p> }.into_any(),
                    Ok(page) => {
                        let next = page.next_before.map(|b| format!("?before={b}{}", filters()));
                        view! {
                            <table class="table" id="audit">
                                <thead>
                                    <tr><th>"When"</th><th>"Who"</th><th>"Did"</th><th>"To"</th><th>"Detail"</th><th>"From"</th></tr>
                                </thead>
                                <tbody>
                                    {page
                                        .entries
                                        .into_iter()
                                        .map(|e| {
                                            let failed = e.action == AuditAction::SignInFailed;
                                            view! {
                                                <tr data-action=e.action.as_str() class=failed.then_some("failed")>
                                                    <td><Time ms=e.at/></td>
                                                    <td>{e.actor.unwrap_or_else(|| "(the server)".to_owned())}</td>
                                                    <td>{e.action.as_str().replace('_', " ")}</td>
                                                    <td><code>{e.target}</code></td>
                                                    <td class="muted">{e.detail.unwrap_or_default()}</td>
                                                    <td class="muted">{e.address.unwrap_or_default()}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                            {next.map(|href| view! { <a class="next" href=href>"Older entries →"</a> })}
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
