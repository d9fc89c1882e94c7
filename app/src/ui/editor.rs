//! The definition editor: the stage graph and the YAML text side by side, kept in step.
//!
//! Typing in the text asks the server to inspect it (problems with their lines and nodes,
//! the graph); a change in the graph or its side panel asks the server to make the matching
//! text edit. Only the answer to the latest request is kept. Before hydration the page is
//! a plain form: the text posts to the save server function.

use std::collections::BTreeSet;

use leptos::prelude::*;

use conveyor_core::editor::{EditorState, GraphEdit};
use conveyor_core::graph::Pick;

use crate::api::{edit_graph, CreatePipeline, UpdatePipeline};
use crate::ui::form::{action_error, error_text, post_form, Fields};
use crate::ui::graph::StageGraph;
use crate::ui::inspector::{adder, locate, needs_as_written, toggled, Inspector};

/// Where the editor's text goes when saved.
#[derive(Clone, Copy)]
pub enum Saver {
    /// A new version of the named pipeline.
    Update(StoredValue<String>, ServerAction<UpdatePipeline>),
    Create(ServerAction<CreatePipeline>),
}

#[component]
pub fn DefinitionEditor(initial: EditorState, saver: Saver) -> impl IntoView {
    let first_source = initial.source.clone();
    let source = RwSignal::new(initial.source.clone());
    let state = RwSignal::new(initial);
    let picked = RwSignal::new(None::<Pick>);
    let failure = RwSignal::new(None::<String>);
    let asked = StoredValue::new(0u64);
    let textarea = NodeRef::<leptos::html::Textarea>::new();
    let gutter = NodeRef::<leptos::html::Div>::new();

    let inspect = move |text: String| {
        asked.update_value(|n| *n += 1);
        let mine = asked.get_value();
        leptos::task::spawn_local(async move {
            if let Ok(answer) = edit_graph(text, None).await {
                if asked.get_value() == mine {
                    state.set(answer);
                }
            }
        });
    };
    let edit = Callback::new(move |op: GraphEdit| {
        asked.update_value(|n| *n += 1);
        let mine = asked.get_value();
        let text = source.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = edit_graph(text, Some(op)).await;
            if asked.get_value() != mine {
                return;
            }
            match answer {
                Ok(answer) => {
                    source.set(answer.source.clone());
                    failure.set(None);
                    state.set(answer);
                }
                Err(err) => failure.set(Some(error_text(&err))),
            }
        });
    });
    // Shift-click on a step while another is picked draws (or deletes) an edge to it.
    let on_pick = Callback::new(move |(target, shift): (Pick, bool)| {
        if let (true, Some(Pick::Step(from)), Pick::Step(to)) =
            (shift, picked.get_untracked(), target)
        {
            if from != to {
                let op = state.with_untracked(|st| {
                    let (graph, pipeline) = (st.graph.as_ref()?, st.pipeline.as_ref()?);
                    let (stage, step) = locate(graph, to)?;
                    let needs = toggled(
                        needs_as_written(graph, pipeline, to)?,
                        &graph.steps[from].name,
                    );
                    Some(GraphEdit::StepNeeds {
                        stage,
                        step,
                        needs: Some(needs),
                    })
                });
                if let Some(op) = op {
                    edit.run(op);
                }
                return;
            }
        }
        picked.set(Some(target));
    });

    let jump_to = move |line: usize| {
        let Some(area) = textarea.get() else { return };
        let (start, end) = source.with_untracked(|text| {
            let start: usize = text
                .split('\n')
                .take(line - 1)
                .map(|l| l.encode_utf16().count() + 1)
                .sum();
            let len = text
                .split('\n')
                .nth(line - 1)
                .map_or(0, |l| l.encode_utf16().count());
            (start, start + len)
        });
        let _ = area.focus();
        let _ = area.set_selection_range(start as u32, end as u32);
        let lines = source.with_untracked(|t| t.split('\n').count()).max(1) as i32;
        let line_height = area.scroll_height() / lines;
        area.set_scroll_top((line as i32 - 3).max(0) * line_height);
    };

    let yaml_area = move || {
        view! {
            <div class="yaml-editor">
                <div class="gutter" aria-hidden="true" node_ref=gutter>
                    {move || {
                        let bad: BTreeSet<usize> = state.with(|st| st.problems.iter().filter_map(|p| p.line).collect());
                        let lines = source.with(|s| s.split('\n').count()).max(1);
                        (1..=lines).map(|n| view! { <span class:bad=bad.contains(&n)>{n}</span> }).collect_view()
                    }}
                </div>
                <textarea
                    name="source"
                    id="source"
                    class="code"
                    rows="28"
                    wrap="off"
                    spellcheck="false"
                    aria-label="Pipeline definition (YAML or JSON)"
                    node_ref=textarea
                    prop:value=move || source.get()
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        source.set(text.clone());
                        inspect(text);
                    }
                    on:scroll=move |_| {
                        if let (Some(area), Some(gutter)) = (textarea.get(), gutter.get()) {
                            gutter.set_scroll_top(area.scroll_top());
                        }
                    }
                >
                    {first_source.clone()}
                </textarea>
            </div>
            <ul class="problems" id="problems" aria-live="polite">
                {move || {
                    state
                        .read()
                        .problems
                        .iter()
                        .map(|p| {
                            let line = p.line;
                            view! {
                                <li data-line=line>
                                    <button type="button" class="link" on:click=move |_| if let Some(line) = line { jump_to(line) }>
                                        {p.describe()}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            {move || state.with(|st| st.note.clone()).map(|note| view! { <p class="hint" id="editor-note">{note}</p> })}
            {move || failure.get().map(|text| view! { <p class="error" id="edit-error">{text}</p> })}
        }
    };
    // The text area is what the form posts, so saving works before hydration too.
    let save_form = match saver {
        Saver::Update(name, action) => {
            let input = |f: &Fields| UpdatePipeline {
                name: f.get("name"),
                source: f.get("source"),
            };
            view! {
                {post_form(action, Some("save-form"), input, view! {
                    <input type="hidden" name="name" value=name.get_value()/>
                    {yaml_area()}
                    <button type="submit" id="save">"Save new version"</button>
                })}
                {action_error(action)}
            }
            .into_any()
        }
        Saver::Create(action) => {
            let input = |f: &Fields| CreatePipeline {
                source: f.get("source"),
            };
            view! {
                {post_form(action, Some("save-form"), input, view! {
                    {yaml_area()}
                    <button type="submit" class="primary" id="save">"Create pipeline"</button>
                })}
                {action_error(action)}
            }
            .into_any()
        }
    };

    view! {
        <div class="split editor">
            <section class="card">
                <h2>"Stage graph"</h2>
                <div class="toolbar">
                    {adder("new-stage", "new stage name", "add-stage", "Add stage", Callback::new(move |name| edit.run(GraphEdit::AddStage { name })))}
                    <span class="muted">"Click to edit; shift-click a step to draw or delete an edge from the picked one."</span>
                </div>
                {move || match state.with(|st| st.graph.clone()) {
                    Some(input) => view! { <StageGraph input on_pick picked=picked.get()/> }.into_any(),
                    None => view! { <p class="muted" id="graph-waiting">"The graph comes back once the YAML parses."</p> }.into_any(),
                }}
                <Inspector state picked edit/>
            </section>
            <section class="card">
                <h2>"YAML"</h2>
                {save_form}
            </section>
        </div>
    }
}
