#![recursion_limit = "256"]
//! The browser bundle: hydrates the server-rendered pages.
//!
//! Every page's code is a lazy-loaded WASM chunk (see `app::pages`), so hydration is
//! asynchronous: it waits for the chunks of the page at hand before it takes over the HTML.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Drives the reactive system; an error only means it is already initialised.
    let _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async {
        let body = leptos::tachys::dom::body();
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        // Lets people (and browser tests) see that the page is interactive now.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
