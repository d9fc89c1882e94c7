//! Workflows (seed 000): the list, and each workflow's releases — what each deploy put on
//! the cluster, by digest, how its rollout ended — with "Roll back to this".

use conveyor_core::dto::WorkflowSummary;
use conveyor_core::format::short_image;
use conveyor_core::workflow::{Release, RolloutOutcome};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::manage::{list_releases, list_workflows, RollBack};
use crate::ui::form::{action_error, error_text, post_form, Fields};
use crate::ui::status::status_badge;
use crate::ui::time::Time;

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| list_workflows());
    view! {
        <Title text="Workflows · Conveyor"/>
        <div class="page-head">
            <h1>"Workflows"</h1>
            <a href="/new/workflow" class="button">"New workflow"</a>
        </div>
        <p class="muted">"A git repository with a Dockerfile, built into an image, pushed, and deployed to Kubernetes."</p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(workflows) if workflows.is_empty() => view! { <p class="empty">"No workflows yet: make one with New workflow."</p> }.into_any(),
                    Ok(workflows) => view! { <WorkflowTable workflows/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn WorkflowTable(workflows: Vec<WorkflowSummary>) -> impl IntoView {
    view! {
        <table class="table" id="workflows">
            <thead>
                <tr><th>"Workflow"</th><th>"Image"</th><th>"Deploys"</th><th>"Latest run"</th><th>"Tag"</th><th></th></tr>
            </thead>
            <tbody>
                {workflows
                    .into_iter()
                    .map(|w| {
                        let name = w.name.clone();
                        let latest = w.latest_run.clone();
                        view! {
                            <tr data-workflow=name.clone()>
                                <td><a href=format!("/pipelines/{name}")>{name.clone()}</a></td>
                                <td><code>{w.image.clone()}</code></td>
                                <td>{if w.auto_deploy { "after each build" } else { "no" }}</td>
                                <td>
                                    {match latest.clone() {
                                        Some(run) => view! { <a href=format!("/runs/{}", run.id)>{format!("#{} ", run.number)}{status_badge(run.status)}</a> }.into_any(),
                                        None => view! { <span class="muted">"never run"</span> }.into_any(),
                                    }}
                                </td>
                                <td>{latest.map(|r| r.tag).unwrap_or_default()}</td>
                                <td class="links">
                                    <a href=format!("/workflows/{name}/releases")>"Releases"</a>
                                    " · "
                                    <a href=format!("/workflows/{name}")>"Settings"</a>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn ReleasesPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    };
    let releases = Resource::new(
        move || (name(), before()),
        |(name, before)| list_releases(name, before),
    );
    let roll_back = ServerAction::<RollBack>::new();
    view! {
        <Title text=move || format!("Releases of {} · Conveyor", name())/>
        <div class="page-head">
            <h1>"Releases of " {name}</h1>
            <a href=move || format!("/pipelines/{}", name())>"Runs"</a>
            <a href=move || format!("/workflows/{}", name())>"Settings"</a>
        </div>
        <p class="muted">
            "Each deploy, newest first: the image by digest, the run, who started it and how the rollout ended. "
            "Rolling back deploys that exact image again without building."
        </p>
        {action_error(roll_back)}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match releases.await {
                    Ok(page) if page.releases.is_empty() => view! { <p class="empty">"Nothing deployed yet: a run with autoDeploy makes the first release."</p> }.into_any(),
                    Ok(page) => {
                        let older = page.next_before.map(|b| view! { <a class="next" href=format!("?before={b}")>"Older releases →"</a> });
                        view! { <ReleaseTable releases=page.releases action=roll_back/> {older} }.into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ReleaseTable(releases: Vec<Release>, action: ServerAction<RollBack>) -> impl IntoView {
    view! {
        <table class="table" id="releases">
            <thead>
                <tr><th>"Release"</th><th>"Tag"</th><th>"Image"</th><th>"Run"</th><th>"By"</th><th>"When"</th><th>"Rollout"</th><th></th></tr>
            </thead>
            <tbody>
                {releases.into_iter().map(|release| release_row(release, action)).collect_view()}
            </tbody>
        </table>
    }
}

fn release_row(release: Release, action: ServerAction<RollBack>) -> impl IntoView {
    let can = release.can_roll_back_to();
    let (id, workflow) = (release.id, release.workflow.clone());
    let how = match release.rollback_of {
        Some(of) => format!("rollback to #{of}"),
        None => release.trigger.as_str().to_owned(),
    };
    let outcome = match release.outcome {
        RolloutOutcome::RolledOut => view! { <span class="badge succeeded">"rolled out"</span> }.into_any(),
        RolloutOutcome::Failed => view! { <span class="badge failed" title=release.reason.clone().unwrap_or_default()>"failed"</span> }.into_any(),
    };
    let run = match release.run_id {
        Some(run) => {
            view! { <a href=format!("/runs/{run}")>{format!("#{}", release.run_number)}</a> }
                .into_any()
        }
        None => view! { <span class="muted">{format!("#{} (deleted)", release.run_number)}</span> }
            .into_any(),
    };
    view! {
        <tr data-release=id data-live=release.live.to_string()>
            <td>
                {format!("#{id}")}
                {release.live.then(|| view! { <span class="badge live" title="What runs now">"live"</span> })}
                <div class="muted">{how}</div>
            </td>
            <td>{release.tag.clone()}</td>
            <td><code class="digest" title=release.image.clone()>{short_image(&release.image)}</code></td>
            <td>{run}</td>
            <td>{release.started_by.clone().unwrap_or_else(|| "—".into())}</td>
            <td><Time ms=release.created_at/></td>
            <td>
                {outcome}
                {release.reason.clone().map(|reason| view! { <div class="muted reason">{reason}</div> })}
            </td>
            <td>
                {can.then(|| {
                    let workflow = workflow.clone();
                    post_form(
                        action,
                        None,
                        move |_: &Fields| RollBack { name: workflow.clone(), release: id },
                        view! {
                            <input type="hidden" name="name" value=release.workflow.clone()/>
                            <input type="hidden" name="release" value=id/>
                            <button type="submit" class="roll-back">"Roll back to this"</button>
                        },
                    )
                })}
            </td>
        </tr>
    }
}
