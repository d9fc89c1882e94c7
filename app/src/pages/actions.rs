//! The action catalog: every version of every action (seeds 001 and 004), what it runs and
//! where, the params it takes, and the pipelines whose latest version uses it.

use conveyor_core::catalog::ActionEntry;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::actions::list_actions;
use crate::ui::form::error_text;
use crate::ui::time::Time;

#[component]
pub fn ActionsPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| list_actions());
    view! {
        <Title text="Actions · Conveyor"/>
        <h1>"Actions"</h1>
        <p class="muted">
            "Versioned step templates. A step names one as " <code>"action: name@version"</code>
            " — its pipeline's own " <code>"actions"</code> " first, then this catalog. "
            "Save a version with " <code>"POST /api/v1/actions"</code> " (YAML); a saved version never changes."
        </p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(actions) if actions.is_empty() => view! { <p class="empty">"No actions in the catalog yet."</p> }.into_any(),
                    Ok(actions) => view! { <ActionTable actions/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What an action runs, in a few words.
fn runs(entry: &ActionEntry) -> String {
    let action = &entry.action;
    let what = match (&action.script, action.command.first()) {
        (Some(_), _) => "a script".to_owned(),
        (None, Some(program)) => format!("{program} …"),
        (None, None) => "its image's entrypoint".to_owned(),
    };
    match &action.image {
        Some(image) => format!("{what} in {image}"),
        None => what,
    }
}

/// Its params: defaults, required ones and rules.
fn params(entry: &ActionEntry) -> String {
    let action = &entry.action;
    let mut names: Vec<&String> = action
        .defaults
        .keys()
        .chain(&action.required)
        .chain(action.params.keys())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let mut text = name.clone();
            if action.required.contains(name) {
                text.push('*');
            }
            if let Some(default) = action.defaults.get(name) {
                text.push_str(&format!(" = {default}"));
            }
            if let Some(rule) = action.params.get(name) {
                if !rule.allowed.is_empty() {
                    text.push_str(&format!(" ∈ {{{}}}", rule.allowed.join(", ")));
                }
                if let Some(pattern) = &rule.pattern {
                    text.push_str(&format!(" ~ /{pattern}/"));
                }
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[component]
fn ActionTable(actions: Vec<ActionEntry>) -> impl IntoView {
    view! {
        <table class="table" id="actions">
            <thead>
                <tr><th>"Action"</th><th>"Runs"</th><th>"Runner"</th><th>"Params (* required)"</th><th>"Used by"</th><th>"Saved"</th></tr>
            </thead>
            <tbody>
                {actions
                    .into_iter()
                    .map(|entry| {
                        let (reference, shown) = (entry.action.reference(), entry.action.reference());
                        let runner = entry.action.runner.unwrap_or_default().as_str();
                        let used_by = entry.used_by.clone();
                        view! {
                            <tr data-action=reference>
                                <td>
                                    <code>{shown}</code>
                                    {entry.action.description.clone().map(|d| view! { <div class="muted">{d}</div> })}
                                </td>
                                <td>{runs(&entry)}</td>
                                <td>{runner}</td>
                                <td class="params">{params(&entry)}</td>
                                <td class="used-by">
                                    {if used_by.is_empty() {
                                        view! { <span class="muted">"none"</span> }.into_any()
                                    } else {
                                        used_by
                                            .into_iter()
                                            .map(|p| view! { <a href=format!("/pipelines/{p}")>{p.clone()}</a> " " })
                                            .collect_view()
                                            .into_any()
                                    }}
                                </td>
                                <td>
                                    <Time ms=entry.created_at/>
                                    {entry.created_by.clone().map(|by| format!(" by {by}"))}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
