//! The workflow page: deployment settings (seed 000) as a form, with a live preview of the
//! image-tag substitution, and the workflow's status. The form posts as plain HTML before
//! hydration; afterwards rows are added and removed in place.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use conveyor_core::run::TAG_RULE;
use conveyor_core::workflow::form::{ContainerForm, VolumeForm, WorkflowForm};
use conveyor_core::workflow::takes_new_image;

use crate::api::dto::WorkflowStatus;
use crate::api::{load_workflow_form, SaveWorkflow, StartRun};
use crate::ui::form::{action_error, error_text, post_form, start_run_input};
use crate::ui::status::status_badge;
use crate::viewer::CsrfField;

#[component]
pub fn WorkflowPage() -> impl IntoView {
    let params = use_params_map();
    let save = ServerAction::<SaveWorkflow>::new();
    // Saving a new version redirects to this very page, which the router does not load
    // again: each save that succeeds reloads what was saved (a failed one keeps the input).
    let saved = RwSignal::new(0u32);
    Effect::new(move |_| {
        if save.value().with(|value| matches!(value, Some(Ok(_)))) {
            saved.update(|count| *count += 1);
        }
    });
    let page = Resource::new(
        move || (params.read().get("name"), saved.get()),
        |(name, _)| load_workflow_form(name),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <WorkflowEditor form=page.form status=page.status save/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn field(
    label: &'static str,
    name: String,
    value: String,
    kind: &'static str,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label>
            <span>{label} {(!hint.is_empty()).then(|| view! { <small class="muted">" " {hint}</small> })}</span>
            <input type=kind name=name value=value autocomplete="off"/>
        </label>
    }
}

fn area(label: &'static str, name: String, value: String, hint: &'static str) -> impl IntoView {
    view! {
        <label>
            <span>{label} <small class="muted">" " {hint}</small></span>
            <textarea class="code" rows="2" name=name spellcheck="false">{value}</textarea>
        </label>
    }
}

/// One container row: its image and name are signals (the preview reads them).
#[derive(Clone)]
struct ContainerRow {
    id: u32,
    name: RwSignal<String>,
    image: RwSignal<String>,
    form: ContainerForm,
}

#[component]
fn WorkflowEditor(
    form: WorkflowForm,
    status: Option<WorkflowStatus>,
    save: ServerAction<SaveWorkflow>,
) -> impl IntoView {
    let existing = !form.existing.is_empty();
    let repository = RwSignal::new(form.image_name.clone());
    let tag = RwSignal::new(String::new());
    let next_id = StoredValue::new(
        form.containers
            .keys()
            .chain(form.volumes.keys())
            .max()
            .map_or(0, |m| m + 1),
    );
    let fresh_id = move || {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        id
    };
    let containers = RwSignal::new(
        form.containers
            .iter()
            .map(|(&id, c)| ContainerRow {
                id,
                name: RwSignal::new(c.name.clone()),
                image: RwSignal::new(c.image.clone()),
                form: c.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let volumes = RwSignal::new(
        form.volumes
            .iter()
            .map(|(&id, v)| (id, v.clone()))
            .collect::<Vec<_>>(),
    );

    let title = if existing {
        format!("{} · workflow · Conveyor", form.name)
    } else {
        "New workflow · Conveyor".to_owned()
    };
    let heading = if existing {
        form.name.clone()
    } else {
        "New workflow".to_owned()
    };

    let preview = move || {
        let repository = repository.get();
        let tag = tag.get();
        let shown_tag = if tag.is_empty() {
            "<tag>".to_owned()
        } else {
            tag.clone()
        };
        let pushed = format!("{}:{shown_tag}", repository.trim());
        let rows = containers
            .get()
            .into_iter()
            .filter(|row| !row.image.get().is_empty() || !row.name.get().is_empty())
            .map(|row| {
                let image = row.image.get();
                let changes = takes_new_image(&image, repository.trim());
                view! {
                    <li data-container=row.name.get() class:changes=changes>
                        <code>{row.name.get()}</code> ": "
                        {if changes {
                            view! { <span><code class="from">{image}</code> " → " <code class="to">{pushed.clone()}</code></span> }.into_any()
                        } else {
                            view! { <span><code>{image}</code> <span class="muted">" (kept: does not name the repository)"</span></span> }.into_any()
                        }}
                    </li>
                }
            })
            .collect_view();
        view! {
            <p>
                "A run with tag " <code>{shown_tag.clone()}</code> " builds the Dockerfile and pushes "
                <code id="pushed-image">{pushed.clone()}</code> "; the Deployment then runs:"
            </p>
            <ul id="image-changes">{rows}</ul>
            {(!tag.is_empty() && !conveyor_core::run::is_valid_tag(&tag)).then(|| view! { <p class="hint">{TAG_RULE}</p> })}
        }
    };

    view! {
        <Title text=title/>
        <div class="page-head">
            <h1>{heading}</h1>
            <span class="muted">"workflow: git → image → Deployment"</span>
            {status.as_ref().map(|s| view! {
                <a id="workflow-version" class="muted" href=format!("/pipelines/{}/versions", s.name) title="every saved version, with diffs">
                    {format!("version {}", s.version)}
                </a>
            })}
            {existing.then(|| view! {
                <a href=format!("/pipelines/{}", form.name)>"Runs and pipeline"</a>
                <a href=format!("/pipelines/{}/history", form.name)>"History"</a>
                <a href=format!("/workflows/{}/releases", form.name) id="releases-link">"Releases"</a>
            })}
        </div>
        {status.map(|status| view! { <StatusBox status/> })}
        <ActionForm action=save attr:id="workflow-form" attr:class="workflow-form">
            <CsrfField/>
            <input type="hidden" name="form[existing]" value=form.existing.clone()/>
            <div class="split">
                <section class="card">
                    <h2>"Source"</h2>
                    <label>
                        <span>"Name " <small class="muted">"also the Deployment's and Service's name"</small></span>
                        <input name="form[name]" value=form.name.clone() readonly=existing required autocomplete="off"/>
                    </label>
                    {field("Description", "form[description]".into(), form.description.clone(), "text", "")}
                    {field("Namespace", "form[namespace]".into(), form.namespace.clone(), "text", "the server's when empty")}
                    {field("Git URL", "form[git_url]".into(), form.git_url.clone(), "url", "https://, ssh:// or git@host:path")}
                    {field("Revision", "form[git_revision]".into(), form.git_revision.clone(), "text", "branch, tag or commit")}
                    {field("Git username", "form[git_username]".into(), form.git_username.clone(), "text", "")}
                    {field("Git password", "form[git_password]".into(), form.git_password.clone(), "password", "kept encrypted")}
                    <h2>"Image"</h2>
                    <label>
                        <span>"Repository " <small class="muted">"without a tag, e.g. registry.example.com/org/app"</small></span>
                        <input
                            name="form[image_name]"
                            id="image-name"
                            value=form.image_name.clone()
                            autocomplete="off"
                            on:input=move |ev| repository.set(event_target_value(&ev))
                        />
                    </label>
                    {field("Registry username", "form[image_username]".into(), form.image_username.clone(), "text", "")}
                    {field("Registry password", "form[image_password]".into(), form.image_password.clone(), "password", "kept encrypted")}
                    <label class="check">
                        <input type="checkbox" name="form[image_insecure]" checked=form.image_insecure.is_some()/>
                        "Plain HTTP (a registry without TLS, e.g. on a LAN)"
                    </label>
                    <label class="check">
                        <input type="checkbox" name="form[image_overwrite_tags]" checked=form.image_overwrite_tags.is_some()/>
                        "Allow pushing a tag the registry already has (replaces that image)"
                    </label>
                </section>
                <section class="card">
                    <h2>"Deployment"</h2>
                    <div class="row">
                        <label class="check">
                            <input type="checkbox" name="form[deploy]" checked=form.deploy.is_some()/>
                            "Has a Deployment"
                        </label>
                        <label class="check">
                            <input type="checkbox" name="form[auto_deploy]" id="auto-deploy" checked=form.auto_deploy.is_some()/>
                            "Deploy after each build"
                        </label>
                        <label class="inline">
                            "Replicas "
                            <input type="number" min="0" max="1000" name="form[replicas]" value=form.replicas.clone() class="narrow"/>
                        </label>
                        <label class="inline">
                            "Rollout timeout "
                            <input name="form[rollout_timeout]" value=form.rollout_timeout.clone() placeholder="5m" class="narrow" title="How long a deploy waits for the Deployment to roll out (30s, 5m, 1h)"/>
                        </label>
                    </div>
                    <section class="preview" id="image-preview" aria-live="polite">
                        <label class="inline">
                            "Preview with tag "
                            <input id="preview-tag" placeholder="v1.2.3" autocomplete="off" on:input=move |ev| tag.set(event_target_value(&ev))/>
                        </label>
                        {preview}
                    </section>
                    <h3>"Containers"</h3>
                    <For each=move || containers.get() key=|row| row.id let:row>
                        <ContainerFields row containers/>
                    </For>
                    <button
                        type="button"
                        id="add-container"
                        on:click=move |_| {
                            let row = ContainerRow { id: fresh_id(), name: RwSignal::new(String::new()), image: RwSignal::new(String::new()), form: ContainerForm::default() };
                            containers.update(|rows| rows.push(row));
                        }
                    >
                        "Add container"
                    </button>
                    <h3>"Volumes " <small class="muted">"persistent volume claims, created if missing"</small></h3>
                    <For each=move || volumes.get() key=|(id, _)| *id let:row>
                        <VolumeFields id=row.0 volume=row.1 volumes/>
                    </For>
                    <button type="button" id="add-volume" on:click=move |_| volumes.update(|rows| rows.push((fresh_id(), VolumeForm::default())))>
                        "Add volume"
                    </button>
                    <h3>"Service"</h3>
                    <div class="row">
                        <label class="inline">
                            "Exposure "
                            <select name="form[service_type]" id="service-type">
                                {["", "ClusterIP", "NodePort", "LoadBalancer"]
                                    .into_iter()
                                    .map(|kind| {
                                        let label = if kind.is_empty() { "none" } else { kind };
                                        view! { <option value=kind selected=form.service_type == kind>{label}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        </label>
                    </div>
                    {area("Service ports", "form[service_ports]".into(), form.service_ports.clone(), "PORT[:TARGET[:NODEPORT]] per line")}
                </section>
            </div>
            <p>
                <button type="submit" class="primary" id="save-workflow">
                    {if existing { "Save new version" } else { "Create workflow" }}
                </button>
            </p>
        </ActionForm>
        {action_error(save)}
    }
}

#[component]
fn ContainerFields(row: ContainerRow, containers: RwSignal<Vec<ContainerRow>>) -> impl IntoView {
    let id = row.id;
    let at = move |field: &str| format!("form[containers][{id}][{field}]");
    let form = row.form;
    let (name, image) = (row.name, row.image);
    view! {
        <fieldset class="container-row" data-row=id>
            <legend>"Container"</legend>
            <div class="row">
                <label>
                    <span>"Name"</span>
                    <input name=at("name") value=form.name.clone() on:input=move |ev| name.set(event_target_value(&ev)) autocomplete="off"/>
                </label>
                <label class="grow">
                    <span>"Image " <small class="muted">"naming the repository: replaced by the new tag on each run"</small></span>
                    <input name=at("image") value=form.image.clone() on:input=move |ev| image.set(event_target_value(&ev)) autocomplete="off"/>
                </label>
            </div>
            <div class="row">
                {area("Ports", at("ports"), form.ports.clone(), "PORT[/PROTOCOL] [NAME] per line")}
                {area("Environment", at("env"), form.env.clone(), "NAME=value per line")}
                {area("Mounts", at("mounts"), form.mounts.clone(), "VOLUME=/path per line")}
            </div>
            <div class="row">
                {field("CPU request", at("cpu_request"), form.cpu_request.clone(), "text", "")}
                {field("Memory request", at("memory_request"), form.memory_request.clone(), "text", "")}
                {field("CPU limit", at("cpu_limit"), form.cpu_limit.clone(), "text", "")}
                {field("Memory limit", at("memory_limit"), form.memory_limit.clone(), "text", "")}
            </div>
            <details>
                <summary>"Command and arguments"</summary>
                <div class="row">
                    {area("Command", at("command"), form.command.clone(), "one word per line")}
                    {area("Arguments", at("args"), form.args.clone(), "one per line")}
                </div>
            </details>
            <button type="button" class="danger" on:click=move |_| containers.update(|rows| rows.retain(|r| r.id != id))>
                "Remove container"
            </button>
        </fieldset>
    }
}

#[component]
fn VolumeFields(
    id: u32,
    volume: VolumeForm,
    volumes: RwSignal<Vec<(u32, VolumeForm)>>,
) -> impl IntoView {
    let at = move |field: &str| format!("form[volumes][{id}][{field}]");
    view! {
        <div class="row volume-row" data-row=id>
            {field("Claim name", at("name"), volume.name.clone(), "text", "")}
            {field("Size", at("size"), volume.size.clone(), "text", "e.g. 1Gi")}
            {field("Storage class", at("storage_class"), volume.storage_class.clone(), "text", "default when empty")}
            <button type="button" class="danger" on:click=move |_| volumes.update(|rows| rows.retain(|(r, _)| *r != id))>"Remove"</button>
        </div>
    }
}

/// Latest run and its sub-tasks, and the Run form.
#[component]
fn StatusBox(status: WorkflowStatus) -> impl IntoView {
    let run = ServerAction::<StartRun>::new();
    let steps = status
        .steps
        .iter()
        .map(|(name, step_status)| view! { <li data-step=name.clone()>{name.clone()} " " {status_badge(step_status)}</li> })
        .collect_view();
    view! {
        <section class="card run-box" id="workflow-status">
            <div class="row">
                <strong>"Status "</strong>
                {match status.latest_run {
                    Some(r) => view! {
                        <a href=format!("/runs/{}", r.id)>{format!("#{} ({})", r.number, r.tag)}</a>
                        {status_badge(r.status)}
                    }
                    .into_any(),
                    None => view! { <span class="muted">"not run yet"</span> }.into_any(),
                }}
                <ul class="inline-list">{steps}</ul>
                <span class="muted">"engine " <code>{status.engine.clone()}</code></span>
            </div>
            {post_form(run, Some("run-form"), start_run_input(status.name.clone()), view! {
                <input type="hidden" name="pipeline" value=status.name.clone()/>
                <label for="tag">"Image tag"</label>
                <input id="tag" name="tag" placeholder="v1.0.0" autocomplete="off" list="recent-tags" aria-keyshortcuts="r" required/>
                <datalist id="recent-tags"></datalist>
                <button type="submit" class="primary" id="run-button">"Build and deploy"</button>
            })}
            {action_error(run)}
        </section>
    }
}
