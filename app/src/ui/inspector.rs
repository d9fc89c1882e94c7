//! The definition editor's side panel: the picked stage's or step's fields, its needs as
//! checkboxes, and the helpers that read a pick back into the document.

use leptos::prelude::*;

use conveyor_core::definition::Pipeline;
use conveyor_core::editor::{webhook_lines, EditorState, GraphEdit, StepField};
use conveyor_core::graph::{GraphInput, Pick};
use conveyor_core::params::param_lines;

/// Step `index` of the graph as (stage, position in stage).
pub(super) fn locate(graph: &GraphInput, index: usize) -> Option<(usize, usize)> {
    let stage = graph.steps.get(index)?.stage;
    Some((
        stage,
        graph
            .stages
            .get(stage)?
            .steps
            .iter()
            .position(|&s| s == index)?,
    ))
}

/// A step's `needs` as written, or (when it has none) the steps it waits for in its stage.
pub(super) fn needs_as_written(
    graph: &GraphInput,
    pipeline: &Pipeline,
    index: usize,
) -> Option<Vec<String>> {
    let (si, ti) = locate(graph, index)?;
    let step = pipeline.stages.get(si)?.steps.get(ti)?;
    Some(step.needs.clone().unwrap_or_else(|| {
        graph.steps[index]
            .needs
            .iter()
            .filter(|&&n| graph.steps[n].stage == si)
            .map(|&n| graph.steps[n].name.clone())
            .collect()
    }))
}

/// A stage's `needs` as written, or the previous stage when it has none.
pub(super) fn stage_needs_as_written(pipeline: &Pipeline, stage: usize) -> Vec<String> {
    match &pipeline.stages[stage].needs {
        Some(needs) => needs.clone(),
        None => stage
            .checked_sub(1)
            .map(|p| pipeline.stages[p].name.clone())
            .into_iter()
            .collect(),
    }
}

pub(super) fn toggled(mut names: Vec<String>, name: &str) -> Vec<String> {
    match names.iter().position(|n| n == name) {
        Some(at) => {
            names.remove(at);
        }
        None => names.push(name.to_owned()),
    }
    names
}

/// The dependencies of a stage or step as checkboxes: ticking one writes `needs` out in
/// full; "back to the default order" removes it.
struct NeedsChoice {
    legend: &'static str,
    default: &'static str,
    options: Vec<String>,
    /// `needs` as written, or what the default order amounts to.
    written: Vec<String>,
    explicit: bool,
    set: Callback<Option<Vec<String>>>,
}

impl NeedsChoice {
    fn view(self) -> impl IntoView {
        let NeedsChoice {
            legend,
            default,
            options,
            written,
            explicit,
            set,
        } = self;
        let boxes = options
            .into_iter()
            .map(|name| {
                let checked = written.contains(&name);
                let needs = written.clone();
                let label = name.clone();
                view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            data-need=name.clone()
                            prop:checked=checked
                            on:change=move |_| set.run(Some(toggled(needs.clone(), &name)))
                        />
                        {label}
                    </label>
                }
            })
            .collect_view();
        view! {
            <fieldset>
                <legend>{legend} {(!explicit).then_some(default)}</legend>
                {boxes}
                {explicit.then(|| view! {
                    <button type="button" class="link" on:click=move |_| set.run(None)>"back to the default order"</button>
                })}
            </fieldset>
        }
    }
}

/// A name field and the button that adds what it names (then clears it).
pub(super) fn adder(
    id: &'static str,
    placeholder: &'static str,
    button: &'static str,
    label: &'static str,
    add: Callback<String>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    view! {
        <input id=id placeholder=placeholder aria-label=placeholder prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
        <button
            type="button"
            id=button
            on:click=move |_| {
                add.run(name.get_untracked());
                name.set(String::new());
            }
        >
            {label}
        </button>
    }
}

/// The side panel: the picked stage's or step's settings.
#[component]
pub(super) fn Inspector(
    state: RwSignal<EditorState>,
    picked: RwSignal<Option<Pick>>,
    edit: Callback<GraphEdit>,
) -> impl IntoView {
    move || {
        let st = state.read();
        let (Some(graph), Some(pipeline)) = (st.graph.as_ref(), st.pipeline.as_ref()) else {
            return view! { <div class="inspector" id="inspector"></div> }.into_any();
        };
        match picked.get() {
            Some(Pick::Stage(si)) if si < pipeline.stages.len() => {
                stage_panel(graph, pipeline, si, edit).into_any()
            }
            Some(Pick::Step(index)) if locate(graph, index).is_some_and(|(si, ti)| {
                pipeline.stages.get(si).is_some_and(|s| ti < s.steps.len())
            }) => step_panel(graph, pipeline, index, edit).into_any(),
            _ => view! {
                <div class="inspector muted" id="inspector">"Pick a stage or a step to edit it."</div>
            }
            .into_any(),
        }
    }
}

