//! A pipeline's (or workflow's) danger zone: empty its runs, or delete it with them. Each
//! asks for the name typed out: the browser will not submit until it matches (a `pattern`,
//! with or without the WASM), and the server checks it again.

use leptos::prelude::*;

use crate::api::manage::{Removal, Remove};
use crate::ui::form::{action_error, post_form, Fields};
use crate::viewer::viewer;
use conveyor_core::access::Action;

#[component]
pub fn DangerZone(name: String, workflow: bool) -> impl IntoView {
    let remove = ServerAction::<Remove>::new();
    let what = if workflow { "workflow" } else { "pipeline" };
    let gone = if workflow {
        "its runs, logs, releases and its secrets, service account and role binding on the cluster (the Deployment stays)"
    } else {
        "its versions, runs and logs"
    };
    view! {
        <section class="card danger" id="danger-zone">
            <h2>"Danger zone"</h2>
            {action_error(remove)}
            {confirmed_form(remove, name.clone(), Removal::Runs, "empty-runs",
                format!("Empty runs: delete every run of {name} that has ended, with its logs."),
                "Empty runs")}
            {if workflow && !viewer().may(Action::Admin) {
                // It carries credentials: only an admin deletes it (the server says so too).
                view! { <p class="hint denied-why" id="delete-pipeline">"Deleting a workflow needs the admin role."</p> }.into_any()
            } else {
                confirmed_form(remove, name.clone(), Removal::Pipeline, "delete-pipeline",
                    format!("Delete the {what} {name} with {gone}."),
                    if workflow { "Delete workflow" } else { "Delete pipeline" }).into_any()
            }}
        </section>
    }
}

fn confirmed_form(
    action: ServerAction<Remove>,
    name: String,
    what: Removal,
    id: &'static str,
    text: String,
    button: &'static str,
) -> impl IntoView {
    let input = {
        let name = name.clone();
        move |fields: &Fields| Remove {
            name: name.clone(),
            what,
            confirm: fields.get("confirm"),
        }
    };
    let value = match what {
        Removal::Pipeline => "pipeline",
        Removal::Runs => "runs",
    };
    post_form(
        action,
        Some(id),
        input,
        view! {
            <p>{text}</p>
            <input type="hidden" name="name" value=name.clone()/>
            <input type="hidden" name="what" value=value/>
            <label class="inline">
                "Type " <code>{name.clone()}</code> " to confirm "
                <input
                    name="confirm"
                    autocomplete="off"
                    spellcheck="false"
                    required
                    pattern=exactly(&name)
                    title=format!("the name, {name}")
                    aria-label=format!("Type {name} to confirm")
                />
            </label>
            <button type="submit" class="danger">{button}</button>
        },
    )
}

/// A `pattern` that matches `text` and nothing else (the browser anchors it).
fn exactly(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = "^$\\.*+?()[]{}|/".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
