//! A new pipeline: the editor on a template; saving creates it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{pipeline_editor, CreatePipeline};
use crate::ui::editor::{DefinitionEditor, Saver};
use crate::ui::form::error_text;

#[component]
pub fn NewPipelinePage() -> impl IntoView {
    let page = Resource::new(|| (), |_| pipeline_editor(None));
    let create = ServerAction::<CreatePipeline>::new();
    view! {
        <Title text="New pipeline · Conveyor"/>
        <div class="page-head">
            <h1>"New pipeline"</h1>
            <span class="muted">"Build it in the graph, or write or paste YAML, JSON, a KubeCI Workflow or a taskflow Task."</span>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <DefinitionEditor initial=page.state saver=Saver::Create(create)/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