fn stage_panel(
    graph: &GraphInput,
    pipeline: &Pipeline,
    si: usize,
    edit: Callback<GraphEdit>,
) -> impl IntoView {
    let stage = &pipeline.stages[si];
    let others = pipeline
        .stages
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != si)
        .map(|(_, o)| o.name.clone())
        .collect();
    let needs = NeedsChoice {
        legend: "Runs after ",
        default: "(default: the previous stage)",
        options: others,
        written: stage_needs_as_written(pipeline, si),
        explicit: stage.needs.is_some(),
        set: Callback::new(move |needs| edit.run(GraphEdit::StageNeeds { stage: si, needs })),
    };
    view! {
        <div class="inspector" id="inspector" data-kind="stage">
            <h3>"Stage " <code>{stage.name.clone()}</code></h3>
            {graph.stages[si].problem.clone().map(|p| view! { <p class="error">{p}</p> })}
            <label>
                "Name"
                <input
                    id="stage-name"
                    prop:value=stage.name.clone()
                    on:change=move |ev| edit.run(GraphEdit::RenameStage { stage: si, name: event_target_value(&ev) })
                />
            </label>
            {needs.view()}
            <div class="row">
                {adder("new-step", "new step name", "add-step", "Add step", Callback::new(move |name| edit.run(GraphEdit::AddStep { stage: si, name })))}
            </div>
            <button type="button" class="danger" id="remove-stage" on:click=move |_| edit.run(GraphEdit::RemoveStage { stage: si })>
                "Remove stage"
            </button>
        </div>
    }
}

fn step_panel(
    graph: &GraphInput,
    pipeline: &Pipeline,
    index: usize,
    edit: Callback<GraphEdit>,
) -> impl IntoView {
    let Some((si, ti)) = locate(graph, index) else {
        unreachable!("checked by the caller")
    };
    let step = &pipeline.stages[si].steps[ti];
    let field = move |label: &'static str,
                      id: &'static str,
                      field: StepField,
                      value: String,
                      rows: usize| {
        let change = move |ev: leptos::ev::Event| {
            edit.run(GraphEdit::Field {
                stage: si,
                step: ti,
                field,
                text: event_target_value(&ev),
            })
        };
        if rows > 1 {
            view! {
                <label>
                    {label}
                    <textarea id=id class="code" rows=rows spellcheck="false" prop:value=value on:change=change></textarea>
                </label>
            }
            .into_any()
        } else {
            view! { <label>{label} <input id=id prop:value=value on:change=change/></label> }
                .into_any()
        }
    };
    let flag = move |label: &'static str, id: &'static str, field: StepField, on: bool| {
        view! {
            <label class="check">
                <input
                    type="checkbox"
                    id=id
                    prop:checked=on
                    on:change=move |ev| edit.run(GraphEdit::Field {
                        stage: si,
                        step: ti,
                        field,
                        text: event_target_checked(&ev).to_string(),
                    })
                />
                {label}
            </label>
        }
    };
    let others = graph
        .steps
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != index)
        .map(|(_, o)| o.name.clone())
        .collect();
    let needs = NeedsChoice {
        legend: "Waits for ",
        default: "(default: its place in the stage)",
        options: others,
        written: needs_as_written(graph, pipeline, index).unwrap_or_default(),
        explicit: step.needs.is_some(),
        set: Callback::new(move |needs| {
            edit.run(GraphEdit::StepNeeds {
                stage: si,
                step: ti,
                needs,
            })
        }),
    };
    view! {
        <div class="inspector" id="inspector" data-kind="step">
            <h3>"Step " <code>{step.name.clone()}</code> <span class="muted">" in " {pipeline.stages[si].name.clone()}</span></h3>
            {graph.steps[index].problem.clone().map(|p| view! { <p class="error" id="step-problem">{p}</p> })}
            <label>
                "Name"
                <input
                    id="step-name"
                    prop:value=step.name.clone()
                    on:change=move |ev| edit.run(GraphEdit::RenameStep { stage: si, step: ti, name: event_target_value(&ev) })
                />
            </label>
            {field("Image", "step-image", StepField::Image, step.image.clone().unwrap_or_default(), 1)}
            {field("Script", "step-script", StepField::Script, step.script.clone().unwrap_or_default(), 4)}
            {field("Timeout (30s, 5m, 1h30m)", "step-timeout", StepField::Timeout, step.timeout.clone().unwrap_or_default(), 1)}
            <div class="row">
                {flag("Parallel with its neighbours", "step-parallel", StepField::Parallel, step.parallel)}
                {flag("Needs approval", "step-approval", StepField::Approval, step.approval)}
            </div>
            {needs.view()}
            {field("Params (NAME=value per line)", "step-with", StepField::With, param_lines(&step.with), 2)}
            {field("Environment (NAME=value per line)", "step-env", StepField::Env, param_lines(&step.env), 2)}
            {field("Webhooks (URL EVENT,EVENT per line)", "step-webhooks", StepField::Webhooks, webhook_lines(&step.webhooks), 2)}
            <button type="button" class="danger" id="remove-step" on:click=move |_| edit.run(GraphEdit::RemoveStep { stage: si, step: ti })>
                "Remove step"
            </button>
        </div>
    }
}
