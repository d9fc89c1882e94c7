//! A pipeline: its heading, the run form and the definition editor (or, for a workflow,
//! its stage graph).

use conveyor_core::dto::DeliverySummary;
use conveyor_core::editor::EditorState;
use conveyor_core::run::{is_valid_tag, TAG_RULE};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::dto::{EditorPage, PipelineHead};
use crate::api::{pipeline_editor, StartRun, UpdatePipeline};
use crate::ui::danger::DangerZone;
use crate::ui::editor::{DefinitionEditor, Saver};
use crate::ui::form::{action_error, error_text, post_form, start_run_input};
use crate::ui::graph::StageGraph;
use crate::ui::status::status_badge;
use crate::ui::time::Time;

#[component]
pub fn PipelinePage() -> impl IntoView {
    let params = use_params_map();
    let page = Resource::new(move || params.read().get("name"), pipeline_editor);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(EditorPage { head: Some(head), state }) => view! { <PipelineEditor head state/> }.into_any(),
                    Ok(EditorPage { head: None, .. }) => view! { <p class="error">"No such pipeline."</p> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PipelineEditor(head: PipelineHead, state: EditorState) -> impl IntoView {
    let name = head.name.clone();
    let save = ServerAction::<UpdatePipeline>::new();
    let run = ServerAction::<StartRun>::new();
    let tag = RwSignal::new(String::new());
    let tag_hint = move || {
        let tag = tag.read();
        (!tag.is_empty() && !is_valid_tag(&tag)).then(|| view! { <p class="hint">{TAG_RULE}</p> })
    };
    let version = move || {
        save.value()
            .get()
            .and_then(|r| r.ok())
            .unwrap_or(head.version)
    };
    let title = format!("{name} · Conveyor");
    let history_href = format!("/pipelines/{name}/history");
    let run_pipeline = name.clone();
    view! {
        <Title text=title/>
        <div class="page-head">
            <h1>{name.clone()}</h1>
            <span class="muted">"version " {version}</span>
            <span class="muted" id="pipeline-engine" title="where runs of this pipeline go (set `engine:` to choose)">
                "engine " <code>{head.engine.clone()}</code>
            </span>
            <a href=history_href>"History"</a>
            <a href=format!("/pipelines/{name}/versions")>"Versions"</a>
            {(!head.next_runs.is_empty()).then(|| view! {
                <span class="muted" id="next-runs" title="when its schedules start runs">
                    "next: "
                    {head.next_runs.iter().map(|&ms| view! { <Time ms/> " " }).collect_view()}
                </span>
            })}
            {head.latest_run.map(|r| view! {
                <span class="muted">"latest: "</span>
                <a href=format!("/runs/{}", r.id)>{format!("#{}", r.number)}</a>
                {status_badge(r.status)}
            })}
        </div>
        <section class="card run-box">
            {post_form(run, Some("run-form"), start_run_input(run_pipeline.clone()), view! {
                <input type="hidden" name="pipeline" value=run_pipeline/>
                <label for="tag">"Image tag"</label>
                <input
                    id="tag"
                    name="tag"
                    placeholder="v1.0.0"
                    autocomplete="off"
                    list="recent-tags"
                    aria-keyshortcuts="r"
                    required
                    on:input=move |ev| tag.set(event_target_value(&ev))
                />
                <datalist id="recent-tags"></datalist>
                <button type="submit" class="primary" id="run-button">"Run"</button>
                <span class="muted">"press " <kbd>"r"</kbd> " to jump here"</span>
                <details class="params">
                    <summary>"Params"</summary>
                    <label for="params" class="muted">"One NAME=value per line; they override the pipeline's "<code>"with"</code>"."</label>
                    <textarea id="params" name="params" class="code" rows="3" spellcheck="false" placeholder="ENV=staging"></textarea>
                </details>
            })}
            {tag_hint}
            {action_error(run)}
        </section>
        {(head.builds_code || !head.deliveries.is_empty()).then(|| view! { <Deliveries deliveries=head.deliveries/> })}
        {let is_workflow = head.workflow_graph.is_some();
        let danger = view! { <DangerZone name=name.clone() workflow=is_workflow/> };
        let body = match head.workflow_graph {
            Some(input) => view! {
                <section class="card" id="workflow-note">
                    <p>
                        "This pipeline is a workflow: its stages come from its "
                        <a href=format!("/workflows/{name}") id="deployment-settings">"deployment settings"</a>
                        "; what each deploy put on the cluster is under its "
                        <a href=format!("/workflows/{name}/releases") id="releases-link">"releases"</a> "."
                    </p>
                    <StageGraph input/>
                </section>
            }
            .into_any(),
            None => view! { <DefinitionEditor initial=state saver=Saver::Update(StoredValue::new(name.clone()), save)/> }.into_any(),
        };
        view! { {body} {danger} }}
    }
}

/// "Why didn't my push build?": the forge's latest deliveries, each with the run it started
/// or why none.
#[component]
fn Deliveries(deliveries: Vec<DeliverySummary>) -> impl IntoView {
    let empty = deliveries.is_empty();
    view! {
        <section class="card" id="deliveries">
            <h2>"Forge deliveries"</h2>
            <p class="muted">
                "The forge's webhook posts to " <code>"/api/v1/hooks/github"</code> " (or "
                <code>"gitea"</code> ", " <code>"gitlab"</code> "), signed with the repository's "
                <code>"webhook_secret"</code> "."
            </p>
            {empty.then(|| view! { <p class="empty">"None yet."</p> })}
            <table class="table">
                <tbody>
                    {deliveries
                        .into_iter()
                        .map(|d| {
                            let sha: String = d.commit_sha.clone().unwrap_or_default().chars().take(8).collect();
                            let outcome = match (d.run_id, d.run_number) {
                                (Some(id), Some(number)) => view! { <a href=format!("/runs/{id}")>{format!("run #{number}")}</a> }.into_any(),
                                _ => view! { <span class="muted">{d.reason.clone().unwrap_or_default()}</span> }.into_any(),
                            };
                            view! {
                                <tr data-delivery=d.delivery.clone()>
                                    <td><Time ms=d.received_at/></td>
                                    <td>{format!("{} {}", d.forge, d.event)}</td>
                                    <td><code>{d.git_ref.clone().unwrap_or_default()}</code> " " <code>{sha}</code></td>
                                    <td>{outcome}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}
