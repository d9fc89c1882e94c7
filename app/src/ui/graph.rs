//! The stage graph in a page: SVG text from the core with one delegated click and key
//! handler, so an editable graph costs little WASM.

use conveyor_core::graph::{parse_pick, svg_markup, GraphInput, Pick};
use leptos::prelude::*;

/// The graph as an `<svg>`, with clicks (and Enter or Space on a focused stage or step)
/// handed to `on_pick` along with whether shift was held.
///
/// The SVG is written as text by [`svg_markup`] and set as the container's inner HTML, with
/// one click and one key handler on the container that find the stage or step by its
/// `data-pick`. Built element by element, every node's attributes and handlers would be code
/// of their own in the WASM, and the graph is redrawn whole on every change anyway.
#[component]
pub fn StageGraph(
    input: GraphInput,
    /// Makes stages and steps pickable (the editor); the flag says whether shift was held.
    #[prop(optional)]
    on_pick: Option<Callback<(Pick, bool)>>,
    #[prop(default = None)] picked: Option<Pick>,
) -> impl IntoView {
    let markup = svg_markup(&input, on_pick.is_some(), picked);
    let pick = move |target: Option<leptos::web_sys::EventTarget>, shift: bool| -> bool {
        let Some(on_pick) = on_pick else { return false };
        let Some(pick) = target.as_ref().and_then(pick_at) else {
            return false;
        };
        on_pick.run((pick, shift));
        true
    };
    view! {
        <div
            class="graph"
            inner_html=markup
            on:click=move |ev| {
                if pick(ev.target(), ev.shift_key()) {
                    ev.stop_propagation();
                }
            }
            on:keydown=move |ev| {
                if matches!(ev.key().as_str(), "Enter" | " ") && pick(ev.target(), ev.shift_key()) {
                    ev.prevent_default();
                }
            }
        ></div>
    }
}

/// The stage or step an event happened in: the nearest element with a `data-pick`.
fn pick_at(target: &leptos::web_sys::EventTarget) -> Option<Pick> {
    use leptos::wasm_bindgen::JsCast;
    let element = target
        .dyn_ref::<leptos::web_sys::Element>()?
        .closest("[data-pick]")
        .ok()??;
    parse_pick(&element.get_attribute("data-pick")?)
}
