//! Secrets: their names, where they apply and when they changed (never a value); admins
//! set, replace and remove them.

use conveyor_core::access::Action;
use conveyor_core::secrets::SecretSummary;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::secrets::{list_secrets, SecretControl};
use crate::ui::form::{action_error, error_text, post_form, Fields};
use crate::ui::time::Time;
use crate::viewer::viewer;

fn input(fields: &Fields) -> SecretControl {
    let text = |name: &str| Some(fields.get(name)).filter(|v| !v.is_empty());
    SecretControl {
        name: fields.get("name"),
        pipeline: text("pipeline"),
        value: text("value"),
        remove: text("remove"),
    }
}

#[component]
pub fn SecretsPage() -> impl IntoView {
    let control = ServerAction::<SecretControl>::new();
    let list = Resource::new(move || control.version().get(), |_| list_secrets());
    let admin = viewer().may(Action::Admin);
    view! {
        <Title text="Secrets · Conveyor"/>
        <h1>"Secrets"</h1>
        <p class="muted">
            "Steps name the secrets they get: " <code>"secrets: [DEPLOY_TOKEN]"</code>
            ". Values are never shown again, and are masked as ******** in every log."
        </p>
        {action_error(control)}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(secrets) if secrets.is_empty() => view! { <p class="empty">"No secrets yet."</p> }.into_any(),
                    Ok(secrets) => view! { <SecretTable control secrets admin/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
        {admin.then(|| view! {
            <section class="card">
                <h2>"Set a secret"</h2>
                {post_form(control, Some("secret-form"), input, view! {
                    <input name="name" placeholder="DEPLOY_TOKEN" required pattern="[A-Z_][A-Z0-9_]*" aria-label="name"/>
                    <input name="pipeline" placeholder="pipeline (none: all)" aria-label="pipeline"/>
                    <input type="password" name="value" placeholder="value" required minlength="4" autocomplete="off" aria-label="value"/>
                    <button type="submit" class="primary">"Set"</button>
                })}
                <p class="muted">"Setting an existing name replaces its value."</p>
            </section>
        })}
    }
}

#[component]
fn SecretTable(
    control: ServerAction<SecretControl>,
    secrets: Vec<SecretSummary>,
    admin: bool,
) -> impl IntoView {
    view! {
        <table class="table" id="secrets">
            <thead><tr><th>"Name"</th><th>"For"</th><th>"Changed"</th><th>"By"</th><th></th></tr></thead>
            <tbody>
                {secrets
                    .into_iter()
                    .map(|s| {
                        let scope = s.pipeline.clone().unwrap_or_default();
                        let (name, pipeline) = (s.name.clone(), scope.clone());
                        view! {
                            <tr data-secret=format!("{}{}", s.pipeline.as_ref().map(|p| format!("{p}/")).unwrap_or_default(), s.name)>
                                <td><code>{s.name.clone()}</code></td>
                                <td>{s.pipeline.clone().unwrap_or_else(|| "every pipeline".to_owned())}</td>
                                <td><Time ms=s.updated_at/></td>
                                <td class="muted">{s.updated_by.clone().unwrap_or_else(|| "(the server)".to_owned())}</td>
                                <td>
                                    {admin.then(|| post_form(control, None, input, view! {
                                        <input type="hidden" name="name" value=name/>
                                        <input type="hidden" name="pipeline" value=pipeline/>
                                        <input type="hidden" name="remove" value="yes"/>
                                        <button type="submit" class="danger">"Remove"</button>
                                    }))}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
